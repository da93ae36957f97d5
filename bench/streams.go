package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stream is one held SSE connection.
type stream struct {
	conn     net.Conn
	room     int
	received atomic.Int64 // message.created events of bench messages
	lastSeq  int64        // only touched by the reader goroutine
	open     atomic.Bool
}

// Streamer opens and reads SSE streams, spreading sockets over source
// addresses, and records what arrives.
type Streamer struct {
	t        Target
	targets  []Target // the nodes streams are spread over (none: t)
	sources  []net.IP
	stopping atomic.Bool

	mu      sync.Mutex
	streams []*stream
	fails   map[string]int
	drops   map[string]int

	Attempted   atomic.Int64
	Established atomic.Int64
	Failed      atomic.Int64
	Held        atomic.Int64 // streams open now
	Dropped     atomic.Int64
	Received    atomic.Int64 // bench message.created events
	Other       atomic.Int64 // any other event
	Gaps        atomic.Int64 // missing seqs between consecutive events of a stream
	Dups        atomic.Int64 // seq not above the previous one
	Unparsed    atomic.Int64 // message.created whose body is not a bench message

	// FromCreated is the message's created_at (the server took the post; same
	// machine, same clock) → event read; FromSend is the poster's send → event
	// read, an upper bound that includes the request itself.
	FromCreated Histogram
	FromSend    Histogram
	NoCreatedAt atomic.Int64   // events whose created_at could not be read
	BeforeAck   atomic.Int64   // events read before their poster had read the 201
	accepted    []atomic.Int64 // by message number k: unix ns when its 201 arrived
	wg          sync.WaitGroup
}

// NewStreamer prepares a streamer for messages numbered 1..maxMessages.
func NewStreamer(t Target, sources []net.IP, maxMessages int64) *Streamer {
	return &Streamer{t: t, sources: sources, fails: map[string]int{}, drops: map[string]int{},
		accepted: make([]atomic.Int64, maxMessages+1)}
}

// Spread opens stream i on ts[i % len(ts)]: the nodes of a cluster.
func (s *Streamer) Spread(ts []Target) { s.targets = ts }

// target is where stream i connects.
func (s *Streamer) target(i int) Target {
	if len(s.targets) == 0 {
		return s.t
	}
	return s.targets[i%len(s.targets)]
}

// MarkAccepted records when message k's 201 arrived.
func (s *Streamer) MarkAccepted(k int64, at time.Time) {
	if k > 0 && k < int64(len(s.accepted)) {
		s.accepted[k].Store(at.UnixNano())
	}
}

func (s *Streamer) countFail(m map[string]int, reason string) {
	s.mu.Lock()
	m[reason]++
	s.mu.Unlock()
}

// classify turns an error into a short, stable reason.
func classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "client_fd_limit"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}

// Reasons returns failure and drop reasons with counts.
func (s *Streamer) Reasons() (fails, drops map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fails, drops = map[string]int{}, map[string]int{}
	for k, v := range s.fails {
		fails[k] = v
	}
	for k, v := range s.drops {
		drops[k] = v
	}
	return
}

// Open dials one stream for path (e.g. /api/v1/events) as token, waits for a
// 200 text/event-stream answer and starts reading it. i picks the source
// address.
func (s *Streamer) Open(ctx context.Context, i int, path, token string, room int) error {
	s.Attempted.Add(1)
	err := s.open(ctx, i, path, token, room)
	if err != nil {
		s.Failed.Add(1)
		s.countFail(s.fails, classify(err))
	}
	return err
}

func (s *Streamer) open(ctx context.Context, i int, path, token string, room int) error {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if src := s.sources[i%len(s.sources)]; src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	t := s.target(i)
	conn, err := d.DialContext(ctx, "tcp", t.Addr.String())
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET " + t.Prefix + path + " HTTP/1.1\r\nHost: " + t.HostHeader +
		"\r\nAuthorization: Bearer " + token +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: parley-bench\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		code := ""
		if i := bytes.Index(b, []byte(`"code":"`)); i >= 0 {
			rest := b[i+8:]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				code = " " + string(rest[:j])
			}
		}
		return fmt.Errorf("status %d%s", resp.StatusCode, code)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("content-type %q", ct)
	}
	conn.SetDeadline(time.Time{})
	st := &stream{conn: conn, room: room}
	st.open.Store(true)
	ok = true
	s.mu.Lock()
	s.streams = append(s.streams, st)
	s.mu.Unlock()
	s.Established.Add(1)
	s.Held.Add(1)
	s.wg.Add(1)
	go s.read(st, resp.Body)
	return nil
}

var (
	evMessageCreated = []byte("message.created")
	evTokenExpired   = []byte("token.expired")
)

func (s *Streamer) read(st *stream, body io.ReadCloser) {
	defer s.wg.Done()
	sr := NewSSEReader(bufio.NewReaderSize(body, 1024))
	reason := ""
	for {
		ev, err := sr.Next()
		if err != nil {
			reason = classify(err)
			break
		}
		if bytes.Equal(ev.Type, evMessageCreated) {
			now := time.Now().UnixNano()
			m, ok := ParseBenchMessage(ev.Data)
			if !ok {
				s.Unparsed.Add(1)
				continue
			}
			s.FromSend.Record(now - m.SentNs)
			if m.CreatedNs > 0 {
				s.FromCreated.Record(now - m.CreatedNs)
			} else {
				s.NoCreatedAt.Add(1)
			}
			if m.K > 0 && m.K < int64(len(s.accepted)) {
				if acc := s.accepted[m.K].Load(); acc == 0 || acc > now {
					s.BeforeAck.Add(1)
				}
			}
			if seq := m.Seq; seq > 0 {
				if st.lastSeq > 0 || seq > 1 {
					switch {
					case seq <= st.lastSeq:
						s.Dups.Add(1)
					case seq > st.lastSeq+1:
						s.Gaps.Add(seq - st.lastSeq - 1)
					}
				}
				if seq > st.lastSeq {
					st.lastSeq = seq
				}
			}
			st.received.Add(1)
			s.Received.Add(1)
			continue
		}
		s.Other.Add(1)
		if bytes.Equal(ev.Type, evTokenExpired) {
			reason = "token.expired"
		}
	}
	st.open.Store(false)
	st.conn.Close()
	s.Held.Add(-1)
	if !s.stopping.Load() {
		s.Dropped.Add(1)
		s.countFail(s.drops, reason)
	}
}

// Missing returns, over streams still open, the bench messages each should
// have had (accepted per room) minus those it read, and the streams counted.
func (s *Streamer) Missing(acceptedPerRoom []int64) (expected, missing int64, streams int) {
	s.mu.Lock()
	list := s.streams
	s.mu.Unlock()
	for _, st := range list {
		if !st.open.Load() || st.room < 0 || st.room >= len(acceptedPerRoom) {
			continue
		}
		streams++
		want := acceptedPerRoom[st.room]
		got := st.received.Load()
		expected += want
		if got < want {
			missing += want - got
		}
	}
	return
}

// Close ends every stream and waits (up to 10 s) for the readers to stop.
func (s *Streamer) Close() {
	s.stopping.Store(true)
	s.mu.Lock()
	list := s.streams
	s.mu.Unlock()
	for _, st := range list {
		st.conn.Close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// sortedReasons formats a reason map as "a=3 b=1", most frequent first.
func sortedReasons(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", e.k, e.v)
	}
	return b.String()
}
