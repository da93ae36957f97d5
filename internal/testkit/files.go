package testkit

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/textproto"
	"testing"
)

// Upload sends data as the part "file" of a multipart/form-data body, named
// name and claimed to be of contentType (which the server must not trust).
func (s *Server) Upload(t testing.TB, token, roomID, name, contentType string, data []byte) Response {
	t.Helper()
	body, ctype := MultipartFile(t, name, contentType, data)
	return s.DoWith(t, "POST", "/api/v1/rooms/"+roomID+"/uploads", token, body, map[string]string{"Content-Type": ctype})
}

// MultipartFile is a multipart/form-data body holding data as the part
// "file", and the body's content type.
func MultipartFile(t testing.TB, name, contentType string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// testImage is a w×h picture: a colour gradient with a dark top-left
// quarter, so that a rotation can be told from the result.
func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255}
			if x < w/2 && y < h/2 {
				c = color.RGBA{10, 10, 10, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// PNG is a w×h PNG picture.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ExifMark opens an EXIF block (in a JPEG's APP1 segment): a file without
// it carries no EXIF, so neither the place nor the camera of a photo.
const ExifMark = "Exif\x00\x00"

// PhoneJPEG is a w×h JPEG as a phone camera writes it: with an EXIF block
// that holds the place it was taken (GPS latitude 48° N) and orientation 6
// (the picture is to be turned 90° clockwise to be upright, so it shows as
// h×w).
func PhoneJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	app1 := exifBlock()
	out := append([]byte{}, plain[:2]...) // SOI
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	return append(out, plain[2:]...)
}

// exifBlock is an APP1 EXIF payload (big-endian TIFF): IFD0 with
// Orientation 6 and a pointer to a GPS IFD with GPSLatitudeRef "N" and
// GPSLatitude 48/1 0/1 0/1.
func exifBlock() []byte {
	be := binary.BigEndian
	var b []byte
	entry := func(tag, typ uint16, count, value uint32) {
		b = be.AppendUint16(b, tag)
		b = be.AppendUint16(b, typ)
		b = be.AppendUint32(b, count)
		b = be.AppendUint32(b, value)
	}
	b = append(b, 'M', 'M', 0, 42)
	b = be.AppendUint32(b, 8) // IFD0 at 8
	// IFD0: 2 entries (8 + 2 + 24 + 4 = 38): the GPS IFD follows at 38.
	b = be.AppendUint16(b, 2)
	entry(0x0112, 3, 1, 6<<16) // Orientation = 6, a SHORT left-justified
	entry(0x8825, 4, 1, 38)    // GPSInfo IFD pointer
	b = be.AppendUint32(b, 0)
	// GPS IFD: 2 entries (38 + 2 + 24 + 4 = 68): the rationals follow at 68.
	b = be.AppendUint16(b, 2)
	entry(0x0001, 2, 2, be.Uint32([]byte("N\x00\x00\x00"))) // GPSLatitudeRef "N"
	entry(0x0002, 5, 3, 68)                                 // GPSLatitude
	b = be.AppendUint32(b, 0)
	for _, r := range [][2]uint32{{48, 1}, {0, 1}, {0, 1}} {
		b = be.AppendUint32(b, r[0])
		b = be.AppendUint32(b, r[1])
	}
	return append([]byte(ExifMark), b...)
}

// PNGHeader is the start of a PNG that claims to be w×h pixels: its
// signature and IHDR chunk, then a truncated data chunk.
func PNGHeader(w, h uint32) []byte {
	be := binary.BigEndian
	ihdr := be.AppendUint32([]byte("IHDR"), w)
	ihdr = be.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = be.AppendUint32(out, 13)
	out = append(out, ihdr...)
	out = be.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
	return append(out, 0, 0, 0, 16, 'I', 'D', 'A', 'T', 0x78, 0x9c)
}

// GIFComment is in the comment block of AnimatedGIF.
const GIFComment = "made at 48.8584 N, 2.2945 E"

// AnimatedGIF is a w×h GIF of frames frames, looping, with a comment block
// holding GIFComment after its header (as some editors write them).
func AnimatedGIF(t testing.TB, w, h, frames int) []byte {
	t.Helper()
	anim := &gif.GIF{LoopCount: 0}
	for i := range frames {
		img := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for y := range h {
			for x := range w {
				img.SetColorIndex(x, y, uint8((x+y+i*40)%256))
			}
		}
		anim.Image = append(anim.Image, img)
		anim.Delay = append(anim.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	// Header (6), logical screen (7), global colour table (3 × 2^(n+1)).
	at := 13
	if raw[10]&0x80 != 0 {
		at += 3 << ((raw[10] & 7) + 1)
	}
	comment := append([]byte{0x21, 0xFE, byte(len(GIFComment))}, GIFComment...)
	comment = append(comment, 0)
	return append(append(append([]byte{}, raw[:at]...), comment...), raw[at:]...)
}
