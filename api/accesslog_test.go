package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"parley/internal/testkit"
)

// accessLine is one access log line as the JSON handler writes it.
type accessLine struct {
	Time      time.Time `json:"time"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
	Method    string    `json:"method"`
	Route     string    `json:"route"`
	Status    int       `json:"status"`
	Bytes     int       `json:"bytes"`
	Duration  float64   `json:"duration"`
	IP        string    `json:"ip"`
	RequestID string    `json:"request_id"`
}

// loggedRequest waits for the access log line of request id: it is written
// once the handler returns, which may be just after the client has its answer.
func loggedRequest(t *testing.T, logs *testkit.LogBuffer, id string) accessLine {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var l accessLine
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				t.Fatalf("log line %q: %v", raw, err)
			}
			if l.Msg == "request" && l.RequestID == id {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with request_id %q:\n%s", id, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAccessLog: one structured line per request at info, by route pattern
// (never the query string or a token), with a request id that is the
// client's when it is short and plain, else made up, and echoed either way.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &testkit.LogBuffer{}
	s := testkit.StartLogged(t, slog.New(slog.NewJSONHandler(logs, nil)))
	alice := s.CreateTenant(t, "acme", "alice")
	rm := createRoom(t, s, alice, "logged", "public")

	for _, tc := range []struct {
		name, sent string
		keep       bool
	}{
		{"plain id kept", "req-42.a_b:c", true},
		{"longest kept", strings.Repeat("a", 64), true},
		{"too long", strings.Repeat("a", 65), false},
		{"unsafe characters", "<script>alert(1)</script>", false},
		{"spaces", "two words", false},
		{"none", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			if tc.sent != "" {
				header["X-Request-ID"] = tc.sent
			}
			before := time.Now()
			r := s.DoWith(t, "GET", "/api/v1/rooms/"+rm.ID+"/messages?limit=5&token=secret-in-query", alice.Token, nil, header)
			id := r.Header.Get("X-Request-ID")
			if tc.keep && id != tc.sent || !tc.keep && (id == tc.sent || len(id) < 16 || len(id) > 64) {
				t.Fatalf("sent X-Request-ID %q, answer carries %q", tc.sent, id)
			}
			if u, err := uuid.Parse(id); !tc.keep && (err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122) {
				t.Fatalf("a made-up request id %q is not a random UUID: %v", id, err)
			}
			l := loggedRequest(t, logs, id)
			if l.Time.Before(before) || l.Time.After(time.Now()) {
				t.Fatalf("access log line at %v, for a request made at %v", l.Time, before)
			}
			want := accessLine{Time: l.Time, Level: "INFO", Msg: "request", Method: "GET", Route: "/api/v1/rooms/:room/messages", Status: 200,
				Bytes: len(r.Body), Duration: l.Duration, IP: "127.0.0.1", RequestID: id}
			if l != want || l.Duration <= 0 {
				t.Fatalf("access log line %+v, want %+v", l, want)
			}
		})
	}

	// A stream on its taken-over connection echoes the id too, and its line
	// names the route, not the ?token= in its URL.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/events?token=%s HTTP/1.1\r\nHost: parley\r\nX-Request-ID: stream-1\r\n\r\n", url.QueryEscape(alice.Token))
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-ID") != "stream-1" {
		t.Fatalf("stream answer %v (X-Request-ID %q), %v", resp.Status, resp.Header.Get("X-Request-ID"), err)
	}
	if l := loggedRequest(t, logs, "stream-1"); l.Route != "/api/v1/events" || l.Status != 200 {
		t.Errorf("stream's access log line %+v", l)
	}

	// Failures are logged too, and nothing secret is.
	r := s.Do(t, "GET", "/api/v1/me", "not-a-token", nil)
	if l := loggedRequest(t, logs, r.Header.Get("X-Request-ID")); l.Status != http.StatusUnauthorized || l.Level != "INFO" {
		t.Errorf("a refused request's line %+v", l)
	}
	out := logs.String()
	for _, secret := range []string{alice.Token, "secret-in-query", "not-a-token", "limit=5"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
