// Package testkit starts real Parley servers (real HTTP, real SQLite file) for
// tests, and talks to them as clients do: JSON requests and an SSE reader.
package testkit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/config"
	"parley/internal/app"
	"parley/internal/testkit/pgtest"
)

// Server is a running Parley node on a temporary data dir, served as the
// binary serves it (app.Listen: the same listeners, connection cap and
// timeouts) on free loopback ports.
type Server struct {
	URL        string
	MetricsURL string // the metrics listener
	App        *app.App
	Cfg        config.Config
	Client     *http.Client // trusts the server's certificate when it serves TLS
	log        *slog.Logger
	appOpts    []app.Option
	http2      bool  // TLS with HTTP/2, as browsers reach a server with tls_cert set
	conns      int64 // connections accepted by servers stopped before this one
	stop       context.CancelFunc
	served     chan error
}

// Start runs a server on a fresh data dir; opts adjust the config.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	return StartLogged(t, nil, opts...)
}

// StartLogged is Start with the server logging to log (nil: discard), e.g. a
// buffer to check what the server writes; Restart keeps the logger.
func StartLogged(t testing.TB, log *slog.Logger, opts ...func(*config.Config)) *Server {
	t.Helper()
	return launch(t, &Server{log: log}, opts)
}

// StartWith is Start with options for how the node is built (e.g. its bus).
func StartWith(t testing.TB, appOpts []app.Option, opts ...func(*config.Config)) *Server {
	t.Helper()
	return launch(t, &Server{appOpts: appOpts}, opts)
}

// StartHTTP2 is Start over TLS with HTTP/2, as browsers reach a server with
// tls_cert set: every request and stream of Client shares one connection, and
// streams are served inside the handler.
func StartHTTP2(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	return launch(t, &Server{http2: true}, opts)
}

func launch(t testing.TB, s *Server, opts []func(*config.Config)) *Server {
	t.Helper()
	s.Cfg = config.Default()
	s.Cfg.DataDir = t.TempDir()
	s.Cfg.Listen, s.Cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	s.Cfg.BcryptCost = 4 // keep tests fast; production uses the configured cost
	if pgtest.Enabled() {
		s.Cfg.DatabaseURL = pgtest.Fresh(t) // the suite runs on PostgreSQL: a database per server
	}
	s.Client = http.DefaultClient
	if s.http2 {
		var roots *x509.CertPool
		s.Cfg.TLSCert, s.Cfg.TLSKey, roots = SelfSigned(t)
		s.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	}
	for _, o := range opts {
		o(&s.Cfg)
	}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	log := s.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := app.Listen(context.Background(), s.Cfg, log, s.appOpts...)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s.App, s.stop, s.served = srv.App, stop, make(chan error, 1)
	s.URL = "http://" + srv.Addr()
	if s.Cfg.TLSCert != "" {
		s.URL = "https://" + srv.Addr()
	}
	if addr := srv.MetricsAddr(); addr != "" {
		s.MetricsURL = "http://" + addr + "/metrics"
	}
	go func() { s.served <- srv.Serve(ctx) }()
}

// ConnsOpened is how many connections the server has accepted, across restarts.
func (s *Server) ConnsOpened() int64 {
	return s.conns + s.accepted()
}

func (s *Server) accepted() int64 {
	if s.App == nil {
		return 0
	}
	var n float64
	if families, err := s.App.Metrics().Gather(); err == nil {
		for _, f := range families {
			if f.GetName() == "parley_connections_accepted_total" {
				n = f.GetMetric()[0].GetCounter().GetValue()
			}
		}
	}
	return int64(n)
}

// SelfSigned writes a certificate for 127.0.0.1 and its key to PEM files, and
// returns them with a pool that trusts the certificate.
func SelfSigned(t testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "parley test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// Stop shuts the server down as the binary does: streams end, requests
// finish, then the database closes.
func (s *Server) Stop() {
	if s.App == nil {
		return
	}
	s.conns += s.accepted()
	s.stop()
	<-s.served
	s.App = nil
}

// Restart stops the server and starts a new one on the same data dir.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Proto  string // "HTTP/1.1", "HTTP/2.0"
	Header http.Header
	Body   []byte
}

// Decode parses the body as JSON into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// ErrorCode is the API error code of an error response ("" if none).
func (r Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Do sends a request; body is JSON-encoded unless it is a string or []byte
// (sent as is). token, if set, goes in the Authorization header.
func (s *Server) Do(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	return s.DoWith(t, method, path, token, body, nil)
}

// DoWith is Do with extra headers (e.g. a different Content-Type).
func (s *Server) DoWith(t testing.TB, method, path, token string, body any, header map[string]string) Response {
	t.Helper()
	r, err := s.Send(method, path, token, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Send is DoWith that returns its error instead of failing the test, for
// requests sent from goroutines other than the test's own.
func (s *Server) Send(method, path, token string, body any, header map[string]string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read body: %w", err)
	}
	return Response{Status: resp.StatusCode, Proto: resp.Proto, Header: resp.Header, Body: raw}, nil
}

// Must is Do that fails the test unless the status is want, decoding into out.
func (s *Server) Must(t testing.TB, want int, method, path, token string, body, out any) Response {
	t.Helper()
	r := s.Do(t, method, path, token, body)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		r.Decode(t, out)
	}
	return r
}

// User is a logged-in user as the token responses describe it.
type User struct {
	ID           string `json:"id"`
	Username     string `json:"username"`
	Role         string `json:"role"`
	Token        string `json:"-"`
	RefreshToken string `json:"-"`
}

// TokenResponse is the API's token response.
type TokenResponse struct {
	User         User   `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Tenant       struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"tenant"`
}

func (tr TokenResponse) user() User {
	u := tr.User
	u.Token, u.RefreshToken = tr.AccessToken, tr.RefreshToken
	return u
}

// Password is the password testkit gives every user it creates.
const Password = "correct-horse-battery"

// CreateTenant makes a tenant whose owner is admin and returns the owner.
func (s *Server) CreateTenant(t testing.TB, slug, admin string) User {
	t.Helper()
	var tr TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenants", "", map[string]any{
		"slug": slug, "name": strings.ToUpper(slug), "admin": map[string]string{"username": admin, "password": Password},
	}, &tr)
	return tr.user()
}

