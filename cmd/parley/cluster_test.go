package main

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/testkit"
	"parley/internal/testkit/pgtest"
)

// TestClusterNodeKilledLosesNothingAndItsStreamResumesElsewhere runs three
// node processes on one PostgreSQL database and a NATS server. Posters post
// through all three while a client follows the room on node B; B is killed
// with SIGKILL mid-traffic. Every acknowledged post is stored, seq stays
// gapless, and the client, reconnecting to node C with its Last-Event-ID, gets
// every message it had not seen exactly once and in order, while A and C
// keep committing.
func TestClusterNodeKilledLosesNothingAndItsStreamResumesElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills node processes")
	}
	db := pgtest.Fresh(t)
	nats := testkit.StartNATS(t)
	jwtKey, vapidKey := testkit.ClusterKeys(t)
	env := []string{"PARLEY_DATABASE_URL=" + db, "PARLEY_NATS_URL=" + nats.URL, "PARLEY_JWT_KEY=" + jwtKey,
		"PARLEY_PUSH_VAPID_PRIVATE_KEY=" + vapidKey, "PARLEY_MAX_CONNS_PER_IP=0"}
	var nodes []*testkit.Server
	var children []interface{ Kill() error }
	for range 3 {
		addr := freeAddr(t)
		child := startChild(t, t.TempDir(), addr, env...)
		children = append(children, child.Process)
		nodes = append(nodes, &testkit.Server{URL: "http://" + addr, Client: http.DefaultClient})
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	var owner testkit.TokenResponse
	a.Must(t, http.StatusCreated, "POST", "/api/v1/tenants", "", map[string]any{"slug": "acme", "name": "Acme",
		"admin": map[string]string{"username": "alice", "password": testkit.Password}}, &owner)
	token := owner.AccessToken
	var room struct {
		ID string `json:"id"`
	}
	a.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", token, map[string]string{"name": "durable"}, &room)
	follower := b.Open(t, "/api/v1/rooms/"+room.ID+"/events", token, "")

	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		enough = make(chan struct{})
		once   sync.Once
	)
	var bDead atomic.Bool
	stop := sync.OnceFunc(testkit.Loop(6, func(p, n int) {
		body := fmt.Sprintf("p%d-%d", p, n)
		node := nodes[p%3]
		if p%3 == 1 && bDead.Load() {
			node = nodes[(p/3)%2*2] // B is gone: post through A or C
		}
		if call(t, "POST", node.URL+"/api/v1/rooms/"+room.ID+"/messages", token, map[string]string{"body": body}, nil) == http.StatusCreated {
			mu.Lock()
			acked[body] = true
			if len(acked) >= 100 {
				once.Do(func() { close(enough) })
			}
			mu.Unlock()
		}
	}))
	defer stop()
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("fewer than 100 posts acknowledged within 60s")
	}

	// What the follower has read when its node dies: seq 1..seen, up to cursor.
	var seen int64
	cursor := ""
	read := func(st *testkit.Stream, wait time.Duration) bool {
		ev, ok := st.TryNext(wait)
		if !ok {
			return false
		}
		if ev.Name != "message.created" {
			return true
		}
		var m struct {
			Message struct {
				Seq int64 `json:"seq"`
			} `json:"message"`
		}
		ev.Decode(t, &m)
		if m.Message.Seq != seen+1 {
			t.Fatalf("seq %d after %d (event %s after %s): a gap or a repeat", m.Message.Seq, seen, ev.ID, cursor)
		}
		if prev, _ := strconv.ParseInt(cursor, 10, 64); cursor != "" {
			if id, _ := strconv.ParseInt(ev.ID, 10, 64); id <= prev {
				t.Fatalf("event id %d after %d", id, prev)
			}
		}
		seen, cursor = m.Message.Seq, ev.ID
		return true
	}
	for seen < 20 {
		if !read(follower, 30*time.Second) {
			t.Fatal("the follower on node B received fewer than 20 messages")
		}
	}
	if err := children[1].Kill(); err != nil { // SIGKILL node B: no shutdown, no flush
		t.Fatal(err)
	}
	bDead.Store(true)
	for read(follower, 10*time.Second) { // what B had already written out
	}
	<-follower.Ended()

	// A and C keep committing meanwhile; the client moves to C.
	resumed := c.Open(t, "/api/v1/rooms/"+room.ID+"/events", token, cursor)
	mu.Lock()
	for len(acked) < 300 {
		mu.Unlock()
		if !read(resumed, 30*time.Second) {
			t.Fatal("no progress on the resumed stream")
		}
		mu.Lock()
	}
	mu.Unlock()
	stop()

	var last struct {
		LastSeq int64 `json:"last_seq"`
	}
	c.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+room.ID, token, nil, &last)
	for seen < last.LastSeq {
		if !read(resumed, 30*time.Second) {
			t.Fatalf("the resumed stream stopped at seq %d of %d", seen, last.LastSeq)
		}
	}
	if ev, ok := resumed.TryNext(200 * time.Millisecond); ok && ev.Name == "message.created" {
		t.Fatalf("a message beyond the room's last seq %d: %+v", last.LastSeq, ev)
	}

	// Every acknowledged post is stored.
	stored := map[string]bool{}
	for after := int64(0); ; {
		var page struct {
			Messages []struct {
				Seq  int64  `json:"seq"`
				Body string `json:"body"`
			} `json:"messages"`
			HasMore bool `json:"has_more"`
		}
		a.Must(t, http.StatusOK, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after_seq=%d&limit=200", room.ID, after), token, nil, &page)
		for _, m := range page.Messages {
			stored[m.Body], after = true, m.Seq
		}
		if !page.HasMore {
			break
		}
	}
	for body := range acked {
		if !stored[body] {
			t.Fatalf("acknowledged post %q lost after node B was killed", body)
		}
	}
	t.Logf("%d acknowledged, %d stored; the follower read seq 1..%d across two nodes", len(acked), len(stored), seen)
}
