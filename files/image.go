package files

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	_ "image/jpeg" // decoders for image.DecodeConfig and imaging.Decode
	_ "image/png"
	"io"
	"os"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp"

	"parley/internal/fault"
)

// Sizes of what an image upload becomes.
const (
	// maxSide bounds the longer side of a stored image: a phone's 48 MP photo
	// is sent as a chat product sends it, not at full size.
	maxSide = 4096
	// ThumbSide bounds each side of a thumbnail.
	ThumbSide   = 320
	jpegQuality = 85
)

// imageTypes are the image formats Parley decodes, re-encodes and shows
// inline, by sniffed content type.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// processed is an image re-encoded from its pixels only: no EXIF (and so no
// location), no comments, no embedded profiles or scripts survive.
type processed struct {
	data, thumb      []byte
	contentType, ext string
	width, height    int
}

// reencode decodes the image in f (already sniffed as contentType), turned
// upright by its EXIF orientation, and encodes it afresh with a thumbnail.
// Its dimensions are read from the header first, and an image of more than
// maxPixels is refused before any pixel is decoded (a decompression bomb:
// a few kilobytes that would unpack into gigabytes).
func reencode(f *os.File, contentType string, maxPixels int64) (*processed, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fault.Field("file", "the image could not be read")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, fault.Field("file", fmt.Sprintf("the image is %d×%d pixels; at most %d pixels are accepted", cfg.Width, cfg.Height, maxPixels))
	}
	if contentType == "image/gif" {
		if out, err := reencodeAnimation(f, cfg, maxPixels); out != nil || err != nil {
			return out, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, err := imaging.Decode(f, imaging.AutoOrientation(true))
	if err != nil {
		return nil, fault.Field("file", "the image could not be read")
	}
	b := img.Bounds()
	if b.Dx() > maxSide || b.Dy() > maxSide {
		img = imaging.Fit(img, maxSide, maxSide, imaging.Lanczos)
	}
	// JPEG stays JPEG; a still GIF and a WebP become PNG, or JPEG for an
	// opaque WebP photo (Go encodes no WebP, and PNG keeps a GIF's pixels).
	format, outType, ext := imaging.PNG, "image/png", ".png"
	if contentType == "image/jpeg" || (contentType == "image/webp" && opaque(img)) {
		format, outType, ext = imaging.JPEG, "image/jpeg", ".jpg"
	}
	out := &processed{contentType: outType, ext: ext, width: img.Bounds().Dx(), height: img.Bounds().Dy()}
	if out.data, err = encode(img, format); err != nil {
		return nil, err
	}
	thumb := imaging.Fit(img, ThumbSide, ThumbSide, imaging.Lanczos)
	if out.thumb, err = encode(thumb, format); err != nil {
		return nil, err
	}
	return out, nil
}

func encode(img image.Image, format imaging.Format) ([]byte, error) {
	var buf bytes.Buffer
	if err := imaging.Encode(&buf, img, format, imaging.JPEGQuality(jpegQuality)); err != nil {
		return nil, fmt.Errorf("encode image: %w", err)
	}
	return buf.Bytes(), nil
}

// opaque reports whether img has no transparent pixel.
func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	rgba := image.NewNRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	return rgba.Opaque()
}

// reencodeAnimation re-encodes an animated GIF frame by frame, keeping its
// timing and loop count and nothing else (comments and application blocks,
// such as XMP, are dropped). Its frames are counted from its block structure
// first, without decoding: all of them together may hold at most maxPixels.
// A GIF of one frame (or of too many) is left to the still-image path (nil).
func reencodeAnimation(f *os.File, cfg image.Config, maxPixels int64) (*processed, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	frames, err := gifFrames(bufio.NewReader(f))
	if err != nil {
		return nil, fault.Field("file", "the image could not be read")
	}
	if frames < 2 || int64(frames)*int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	anim, err := gif.DecodeAll(f)
	if err != nil || len(anim.Image) == 0 {
		return nil, fault.Field("file", "the image could not be read")
	}
	var data bytes.Buffer
	if err := gif.EncodeAll(&data, &gif.GIF{Image: anim.Image, Delay: anim.Delay, LoopCount: anim.LoopCount, Disposal: anim.Disposal,
		Config: anim.Config, BackgroundIndex: anim.BackgroundIndex}); err != nil {
		return nil, fmt.Errorf("encode animation: %w", err)
	}
	thumb, err := encode(imaging.Fit(anim.Image[0], ThumbSide, ThumbSide, imaging.Lanczos), imaging.GIF)
	if err != nil {
		return nil, err
	}
	return &processed{data: data.Bytes(), thumb: thumb, contentType: "image/gif", ext: ".gif", width: cfg.Width, height: cfg.Height}, nil
}

// gifFrames counts the images of a GIF by walking its blocks (header,
// colour tables, extensions, image descriptors), skipping their data.
func gifFrames(r *bufio.Reader) (int, error) {
	head := make([]byte, 13)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, err
	}
	if string(head[:3]) != "GIF" {
		return 0, errors.New("not a GIF")
	}
	if err := skipColorTable(r, head[10]); err != nil {
		return 0, err
	}
	frames := 0
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0x21: // extension: a label, then data sub-blocks
			if _, err := r.ReadByte(); err != nil {
				return 0, err
			}
		case 0x2C: // image: a descriptor, a local colour table, the LZW code size, then data sub-blocks
			desc := make([]byte, 9)
			if _, err := io.ReadFull(r, desc); err != nil {
				return 0, err
			}
			if err := skipColorTable(r, desc[8]); err != nil {
				return 0, err
			}
			if _, err := r.ReadByte(); err != nil {
				return 0, err
			}
			frames++
		case 0x3B: // trailer
			return frames, nil
		default:
			return 0, fmt.Errorf("unknown GIF block %#x", kind)
		}
		if err := skipSubBlocks(r); err != nil {
			return 0, err
		}
	}
}

func skipColorTable(r *bufio.Reader, flags byte) error {
	if flags&0x80 == 0 {
		return nil
	}
	_, err := r.Discard(3 << ((flags & 7) + 1))
	return err
}

func skipSubBlocks(r *bufio.Reader) error {
	for {
		n, err := r.ReadByte()
		if err != nil || n == 0 {
			return err
		}
		if _, err := r.Discard(int(n)); err != nil {
			return err
		}
	}
}
