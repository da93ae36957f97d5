// Package files keeps uploaded files: it takes an upload in (bounded in
// size, its type sniffed from its bytes, an image re-encoded with a
// thumbnail), stores the bytes in a blob store (gocloud.dev/blob: a folder,
// or an S3-compatible bucket) and their description in the database, serves
// them back, and deletes the blobs of deleted messages and of uploads never
// attached. Who may upload or read a file is for the rooms package to say.
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/google/uuid"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"parley/internal/fault"
	"parley/store"
)

// Options are the limits of uploads.
type Options struct {
	MaxBytes       int64         // one upload's size
	MaxPixels      int64         // one image's width × height, read from its header
	QuotaPerTenant int64         // bytes stored per tenant, thumbnails included; 0: none
	PendingTTL     time.Duration // an upload not attached to a message by then is deleted
	SweepEvery     time.Duration // how often expired uploads and deleted blobs are swept
	TempDir        string        // where an upload is spooled while it arrives
	// Decoders bounds how many images are decoded at once (each takes up to
	// MaxPixels × 4 bytes of memory).
	Decoders int
	// Metrics hears of every upload stored and every blob the store failed
	// to delete; nil counts nothing.
	Metrics Metrics
}

// Metrics receives counts from the service (Prometheus in production).
type Metrics interface {
	Uploaded(image bool, bytes int64)
	BlobDeleteFailed()
}

// reserveFor is how long the blobs of an upload in progress are kept before
// the sweeper deletes them, should the upload never be recorded (the node
// stopped half way).
const reserveFor = time.Hour

// maxName bounds a file name, in characters.
const maxName = 200

// Service stores and serves uploads.
type Service struct {
	st     *store.Store
	bucket *blob.Bucket
	opts   Options
	log    *slog.Logger
	decode chan struct{}
	nudge  chan struct{}
	now    func() time.Time
}

// New returns the service over a blob bucket it now owns (Close closes it).
// Files left in TempDir by a stopped node are removed.
func New(st *store.Store, bucket *blob.Bucket, opts Options, log *slog.Logger) (*Service, error) {
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("create upload folder: %w", err)
	}
	if old, err := filepath.Glob(filepath.Join(opts.TempDir, "upload-*")); err == nil {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	return &Service{st: st, bucket: bucket, opts: opts, log: log, decode: make(chan struct{}, max(1, opts.Decoders)),
		nudge: make(chan struct{}, 1), now: store.Now}, nil
}

// Close closes the blob bucket.
func (s *Service) Close() error { return s.bucket.Close() }

// Upload says whose upload it is and where it goes.
type Upload struct {
	TenantID, RoomID, UploaderID string
	Name                         string // as the client names it
}

// Store takes an upload in: it spools body to disk (at most MaxBytes, never
// all in memory), sniffs its type from its bytes, re-encodes an image with a
// thumbnail, writes the blobs and records it, within the tenant's quota. It
// waits to be attached to a message, or expires after PendingTTL.
func (s *Service) Store(ctx context.Context, up Upload, body io.Reader) (AttachmentJSON, error) {
	if err := s.withinQuota(s.st.Read(ctx), up.TenantID, 1); err != nil {
		return AttachmentJSON{}, err // full already: do not take the bytes in at all
	}
	tmp, err := os.CreateTemp(s.opts.TempDir, "upload-*")
	if err != nil {
		return AttachmentJSON{}, fmt.Errorf("spool upload: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	n, err := io.Copy(tmp, io.LimitReader(body, s.opts.MaxBytes+1))
	if err != nil {
		if fe, ok := fault.As(err); ok {
			return AttachmentJSON{}, fe
		}
		return AttachmentJSON{}, fault.Field("file", "the upload was cut off")
	}
	if n > s.opts.MaxBytes {
		return AttachmentJSON{}, TooLarge(s.opts.MaxBytes)
	}
	if n == 0 {
		return AttachmentJSON{}, fault.Field("file", "is empty")
	}
	head := make([]byte, 3072)
	k, err := tmp.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return AttachmentJSON{}, fmt.Errorf("read upload: %w", err)
	}
	sniffed := mimetype.Detect(head[:k])
	ctype, _, _ := mime.ParseMediaType(sniffed.String())
	a := store.Attachment{ID: uuid.Must(uuid.NewV7()).String(), TenantID: up.TenantID, RoomID: up.RoomID, UploaderID: up.UploaderID,
		Name: cleanName(up.Name, sniffed.Extension()), ContentType: ctype, Size: n, CreatedAt: s.now()}
	a.BlobKey = up.TenantID + "/" + a.ID
	var img *processed
	if imageTypes[ctype] {
		if img, err = s.reencode(ctx, tmp, ctype); err != nil {
			return AttachmentJSON{}, err
		}
		a.ContentType, a.Size, a.Width, a.Height = img.contentType, int64(len(img.data)), img.width, img.height
		a.ThumbKey, a.ThumbSize = a.BlobKey+"-thumb", int64(len(img.thumb))
		a.Name = strings.TrimSuffix(a.Name, filepath.Ext(a.Name)) + img.ext
	}
	if err := s.reserve(ctx, a); err != nil {
		return AttachmentJSON{}, err
	}
	if err := s.writeBlobs(ctx, a, tmp, img); err != nil {
		return AttachmentJSON{}, err
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if err := s.withinQuota(tx.DB, a.TenantID, a.Size+a.ThumbSize); err != nil {
			return err
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		return untrashBlobs(tx, keys(a))
	})
	if err != nil {
		s.discard(ctx, a)
		return AttachmentJSON{}, err
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.Uploaded(img != nil, a.Size+a.ThumbSize)
	}
	return View(a), nil
}

// discard deletes the blobs of an upload that was not recorded, and their
// reservation; what fails is left to the sweeper, when the reservation is due.
func (s *Service) discard(ctx context.Context, a store.Attachment) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys(a) {
		if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			s.log.Warn("deleting an upload's blob", "key", k, "err", err)
			return
		}
	}
	if err := s.st.Write(ctx, func(tx *store.Tx) error { return untrashBlobs(tx, keys(a)) }); err != nil {
		s.log.Warn("dropping an upload's reservation", "err", err)
	}
}