// Signup creates a member of the tenant and returns them logged in.
func (s *Server) Signup(t testing.TB, slug, username string) User {
	t.Helper()
	var tr TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{
		"tenant": slug, "username": username, "password": Password,
	}, &tr)
	return tr.user()
}

// Event is one server-sent event.
type Event struct {
	ID   string
	Name string
	Data string
}

// Decode parses the event's data as JSON into v.
func (e Event) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(e.Data), v); err != nil {
		t.Fatalf("decode event %s %q: %v", e.Name, e.Data, err)
	}
}

// Stream is an open SSE connection, read as the wire format says.
type Stream struct {
	Status int
	Proto  string // "HTTP/1.1", "HTTP/2.0"
	Header http.Header
	Retry  string
	events chan Event
	ended  chan struct{}
	cancel context.CancelFunc
	body   io.ReadCloser
}

// Open connects to an event stream. lastEventID, if set, is sent as Last-Event-ID.
// A non-200 answer is returned with its status and no events.
func (s *Server) Open(t testing.TB, path, token, lastEventID string) *Stream {
	t.Helper()
	return s.OpenWith(t, s.Client, path, token, lastEventID)
}

// OpenWith is Open through another client, e.g. one with its own connection
// or HTTP/2 settings.
func (s *Server) OpenWith(t testing.TB, client *http.Client, path, token, lastEventID string) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open %s: %v", path, err)
	}
	st := &Stream{Status: resp.StatusCode, Proto: resp.Proto, Header: resp.Header, events: make(chan Event, 10000), ended: make(chan struct{}), cancel: cancel, body: resp.Body}
	t.Cleanup(st.Close)
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		close(st.ended)
		return st
	}
	go st.read(bufio.NewReader(resp.Body))
	return st
}

// read parses the SSE wire format: fields up to a blank line make one event;
// lines starting with ':' are comments.
func (st *Stream) read(r *bufio.Reader) {
	defer close(st.ended)
	var ev Event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if ev.Name != "" || ev.Data != "" {
				st.events <- ev
			}
			ev = Event{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			if ev.Data != "" {
				ev.Data += "\n"
			}
			ev.Data += value
		case "retry":
			st.Retry = value
		}
	}
}

// Next returns the next event, failing the test if none comes within wait.
func (st *Stream) Next(t testing.TB, wait time.Duration) Event {
	t.Helper()
	ev, ok := st.TryNext(wait)
	if !ok {
		t.Fatalf("no event within %s", wait)
	}
	return ev
}

// TryNext returns the next event, or false if none came within wait or the stream ended.
func (st *Stream) TryNext(wait time.Duration) (Event, bool) {
	select {
	case ev := <-st.events:
		return ev, true
	case <-time.After(wait):
		return Event{}, false
	case <-st.ended:
		select {
		case ev := <-st.events:
			return ev, true
		default:
			return Event{}, false
		}
	}
}

// NextNamed skips events until one called name arrives.
func (st *Stream) NextNamed(t testing.TB, name string, wait time.Duration) Event {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ev, ok := st.TryNext(time.Until(deadline))
		if !ok {
			t.Fatalf("no %s event within %s", name, wait)
		}
		if ev.Name == name {
			return ev
		}
	}
}

// Ended is closed when the server ends the stream.
func (st *Stream) Ended() <-chan struct{} { return st.ended }

// Close hangs up.
func (st *Stream) Close() {
	st.cancel()
	if st.body != nil {
		_ = st.body.Close()
	}
}

// Count returns the number of rows of model's table.
func (s *Server) Count(t testing.TB, model any) int64 {
	t.Helper()
	var n int64
	if err := s.App.Store.Read(context.Background()).Model(model).Count(&n).Error; err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

// Metric returns the value of a counter or gauge (or the sample count of a
// histogram) of the node's metrics whose labels include every name=value pair
// of labels (0 if there is none).
func (s *Server) Metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := s.App.Metrics().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// LogBuffer is an io.Writer for a test server's logs that many goroutines
// may write to at once.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Loop runs fn(worker, i) for i = 0, 1, 2, ... on each of n goroutines until
// the returned stop is called; stop returns once every goroutine has ended.
func Loop(n int, fn func(worker, i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				fn(w, i)
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// CPUTime is the user+system CPU time this process has used, for benchmarks
// that report CPU per operation (comparable on a busy machine, unlike rates).
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
