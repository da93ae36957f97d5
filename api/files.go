package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"parley/files"
	"parley/internal/fault"
)

// multipartSlack is what a multipart body may hold besides the file: its
// boundaries and part headers.
const multipartSlack = 64 << 10

// fileCSP is the policy of every file response: nothing in it may run,
// load anything or be framed, even if a browser were to render it.
const fileCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"

// upload takes one file (the part named "file" of a multipart/form-data
// body) into a room. A body announced larger than the limit is refused
// before any of it is read; one that turns out larger is cut off there.
func (h *handlers) upload(c *gin.Context) {
	limit := h.UploadMaxBytes + multipartSlack
	if c.Request.ContentLength > limit {
		h.fail(c, h.tooLargeUpload())
		return
	}
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		h.fail(c, fault.New(fault.Unsupported, "send the file as multipart/form-data, in a part named file"))
		return
	}
	h.extendDeadlines(c)
	mr := multipart.NewReader(&sizedBody{r: http.MaxBytesReader(c.Writer, c.Request.Body, limit), tooLarge: h.tooLargeUpload}, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			h.fail(c, fault.Field("file", "is required"))
			return
		}
		if err != nil {
			if fe, ok := fault.As(err); ok {
				h.fail(c, fe)
				return
			}
			h.fail(c, fault.New(fault.Invalid, "the multipart body could not be read"))
			return
		}
		if part.FormName() != "file" {
			continue
		}
		att, err := h.Rooms.Upload(c.Request.Context(), principal(c), c.Param("room"), part.FileName(), part)
		h.render(c, http.StatusCreated, att, err)
		return
	}
}

func (h *handlers) tooLargeUpload() error {
	return files.TooLarge(h.UploadMaxBytes)
}

// sizedBody turns the body's size limit into the API's 413.
type sizedBody struct {
	r        io.Reader
	tooLarge func() error
}

func (b *sizedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var big *http.MaxBytesError
	if errors.As(err, &big) {
		err = b.tooLarge()
	}
	return n, err
}

// extendDeadlines gives a file upload or download upload_timeout instead of
// the usual read and write timeouts: a phone on a slow network needs longer.
func (h *handlers) extendDeadlines(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	until := time.Now().Add(h.UploadTimeout)
	_ = rc.SetReadDeadline(until)
	_ = rc.SetWriteDeadline(until)
}

func (h *handlers) file(c *gin.Context)      { h.serveFile(c, false) }
func (h *handlers) thumbnail(c *gin.Context) { h.serveFile(c, true) }

// serveFile sends a file to who may read its room now. Images are shown
// inline; anything else is a download of application/octet-stream. Neither
// can run in Parley's origin: nosniff, a sandboxing CSP, and a type the
// server chose from the bytes, never the one the uploader claimed.
func (h *handlers) serveFile(c *gin.Context, thumb bool) {
	f, err := h.Rooms.File(c.Request.Context(), principal(c), c.Param("id"), thumb)
	if err != nil {
		h.fail(c, err)
		return
	}
	defer f.Close()
	h.extendDeadlines(c)
	disposition := "attachment"
	if f.Inline {
		disposition = "inline"
	}
	if v := mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}); v != "" {
		disposition = v
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", f.ContentType)
	hd.Set("Content-Disposition", disposition)
	hd.Set("Content-Security-Policy", fileCSP)
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	// The bytes of an id never change, but who may read them can: only the
	// reader's own browser may keep them, and only for a day.
	hd.Set("Cache-Control", "private, max-age=86400")
	hd.Set("ETag", f.ETag)
	http.ServeContent(c.Writer, c.Request, "", f.ModTime, f)
}
