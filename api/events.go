package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/rooms"
)

// flushAt is how much a stream gathers before writing it out while it
// replays: enough for few writes, little enough to hold per stream.
const flushAt = 64 << 10

// streamHeader starts a stream on a taken-over HTTP/1.1 connection. Without a
// length or chunking, the body runs until the server closes the connection.
// The request id is one requestID let through: plain characters only.
func streamHeader(requestID string) string {
	return "HTTP/1.1 200 OK\r\n" +
		"Content-Type: text/event-stream\r\n" +
		"Cache-Control: no-cache\r\n" +
		"X-Accel-Buffering: no\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		requestIDHeader + ": " + requestID + "\r\n" +
		"Connection: close\r\n\r\n"
}

const retryLine = "retry: 3000\n\n"

// burstGap is the least time between two writes to a busy stream: events
// that come sooner wait for it and share the next write. A delivery's cost
// is its write (a syscall, which on loopback also runs the reader's TCP
// receive), so a stream in a busy room writes at most 200 times a second
// instead of once per event; a quiet stream still writes at once.
const burstGap = 5 * time.Millisecond

// events serves GET /api/v1/events and /api/v1/rooms/{room}/events: first the
// missed events after Last-Event-ID, then live ones, with a ping comment to
// keep idle connections open, until the token expires or access ends.
//
// On HTTP/1.1 the connection is taken over from net/http once the stream is
// authorised, and the handler returns: an idle stream then costs one small
// goroutine and its socket, not net/http's buffers and deep stack. Where that
// is impossible (HTTP/2), the stream is served inside the handler.
func (h *handlers) events(c *gin.Context) {
	p := principal(c)
	cursor := c.GetHeader("Last-Event-ID")
	if cursor == "" {
		cursor = c.Query("last_event_id")
	}
	st, err := h.Rooms.OpenStream(c.Request.Context(), p, c.Param("room"), cursor)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusOK) // for the request log; the header goes out below
	rc := http.NewResponseController(c.Writer)
	// A stream outlives the request deadlines: it sets a deadline per write.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	var conn net.Conn
	var rw *bufio.ReadWriter
	err = errors.ErrUnsupported
	if canHijack(c.Writer) {
		conn, rw, err = rc.Hijack()
	}
	if err != nil {
		defer st.Close()
		h.serveInHandler(c, st, p)
		return
	}
	out := &connSink{conn: conn, pool: &h.frames, timeout: h.StreamWriteTimeout}
	if rw.Reader.Buffered() > 0 || out.send([]byte(streamHeader(requestIDOf(c))+retryLine)) != nil {
		conn.Close()
		st.Close()
		return
	}
	h.Streams.Add(1)
	go func() {
		defer h.Streams.Done()
		defer conn.Close()
		defer st.Close()
		h.stream(st, p, out)
	}()
}

// canHijack reports whether the connection under w can be taken over. It
// must be asked first: gin's writer claims it always can, and panics on an
// HTTP/2 stream when told to.
func canHijack(w http.ResponseWriter) bool {
	for {
		inner, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			_, ok := w.(http.Hijacker)
			return ok
		}
		w = inner.Unwrap()
	}
}

// serveInHandler streams through the ResponseWriter (HTTP/2, or a wrapped writer).
func (h *handlers) serveInHandler(c *gin.Context, st *rooms.Stream, p auth.Principal) {
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	c.Writer.WriteHeader(http.StatusOK)
	out := &writerSink{w: c.Writer, rc: http.NewResponseController(c.Writer), gone: c.Request.Context().Done(), timeout: h.StreamWriteTimeout}
	if out.send([]byte(retryLine)) != nil {
		return
	}
	h.stream(st, p, out)
}

// sink is where a stream's frames go. Frames are collected with add and
// written together by send, so a burst costs one write.
type sink interface {
	send(frame []byte) error // add frame (may be nil) and write everything pending
	add(frame []byte)
	pending() int            // bytes added and not yet sent
	closed() <-chan struct{} // the client went away (nil if only a write can tell)
}

