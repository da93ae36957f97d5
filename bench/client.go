package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// API is a small JSON client for the Parley HTTP API. Every connection it
// makes dials the checked loopback address, whatever the URL says.
type API struct {
	t  Target
	hc *http.Client
}

// NewAPI returns a client with up to maxConns keep-alive connections.
func NewAPI(t Target, maxConns int) *API {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	addr := t.Addr.String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     false,
	}
	return &API{t: t, hc: &http.Client{Transport: tr, Timeout: 120 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Close drops idle connections.
func (a *API) Close() { a.hc.CloseIdleConnections() }

// APIError is a non-2xx answer, kept whole so that a contract deviation can be
// reported with the exact request and response.
type APIError struct {
	Method, Path string
	Request      string
	Status       int
	Code         string
	Body         string
	RetryAfter   time.Duration
}

func (e *APIError) Error() string {
	req := e.Request
	if len(req) > 300 {
		req = req[:300] + "…"
	}
	body := e.Body
	if len(body) > 500 {
		body = body[:500] + "…"
	}
	return fmt.Sprintf("%s %s %s -> %d %s", e.Method, e.Path, req, e.Status, strings.TrimSpace(body))
}

// Do sends in (if not nil) as JSON with the bearer credential, and decodes a
// 2xx answer into out (if not nil). It returns the status code.
func (a *API) Do(ctx context.Context, method, path, bearer string, in, out any) (int, error) {
	var body io.Reader
	var reqText []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		reqText = b
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.t.Base+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Method: method, Path: path, Request: redact(reqText), Status: resp.StatusCode, Body: string(rb)}
		var env struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(rb, &env) == nil {
			e.Code = env.Error.Code
		}
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				e.RetryAfter = time.Duration(n) * time.Second
			}
		}
		return resp.StatusCode, e
	}
	if out != nil && len(rb) > 0 {
		if err := json.Unmarshal(rb, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %d answer %q: %v", method, path, resp.StatusCode, trunc(rb, 300), err)
		}
	}
	return resp.StatusCode, nil
}

// DoRetry is Do with up to attempts tries on 429 (honouring Retry-After, at most
// 5 s a wait), 502/503/504 and connection errors.
func (a *API) DoRetry(ctx context.Context, attempts int, method, path, bearer string, in, out any) (int, error) {
	var st int
	var err error
	for i := 0; i < attempts; i++ {
		st, err = a.Do(ctx, method, path, bearer, in, out)
		if err == nil {
			return st, nil
		}
		wait := time.Duration(100*(i+1)) * time.Millisecond
		switch e := err.(type) {
		case *APIError:
			if e.Status != 429 && e.Status != 502 && e.Status != 503 && e.Status != 504 {
				return st, err
			}
			if e.RetryAfter > 0 {
				wait = min(e.RetryAfter, 5*time.Second)
			}
		}
		if ctx.Err() != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(wait):
		}
	}
	return st, err
}

func redact(b []byte) string {
	s := string(b)
	// Never echo passwords into reports.
	if i := strings.Index(s, `"password":"`); i >= 0 {
		j := strings.IndexByte(s[i+12:], '"')
		if j >= 0 {
			s = s[:i+12] + "***" + s[i+12+j:]
		}
	}
	return s
}

func trunc(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func newGet(ctx context.Context, a *API, path string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, "GET", a.t.Base+path, nil)
}