// TooLarge is the refusal of an upload over maxBytes.
func TooLarge(maxBytes int64) error {
	return fault.New(fault.TooLarge, fmt.Sprintf("a file may be at most %s", humanBytes(maxBytes)))
}

func (s *Service) reencode(ctx context.Context, f *os.File, ctype string) (*processed, error) {
	select {
	case s.decode <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.decode }()
	return reencode(f, ctype, s.opts.MaxPixels)
}

// reserve records the upload's blobs as trash due in an hour before they are
// written: if this node stops before the upload is recorded, the sweeper
// still deletes them. Recording the upload takes the reservation back.
func (s *Service) reserve(ctx context.Context, a store.Attachment) error {
	due := s.now().Add(reserveFor)
	return s.st.Write(ctx, func(tx *store.Tx) error { return trashBlobs(tx, due, keys(a)) })
}

func (s *Service) writeBlobs(ctx context.Context, a store.Attachment, spooled *os.File, img *processed) error {
	opts := &blob.WriterOptions{ContentType: a.ContentType}
	if img == nil {
		if _, err := spooled.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := s.bucket.Upload(ctx, a.BlobKey, spooled, opts); err != nil {
			return fmt.Errorf("store upload: %w", err)
		}
		return nil
	}
	if err := s.bucket.WriteAll(ctx, a.BlobKey, img.data, opts); err != nil {
		return fmt.Errorf("store image: %w", err)
	}
	if err := s.bucket.WriteAll(ctx, a.ThumbKey, img.thumb, opts); err != nil {
		return fmt.Errorf("store thumbnail: %w", err)
	}
	return nil
}

func keys(a store.Attachment) []string {
	if a.ThumbKey == "" {
		return []string{a.BlobKey}
	}
	return []string{a.BlobKey, a.ThumbKey}
}

// Lookup finds an upload of the tenant; another tenant's is not found.
func (s *Service) Lookup(ctx context.Context, tenantID, id string) (store.Attachment, error) {
	a, err := attachmentByID(s.st.Read(ctx), tenantID, id)
	return a, store.NotFound(err, "file")
}

// File is a stored file opened for serving.
type File struct {
	io.ReadSeekCloser
	Name        string
	ContentType string // what to send: the sniffed type for an image, else application/octet-stream
	Inline      bool   // an image, shown in the page; anything else is a download
	ETag        string
	ModTime     time.Time
}

// inlineTypes are shown in place: the image types Parley itself encodes.
// Anything else is sent as a download of application/octet-stream, so no
// upload (HTML, SVG, a script) ever runs in Parley's origin.
var inlineTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true}

// Open opens an upload's bytes, or its thumbnail's.
func (s *Service) Open(ctx context.Context, a store.Attachment, thumb bool) (*File, error) {
	key, etag := a.BlobKey, `"`+a.ID+`"`
	if thumb {
		if a.ThumbKey == "" {
			return nil, fault.New(fault.NotFound, "this file has no thumbnail")
		}
		key, etag = a.ThumbKey, `"`+a.ID+`-thumb"`
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fault.New(fault.NotFound, "file not found")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	f := &File{ReadSeekCloser: r, Name: a.Name, ContentType: "application/octet-stream", ETag: etag, ModTime: a.CreatedAt}
	if inlineTypes[a.ContentType] {
		f.ContentType, f.Inline = a.ContentType, true
	}
	return f, nil
}

// cleanName keeps the last element of a client's file name, without control
// or format characters (a right-to-left override could disguise "gpj.exe"),
// at most maxName characters long with its extension kept.
func cleanName(name, fallbackExt string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if strings.Trim(name, ".") == "" {
		name = "file" + fallbackExt
	}
	if utf8.RuneCountInString(name) > maxName {
		ext := filepath.Ext(name)
		if utf8.RuneCountInString(ext) > 16 {
			ext = ""
		}
		name = string([]rune(strings.TrimSuffix(name, ext))[:maxName-utf8.RuneCountInString(ext)]) + ext
	}
	return name
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
