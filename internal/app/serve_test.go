package app_test

// The public listener as the binary runs it (issue 9, items 4 and 10): idle,
// header, body and write timeouts on every request but event streams, a cap
// on connections per client IP that never starves anyone else, and /metrics
// on its own listener. Tested with raw sockets against testkit servers, which
// run app.Listen exactly as cmd/parley does.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

// patience is how long a test waits for the server to do what it must.
const patience = 10 * time.Second

// dial connects to the server from a chosen loopback address (all of
// 127.0.0.0/8 reaches this machine), as if from another client IP.
func dial(t *testing.T, s *testkit.Server, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Control: func(_, _ string, c syscall.RawConn) error {
		// A tiny receive buffer, so that a client that does not read soon
		// holds up the server's writes.
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedByServer reads until the server closes the connection, failing the
// test if it is still open after patience. It returns what was read.
func closedByServer(t *testing.T, conn net.Conn, what string) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection is still open after %s", what, patience)
	}
	return got
}

// get sends one GET over conn and reads the answer.
func get(t *testing.T, conn net.Conn, r *bufio.Reader, path string) *http.Response {
	t.Helper()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: parley\r\n\r\n", path)
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.IdleTimeout = time.Second })
	conn := dial(t, s, "127.0.0.1")
	r := bufio.NewReader(conn)
	if resp := get(t, conn, r, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	start := time.Now()
	closedByServer(t, conn, "an idle keep-alive connection")
	if waited := time.Since(start); waited < time.Second/2 {
		t.Errorf("closed after %s, before the idle timeout", waited)
	}
}

