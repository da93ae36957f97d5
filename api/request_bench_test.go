package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

// BenchmarkRequestPath guards the HTTP request path of an authenticated
// call through the real server (net/http, the whole middleware chain, the
// access log at info, JSON in and out) over keep-alive loopback connections:
// "post" is a message with a fresh client_id (its durable write included),
// "chain" an authenticated GET whose handler does nothing but answer a
// constant (the push key): the chain itself. CPU and allocations per request include the client's share: the
// client is this process.
func BenchmarkRequestPath(b *testing.B) {
	// The server logs at info to io.Discard: the access line is still built.
	s := testkit.Start(b, func(c *config.Config) { c.PostLimitUser = limit.Rate{} })
	owner := s.CreateTenant(b, "bench", "owner")
	var r room
	s.Must(b, http.StatusCreated, "POST", "/api/v1/rooms", owner.Token, map[string]string{"name": "bench", "visibility": "public"}, &r)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	cases := []struct {
		name, method, path string
		want               int
		post               bool
	}{
		{"post", "POST", "/api/v1/rooms/" + r.ID + "/messages", http.StatusCreated, true},
		{"chain", "GET", "/api/v1/push/key", http.StatusOK, false},
	}
	var ids atomic.Int64
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			call := func() error {
				var body io.Reader
				if tc.post {
					n := ids.Add(1)
					buf := strconv.AppendInt([]byte(`{"body":"hello there","client_id":"bench-`), n, 10)
					body = bytes.NewReader(append(buf, `"}`...))
				}
				req, err := http.NewRequest(tc.method, s.URL+tc.path, body)
				if err != nil {
					return err
				}
				req.Header.Set("Authorization", "Bearer "+owner.Token)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					return &statusError{resp.StatusCode}
				}
				return nil
			}
			for range 32 { // warm the caches and connections
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			cpu0 := testkit.CPUTime(b)
			b.ResetTimer()
			for range 16 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := call(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((testkit.CPUTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.status) }