// stream replays what the client missed, then forwards live events until the
// subscription, the token or the server ends.
func (h *handlers) stream(st *rooms.Stream, p auth.Principal, out sink) {
	// Each page of the replay is on its way to the client before the next is
	// read: a client that does not read holds one page, not its backlog.
	last, err := st.Replay(context.Background(), func(frames [][]byte) error {
		for _, f := range frames {
			if out.add(f); out.pending() >= flushAt {
				if err := out.send(nil); err != nil {
					return err
				}
			}
		}
		return out.send(nil)
	})
	if err != nil {
		return
	}
	ping := time.NewTicker(h.PingInterval)
	defer ping.Stop()
	expiry := time.NewTimer(time.Until(p.ExpiresAt))
	defer expiry.Stop()
	// take queues a live event unless replay already covered it.
	take := func(ev *rooms.Event) {
		if ev.ID != 0 && ev.ID <= last {
			return
		}
		last = max(last, ev.ID)
		out.add(ev.Frame)
	}
	// drain takes whatever else is already queued, so one write carries it all.
	drain := func() {
		for {
			select {
			case ev := <-st.Events():
				take(ev)
			default:
				return
			}
		}
	}
	var wrote time.Time // the last write of live events
	// busy: events keep coming sooner than burstGap. The stream then sleeps
	// out the gap after each write and takes what came meanwhile, instead of
	// waking for the next event and then sleeping: one wakeup per write, not
	// two, and the hub's sends find no reader to wake.
	busy := false
	for {
		if busy {
			time.Sleep(burstGap - time.Since(wrote))
			busy = len(st.Events()) > 0
		}
		select {
		case ev := <-st.Events():
			take(ev)
			if wait := burstGap - time.Since(wrote); wait > 0 {
				time.Sleep(wait)
				busy = true
			}
			drain()
			if out.send(nil) != nil {
				return
			}
			wrote = time.Now()
		case <-ping.C:
			if out.send([]byte(": ping\n\n")) != nil {
				return
			}
		case <-expiry.C:
			_ = out.send(rooms.TokenExpiredFrame())
			return
		case <-st.Done():
			if st.Reason() == rooms.EndRoomGone {
				// Deliver the room.left / room.deleted that ended this one-room stream.
				drain()
				_ = out.send(nil)
			}
			return
		case <-out.closed():
			return
		case <-h.Shutdown:
			return
		}
	}
}

// connSink writes to a taken-over connection. Its write buffer is borrowed
// from pool only while there is something to write, so an idle stream holds none.
type connSink struct {
	conn     net.Conn
	pool     *sync.Pool
	buf      *bytes.Buffer
	timeout  time.Duration // for one write: a client that stops reading is cut off
	deadline time.Time     // the write deadline set on conn
}

// armDeadline keeps a write deadline timeout ahead, renewing it only when
// half of it has passed: setting it costs more than a small write.
func (s *connSink) armDeadline() {
	now := time.Now()
	if s.deadline.Sub(now) > s.timeout/2 {
		return
	}
	s.deadline = now.Add(s.timeout)
	_ = s.conn.SetWriteDeadline(s.deadline)
}

func (s *connSink) add(frame []byte) {
	if len(frame) == 0 {
		return
	}
	if s.buf == nil {
		s.buf, _ = s.pool.Get().(*bytes.Buffer)
		if s.buf == nil {
			s.buf = new(bytes.Buffer)
		}
	}
	s.buf.Write(frame)
}

func (s *connSink) pending() int {
	if s.buf == nil {
		return 0
	}
	return s.buf.Len()
}

func (s *connSink) send(frame []byte) error {
	s.add(frame)
	if s.buf == nil {
		return nil
	}
	buf := s.buf
	s.buf = nil
	defer func() {
		buf.Reset()
		if buf.Cap() <= 64<<10 {
			s.pool.Put(buf)
		}
	}()
	s.armDeadline()
	_, err := s.conn.Write(buf.Bytes())
	return err
}

func (s *connSink) closed() <-chan struct{} { return nil }

// writerSink writes through an http.ResponseWriter. Its write deadline is
// set when a burst starts and cleared once it is flushed: it bounds writes,
// not the quiet between them (on HTTP/2 a deadline that passes while the
// stream is idle resets the stream).
type writerSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	gone    <-chan struct{}
	timeout time.Duration
	armed   bool
	err     error
}

func (s *writerSink) add(frame []byte) {
	if s.err == nil && len(frame) > 0 {
		s.arm()
		_, s.err = s.w.Write(frame)
	}
}

// pending is 0: the ResponseWriter buffers (and bounds) what is not flushed.
func (s *writerSink) pending() int { return 0 }

func (s *writerSink) send(frame []byte) error {
	s.add(frame)
	if s.err != nil || !s.armed {
		return s.err
	}
	if s.err = s.rc.Flush(); s.err == nil {
		s.err = s.rc.SetWriteDeadline(time.Time{})
		s.armed = false
	}
	return s.err
}

func (s *writerSink) arm() {
	if !s.armed {
		s.armed = true
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	}
}

func (s *writerSink) closed() <-chan struct{} { return s.gone }
