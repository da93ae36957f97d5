package files

import (
	"bufio"
	"bytes"
	"image"
	"image/color/palette"
	"image/gif"
	"testing"
)

func gifOf(t testing.TB, frames int) []byte {
	t.Helper()
	anim := &gif.GIF{}
	for range frames {
		anim.Image = append(anim.Image, image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9))
		anim.Delay = append(anim.Delay, 5)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGIFFrames(t *testing.T) {
	for _, n := range []int{1, 2, 7} {
		got, err := gifFrames(bufio.NewReader(bytes.NewReader(gifOf(t, n))))
		if err != nil || got != n {
			t.Errorf("%d frames: counted %d, %v", n, got, err)
		}
	}
	whole := gifOf(t, 3)
	for _, bad := range [][]byte{nil, []byte("GIF89a"), []byte("PNG89a\x01\x00\x01\x00\x00\x00\x00\x3b"), whole[:len(whole)-1]} {
		if n, err := gifFrames(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%q: counted %d frames, no error", bad, n)
		}
	}
}

// FuzzGIFFrames: any bytes are counted or refused, never a panic, and a
// frame takes at least 11 bytes.
func FuzzGIFFrames(f *testing.F) {
	f.Add(gifOf(f, 2))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := gifFrames(bufio.NewReader(bytes.NewReader(data)))
		if err == nil && n*11 > len(data) {
			t.Fatalf("%d frames in %d bytes", n, len(data))
		}
	})
}
