package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
	"parley/internal/testkit/pgtest"
)

// startNodes starts n nodes sharing one fresh PostgreSQL database and one
// signing key (a token of one node is good on all), as a cluster runs them;
// opts adjust every node's config alike.
func startNodes(t *testing.T, n int, opts ...func(*config.Config)) []*testkit.Server {
	t.Helper()
	dsn := pgtest.Fresh(t)
	opts = append([]func(*config.Config){func(c *config.Config) {
		c.DatabaseURL = dsn
		c.JWTKey = strings.Repeat("k", 32)
	}}, opts...)
	nodes := make([]*testkit.Server, n)
	for i := range nodes {
		nodes[i] = testkit.Start(t, opts...)
	}
	return nodes
}

// Log-in attempts count on the database the nodes share: guesses spread
// over two nodes meet the account's limit as they would on one.
func TestNodesShareTheLogInLimit(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2) // login_limit_account: 5, then 1 every 30 s
	nodes[0].CreateTenant(t, "acme", "alice")
	login := func(node *testkit.Server, password string) testkit.Response {
		return node.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": password})
	}
	for i := range 5 { // three guesses on one node, two on the other
		expect(t, login(nodes[i%2], "wrong-horse-battery"), http.StatusUnauthorized, "unauthenticated")
	}
	for _, node := range nodes {
		r := login(node, testkit.Password)
		expect(t, r, http.StatusTooManyRequests, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
}

// The streams-per-user cap counts every node's streams, and a place given
// back on one node is free on the others.
func TestNodesShareTheStreamsCap(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2, func(c *config.Config) {
		c.MaxStreamsPerUser = 3
		c.PingInterval = 50 * time.Millisecond // so a stream whose client left is noticed quickly
	})
	alice := nodes[0].CreateTenant(t, "acme", "alice")
	bob := nodes[0].Signup(t, "acme", "bob")
	var open []*testkit.Stream
	for i, node := range []*testkit.Server{nodes[0], nodes[1], nodes[0]} {
		st := node.Open(t, "/api/v1/events", alice.Token, "")
		if st.Status != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, st.Status)
		}
		open = append(open, st)
	}
	for _, node := range nodes {
		expect(t, node.Do(t, "GET", "/api/v1/events", alice.Token, nil), http.StatusTooManyRequests, "too_many_streams")
	}
	if st := nodes[1].Open(t, "/api/v1/events", bob.Token, ""); st.Status != http.StatusOK {
		t.Fatalf("bob's stream, capped by alice's: %d", st.Status)
	}

	// A stream closed on the first node frees its place for the second once
	// the first notices (at its next write) and gives the place back.
	open[0].Close()
	openOnceFree(t, nodes[1], alice.Token)
	expect(t, nodes[0].Do(t, "GET", "/api/v1/events", alice.Token, nil), http.StatusTooManyRequests, "too_many_streams")

	// A node that stops gives back the places of its streams at once: the
	// second node holds two of alice's streams, and now has room for one more.
	nodes[0].Stop()
	if st := nodes[1].Open(t, "/api/v1/events", alice.Token, ""); st.Status != http.StatusOK {
		t.Fatalf("a stopped node's stream still counts: %d", st.Status)
	}
	expect(t, nodes[1].Do(t, "GET", "/api/v1/events", alice.Token, nil), http.StatusTooManyRequests, "too_many_streams")
}
