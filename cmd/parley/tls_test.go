package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"parley/internal/testkit"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// With tls_cert and tls_key set, `parley serve` speaks HTTPS and HTTP/2 on
// its real listener: requests and a live event stream share one HTTP/2
// connection, and shutting down ends the stream and returns cleanly.
func TestServeWithTLSSpeaksHTTP2(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testkit.SelfSigned(t)
	addr := freeAddr(t)
	env := map[string]string{"PARLEY_TLS_CERT": certFile, "PARLEY_TLS_KEY": keyFile, "PARLEY_BCRYPT_COST": "4",
		"PARLEY_METRICS_LISTEN": "127.0.0.1:0"} // the default port may be taken by a server running beside the tests
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-listen", addr, "-data-dir", filepath.Join(dir, "data"), "-log-level", "error"},
			func(k string) string { return env[k] }, io.Discard, io.Discard)
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	}()

	var conns atomic.Int32
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conns.Add(1)
			}
			return c, err
		}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := "https://" + addr
	waitReady(t, client, base)

	// The plain-HTTP client of a browser typing the address gets no answer.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the TLS listener answered plain HTTP")
		}
	}

	var owner struct {
		AccessToken string `json:"access_token"`
	}
	doJSON(t, client, "POST", base+"/api/v1/tenants", "", `{"slug":"acme","name":"Acme","admin":{"username":"alice","password":"correct-horse-battery"}}`, &owner)
	var room struct {
		ID string `json:"id"`
	}
	doJSON(t, client, "POST", base+"/api/v1/rooms", owner.AccessToken, `{"name":"general"}`, &room)

	req, _ := http.NewRequest("GET", base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+owner.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d over %s, %v", resp.StatusCode, resp.Proto, resp.Header)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	doJSON(t, client, "POST", base+"/api/v1/rooms/"+room.ID+"/messages", owner.AccessToken, `{"body":"over h2"}`, nil)
	for got := false; !got; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the message came")
			}
			got = strings.HasPrefix(line, "data: ") && strings.Contains(line, `"body":"over h2"`)
		case <-time.After(10 * time.Second):
			t.Fatal("no message on the stream")
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the client opened %d connections, want one for everything", n)
	}

	stop()
	for range lines { // the server ends the stream as it shuts down
	}
}

func waitReady(t *testing.T, client *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if resp.ProtoMajor != 2 {
					t.Fatalf("readyz answered over %s, want HTTP/2.0", resp.Proto)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s did not become ready: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func doJSON(t *testing.T, client *http.Client, method, url, token, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: %d over %s: %s", method, url, resp.StatusCode, resp.Proto, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

// A certificate that cannot be read stops the server at start with the reason.
func TestServeWithAMissingCertificateFails(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	env := map[string]string{"PARLEY_TLS_CERT": missing, "PARLEY_TLS_KEY": missing, "PARLEY_METRICS_LISTEN": "127.0.0.1:0"}
	err := run(context.Background(), []string{"serve", "-listen", "127.0.0.1:0", "-data-dir", dir, "-log-level", "error"},
		func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("serve with a missing certificate: %v", err)
	}
}
