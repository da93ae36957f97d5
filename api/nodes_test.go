package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/internal/testkit/pgtest"
)

// Several nodes sharing one PostgreSQL database (here: several servers in
// one process, each with its own store and writer) post to one room at once,
// each message twice through two different nodes with the same client_id:
// seq stays gapless, every client_id makes one message, and event ids (the
// stream cursor) follow commit order, which within a room is seq order.
func TestNodesSharingPostgresKeepSeqAndClientID(t *testing.T) {
	dsn := pgtest.Fresh(t)
	shared := func(c *config.Config) {
		c.DatabaseURL = dsn
		c.JWTKey = strings.Repeat("k", 32) // one key: a token of one node is good on all
		c.PostLimitUser, c.PostLimitKey = limit.Rate{}, limit.Rate{}
	}
	first := testkit.Start(t, shared)
	alice := first.CreateTenant(t, "acme", "alice")
	bob := first.Signup(t, "acme", "bob")
	r := createRoom(t, first, alice, "general", "public")
	first.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)
	nodes := []*testkit.Server{first, testkit.Start(t, shared), testkit.Start(t, shared)}

	const perNode = 40
	total := perNode * len(nodes)
	ids := make([][2]string, total)
	var wg sync.WaitGroup
	for i := range total {
		u := []testkit.User{alice, bob}[i%2]
		for try := range 2 {
			node := nodes[(i+try)%len(nodes)]
			wg.Go(func() {
				res := node.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", u.Token,
					map[string]string{"body": fmt.Sprintf("message %d", i), "client_id": fmt.Sprintf("c-%d", i)})
				if res.Status != http.StatusCreated && res.Status != http.StatusOK {
					t.Errorf("post %d try %d: %d %s", i, try, res.Status, res.Body)
					return
				}
				var m message
				res.Decode(t, &m)
				ids[i][try] = m.ID
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, pair := range ids {
		if pair[0] == "" || pair[0] != pair[1] {
			t.Errorf("client_id c-%d made messages %q", i, pair)
		}
	}

	h := history(t, nodes[2], alice, r.ID, "?limit=200")
	if len(h.Messages) != total {
		t.Fatalf("%d messages stored, want %d", len(h.Messages), total)
	}
	seen := map[string]bool{}
	for i, m := range h.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: seq is not gapless", i, m.Seq)
		}
		if seen[m.ClientID] {
			t.Fatalf("client_id %s stored twice", m.ClientID)
		}
		seen[m.ClientID] = true
	}

	// Event ids in commit order: the room's message events, by id, carry
	// its messages in seq order.
	var seqs []int64
	err := first.App.Store.Read(context.Background()).Raw(`SELECT m.seq FROM events e JOIN messages m ON m.id = e.message_id
		WHERE e.room_id = ? AND e.type = 'message.created' ORDER BY e.id`, r.ID).Scan(&seqs).Error
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != total {
		t.Fatalf("%d message events, want %d", len(seqs), total)
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("event %d of the room carries seq %d: ids are not in commit order (%v)", i, seq, seqs)
		}
	}
}

// A NUL character is refused wherever a request carries text (PostgreSQL
// cannot store one, and SQLite answers the same), naming the field.
func TestNULCharactersAreRefused(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "general", "public")
	before := snapshot(t, s)
	for _, c := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/api/v1/rooms/" + r.ID + "/messages", map[string]string{"body": "a\x00b"}, "body"},
		{"POST", "/api/v1/rooms/" + r.ID + "/messages", map[string]string{"body": "ok", "client_id": "c\x00"}, "client_id"},
		{"POST", "/api/v1/rooms/" + r.ID + "/messages/batch", map[string]any{"messages": []map[string]string{{"body": "ok"}, {"body": "\x00"}}}, "messages[1].body"},
		{"GET", "/api/v1/rooms/" + r.ID + "%00", nil, ""},
		{"GET", "/api/v1/search?q=x&before=%00", nil, ""},
	} {
		res := s.Do(t, c.method, c.path, alice.Token, c.body)
		if e := errorOf(t, res); res.Status != http.StatusBadRequest || e.Error.Code != "invalid_request" || e.Error.Field != c.field {
			t.Errorf("%s %s: %d %s, want 400 invalid_request naming %q", c.method, c.path, res.Status, res.Body, c.field)
		}
	}
	assertUnchanged(t, s, before)
	// A backslash followed by u0000 is text like any other.
	var m message
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+r.ID+"/messages", alice.Token, map[string]string{"body": `\u0000`}, &m)
	if m.Body != `\u0000` {
		t.Errorf("body %q", m.Body)
	}
}
