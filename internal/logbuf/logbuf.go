// Package logbuf batches log output: a busy server writes an access line per
// request, and one write system call per line costs more than the line.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// maxBuffered is how much is held before a write goes out regardless of the
// clock.
const maxBuffered = 32 << 10

// Writer holds what is written until Flush, until maxBuffered bytes are held,
// or until the interval of Run passes: at most an interval of lines is lost
// if the process is killed. Lines at warning level and above go out at once
// (see Handler).
type Writer struct {
	mu  sync.Mutex
	out io.Writer
	buf []byte
	err error // the last write's failure, reported by the next Write
}

// New returns a Writer to out.
func New(out io.Writer) *Writer { return &Writer{out: out} }

// Write holds p (a whole line, as slog writes one per call).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.err; err != nil {
		w.err = nil
		return 0, err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= maxBuffered {
		w.flushLocked()
	}
	return len(p), nil
}

// Flush writes out what is held.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	err := w.err
	w.err = nil
	return err
}

func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	if _, err := w.out.Write(w.buf); err != nil {
		w.err = err
	}
	w.buf = w.buf[:0]
}

// Run flushes every interval until ctx ends, then once more.
func (w *Writer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = w.Flush()
			return
		case <-t.C:
			_ = w.Flush()
		}
	}
}

// Handler wraps next, which writes to w, so that a record at urgent level or
// above is written out at once rather than with the next flush.
func Handler(next slog.Handler, w *Writer, urgent slog.Level) slog.Handler {
	return &handler{Handler: next, w: w, urgent: urgent}
}

type handler struct {
	slog.Handler
	w      *Writer
	urgent slog.Level
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.urgent {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{Handler: h.Handler.WithAttrs(attrs), w: h.w, urgent: h.urgent}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), w: h.w, urgent: h.urgent}
}
