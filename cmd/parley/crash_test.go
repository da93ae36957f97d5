package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/testkit"
	"parley/internal/testkit/pgtest"
)

// TestMain lets the test binary act as the real server: the crash test starts
// it as a child process, kills it with SIGKILL, and starts it again.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_TEST_BE_SERVER") == "1" {
		if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs `parley serve` in a child process on addr and waits until
// it answers; env adds settings (PARLEY_DATABASE_URL=…).
func startChild(t *testing.T, dir, addr string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "-listen", addr, "-data-dir", dir, "-log-level", "error")
	// Metrics on a free port: tests running side by side must not share one.
	cmd.Env = append(os.Environ(), "PARLEY_TEST_BE_SERVER=1", "PARLEY_BCRYPT_COST=4", "PARLEY_METRICS_LISTEN=127.0.0.1:0",
		"PARLEY_POST_LIMIT_USER=off") // the crash test posts as fast as it can
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s did not become ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func call(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // the server died under us
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestKilledServerLosesNoAcknowledgedMessage posts from several clients,
// kills the server with SIGKILL mid-stream, restarts it on the same data dir
// (or PostgreSQL database), and checks that every post that got its 201 is
// there, in a gapless sequence.
func TestKilledServerLosesNoAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server process")
	}
	t.Run("sqlite", func(t *testing.T) { killAndRestart(t) })
	t.Run("postgres", func(t *testing.T) { killAndRestart(t, "PARLEY_DATABASE_URL="+pgtest.Fresh(t)) })
}

func killAndRestart(t *testing.T, env ...string) {
	dir := t.TempDir()
	addr := freeAddr(t)
	child := startChild(t, dir, addr, env...)
	base := "http://" + addr + "/api/v1"

	var owner struct {
		AccessToken string `json:"access_token"`
	}
	if st := call(t, "POST", base+"/tenants", "", map[string]any{"slug": "acme", "name": "Acme",
		"admin": map[string]string{"username": "alice", "password": "correct-horse"}}, &owner); st != http.StatusCreated {
		t.Fatalf("create tenant: %d", st)
	}
	var room struct {
		ID string `json:"id"`
	}
	if st := call(t, "POST", base+"/rooms", owner.AccessToken, map[string]string{"name": "durable"}, &room); st != http.StatusCreated {
		t.Fatalf("create room: %d", st)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		enough   = make(chan struct{})
		reported sync.Once
	)
	stop := testkit.Loop(8, func(p, n int) {
		body := fmt.Sprintf("p%d-%d", p, n)
		if call(t, "POST", base+"/rooms/"+room.ID+"/messages", owner.AccessToken, map[string]string{"body": body}, nil) == http.StatusCreated {
			mu.Lock()
			acked[body] = true
			if len(acked) >= 100 {
				reported.Do(func() { close(enough) })
			}
			mu.Unlock()
		}
	})
	// Kill it mid-traffic: once posts are being acknowledged, while the
	// posters keep going.
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("fewer than 100 posts acknowledged within 30s")
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	_ = child.Wait()
	stop()
	if len(acked) == 0 {
		t.Fatal("no post was acknowledged before the kill")
	}

	startChild(t, dir, addr, env...)
	var page struct {
		Messages []struct {
			Seq  int64  `json:"seq"`
			Body string `json:"body"`
		} `json:"messages"`
		HasMore bool `json:"has_more"`
	}
	stored := map[string]bool{}
	var after int64
	for {
		if st := call(t, "GET", fmt.Sprintf("%s/rooms/%s/messages?after_seq=%d&limit=200", base, room.ID, after), owner.AccessToken, nil, &page); st != http.StatusOK {
			t.Fatalf("history after restart: %d", st)
		}
		for _, m := range page.Messages {
			if m.Seq != after+1 {
				t.Fatalf("seq %d after %d: a gap", m.Seq, after)
			}
			after = m.Seq
			stored[m.Body] = true
		}
		if !page.HasMore {
			break
		}
	}
	var lost []string
	for body := range acked {
		if !stored[body] {
			lost = append(lost, body)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged messages lost after SIGKILL: %s", len(lost), len(acked), strings.Join(lost[:min(5, len(lost))], ", "))
	}
	// New messages reach the search index a moment after their commit; the
	// last ones were pending when the server died, and a restart indexes them.
	for seq := after; seq > max(0, after-10); seq-- {
		var one struct {
			Messages []struct {
				Body string `json:"body"`
			} `json:"messages"`
		}
		call(t, "GET", fmt.Sprintf("%s/rooms/%s/messages?after_seq=%d&limit=1", base, room.ID, seq-1), owner.AccessToken, nil, &one)
		body := one.Messages[0].Body
		var found struct {
			Results []struct {
				Message struct {
					Body string `json:"body"`
				} `json:"message"`
			} `json:"results"`
		}
		if st := call(t, "GET", base+"/search?q="+url.QueryEscape(body), owner.AccessToken, nil, &found); st != http.StatusOK {
			t.Fatalf("search after restart: %d", st)
		}
		if len(found.Results) != 1 || found.Results[0].Message.Body != body {
			t.Fatalf("message %d (%q) not found by search after the restart: %+v", seq, body, found.Results)
		}
	}
	t.Logf("%d acknowledged before the kill, %d stored after restart", len(acked), len(stored))
}
