package files

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif" // decoders for image.DecodeConfig and imaging.Decode
	_ "image/jpeg"
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
	// JPEG stays JPEG; a GIF (its first frame) and a WebP become PNG, or
	// JPEG for an opaque WebP photo, as Go encodes neither format well.
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