func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.ReadHeaderTimeout = time.Second
		c.ReadTimeout = time.Second
	})
	// trickle sends start, then one byte of more every 100 ms, as a slowloris does.
	trickle := func(conn net.Conn, start, more string) {
		go func() {
			if _, err := io.WriteString(conn, start); err != nil {
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i = (i + 1) % len(more) {
				<-tick.C
				if _, err := io.WriteString(conn, more[i:i+1]); err != nil {
					return // the server hung up
				}
			}
		}()
	}
	t.Run("headers", func(t *testing.T) {
		conn := dial(t, s, "127.0.0.1")
		trickle(conn, "GET /healthz HTTP/1.1\r\nHost: parley\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
		if got := closedByServer(t, conn, "slowly sent headers"); len(got) > 0 && strings.Contains(string(got), " 200 ") {
			t.Fatalf("the slow request was served: %q", got)
		}
	})
	t.Run("body", func(t *testing.T) {
		conn := dial(t, s, "127.0.0.1")
		trickle(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
			`"tenant":"acme","username":"bob","password":"secret-secret",`)
		closedByServer(t, conn, "a slowly sent body")
	})
	// Meanwhile, and afterwards, everyone else is served.
	alice := s.CreateTenant(t, "acme", "alice")
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", alice.Token, nil, nil)
}

// TestWriteTimeoutCutsAClientThatDoesNotRead: a big answer to a client that
// never reads is given up after write_timeout (the handler returns, which the
// access log shows), instead of holding its goroutine and buffers forever.
func TestWriteTimeoutCutsAClientThatDoesNotRead(t *testing.T) {
	t.Parallel()
	var logs testkit.LogBuffer
	s := testkit.StartLogged(t, slog.New(slog.NewJSONHandler(&logs, nil)), func(c *config.Config) {
		c.WriteTimeout = time.Second
		c.PostLimitUser = limit.Rate{}
	})
	alice := s.CreateTenant(t, "acme", "alice")
	var rm struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", alice.Token, map[string]string{"name": "big"}, &rm)
	// Each '<' is 6 bytes of JSON (\u003c): 200 messages make an answer
	// larger than the kernel's socket buffers (4 MiB at most here).
	big := strings.Repeat("<", 3990)
	for i := range 200 {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", alice.Token, map[string]string{"body": fmt.Sprint(i, big)}, nil)
	}
	path := "/api/v1/rooms/" + rm.ID + "/messages?limit=200"
	bodies := 200 * len(`"`+strings.Repeat(`\u003c`, 3990)+`"`) // the answer holds at least these
	conn := dial(t, s, "127.0.0.1")
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer %s\r\nX-Request-ID: never-reads\r\n\r\n", path, alice.Token)
	deadline := time.Now().Add(patience)
	for !strings.Contains(logs.String(), `"request_id":"never-reads"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the handler still writes to a client that has not read for %s", patience)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// What reached the client is cut short.
	if got := closedByServer(t, conn, "an answer nobody reads"); len(got) >= bodies {
		t.Fatalf("the whole answer (%d bytes, at least %d due) was delivered", len(got), bodies)
	}
}

// TestConnectionCapPerIP: one client address holds at most max_conns_per_ip
// connections; more are closed at once and counted, while other clients,
// and trusted proxies, are served as usual.
func TestConnectionCapPerIP(t *testing.T) {
	t.Parallel()
	const max = 4
	s := testkit.Start(t, func(c *config.Config) {
		c.MaxConnsPerIP = max
		c.TrustedProxies = "127.0.0.3"
	})
	alice := s.CreateTenant(t, "acme", "alice")

	var held []net.Conn
	for range max {
		held = append(held, dial(t, s, "127.0.0.2")) // connected, silent
	}
	// Each connection is accepted in turn, so the cap is full before any of these.
	for i := range 3 * max {
		conn := dial(t, s, "127.0.0.2")
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
		if got := closedByServer(t, conn, fmt.Sprint("connection ", max+i+1, " from one address")); len(got) > 0 {
			t.Fatalf("connection %d over the cap was answered: %q", i+1, got)
		}
		// Another client, logged in, is served all along.
		s.Must(t, http.StatusOK, "GET", "/api/v1/me", alice.Token, nil, nil)
	}
	if got := s.Metric(t, "parley_limit_refused_total", "limit", limit.ConnsPerIP); got != 3*max {
		t.Errorf("refused connections counted %v, want %d", got, 3*max)
	}
	// A trusted proxy carries many clients: it is not capped.
	for range 2 * max {
		conn := dial(t, s, "127.0.0.3")
		if resp := get(t, conn, bufio.NewReader(conn), "/healthz"); resp.StatusCode != http.StatusOK {
			t.Fatalf("trusted proxy: %d", resp.StatusCode)
		}
	}
	// A connection that ends gives its place back.
	held[0].Close()
	deadline := time.Now().Add(patience)
	for {
		conn := dial(t, s, "127.0.0.2")
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n")
		_ = conn.SetReadDeadline(time.Now().Add(patience))
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's place was never given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsAreNotOnThePublicPort: /metrics is served on its own listener
// (loopback by default), or on the public port only with the metrics token;
// /readyz stays public.
func TestMetricsAreNotOnThePublicPort(t *testing.T) {
	t.Parallel()
	fetch := func(t *testing.T, url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	t.Run("default", func(t *testing.T) {
		s := testkit.Start(t)
		if def := config.Default().MetricsListen; !strings.HasPrefix(def, "127.0.0.1:") {
			t.Errorf("metrics_listen defaults to %q, not loopback", def)
		}
		if status, _ := fetch(t, s.URL+"/metrics", ""); status != http.StatusNotFound {
			t.Errorf("public /metrics: %d, want 404", status)
		}
		if status, body := fetch(t, s.MetricsURL, ""); status != http.StatusOK || !strings.Contains(body, "parley_streams_open") {
			t.Errorf("metrics listener: %d %.80q", status, body)
		}
		if status, _ := fetch(t, s.URL+"/readyz", ""); status != http.StatusOK {
			t.Errorf("/readyz: %d", status)
		}
	})
	t.Run("token on the public port", func(t *testing.T) {
		const token = "a-long-metrics-scrape-token"
		s := testkit.Start(t, func(c *config.Config) { c.MetricsListen, c.MetricsToken = config.Off, token })
		if s.MetricsURL != "" {
			t.Errorf("metrics listener %q although it is off", s.MetricsURL)
		}
		for _, bad := range []string{"", "wrong-token-wrong-token", token + "x"} {
			if status, _ := fetch(t, s.URL+"/metrics", bad); status != http.StatusUnauthorized {
				t.Errorf("public /metrics with token %q: %d, want 401", bad, status)
			}
		}
		if status, body := fetch(t, s.URL+"/metrics", token); status != http.StatusOK || !strings.Contains(body, "parley_streams_open") {
			t.Errorf("public /metrics with the token: %d %.80q", status, body)
		}
	})
}

// TestStreamsOutliveRequestTimeouts: the body, answer and idle timeouts are
// per request, so an event stream (which has its own write deadline and
// pings) stays open and live well past them.
func TestStreamsOutliveRequestTimeouts(t *testing.T) {
	t.Parallel()
	// Short, yet long enough for every request of this test on a busy machine
	// with -race (the answer deadline counts from the request's start).
	const timeout = 2 * time.Second
	s := testkit.Start(t, func(c *config.Config) {
		c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = timeout, timeout, timeout, timeout
	})
	alice := s.CreateTenant(t, "acme", "alice")
	var rm struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", alice.Token, map[string]string{"name": "long"}, &rm)
	st := s.Open(t, "/api/v1/rooms/"+rm.ID+"/events", alice.Token, "")
	// Talk for several times the timeouts; every message arrives on the one stream.
	for i, start := 0, time.Now(); time.Since(start) < 3*timeout; i++ {
		body := fmt.Sprint("still here ", i)
		s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", alice.Token, map[string]string{"body": body}, nil)
		ev := st.NextNamed(t, "message.created", patience)
		if !strings.Contains(ev.Data, body) {
			t.Fatalf("got %s, want %q", ev.Data, body)
		}
		select {
		case <-st.Ended():
			t.Fatal("the stream ended")
		case <-time.After(timeout / 4):
		}
	}
}

// TestDataFilesAreOwnerOnly: the database, its -wal and -shm and the signing
// key are 0600 and the data dir 0700, whatever the umask, also when they
// already existed with looser modes.
func TestDataFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, dir string) {
		t.Helper()
		want := map[string]os.FileMode{dir: 0o700}
		for _, name := range []string{"parley.db", "parley.db-wal", "parley.db-shm", "jwt.key"} {
			want[filepath.Join(dir, name)] = 0o600
		}
		for path, mode := range want {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if got := st.Mode().Perm(); got != mode {
				t.Errorf("%s is %v, want %v", filepath.Base(path), got, mode)
			}
		}
	}
	t.Run("fresh", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir })
		s.CreateTenant(t, "acme", "alice")
		check(t, dir)
	})
	t.Run("existing and loose", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir })
		s.CreateTenant(t, "acme", "alice")
		s.Stop()
		for _, name := range []string{"", "parley.db", "jwt.key"} {
			if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s.Restart(t)
		check(t, dir)
		s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": testkit.Password}, nil)
	})
}
