package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

type batchResult struct {
	Results []struct {
		Created bool    `json:"created"`
		Message message `json:"message"`
	} `json:"results"`
}

// item is one message of a batch.
func item(body, clientID string, more ...string) map[string]string {
	m := map[string]string{"body": body, "client_id": clientID}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

func batchOf(items ...map[string]string) map[string]any { return map[string]any{"messages": items} }

// A tenant back end posts many messages in one request: one durable write,
// each message its own seq and message.created, in order; a retried batch
// stores nothing twice.
func TestBatchPostIsOneWriteInOrderAndIdempotent(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "feed", "private")
	addMember(t, s, alice, r.ID, bob.ID, "member")
	key := createKey(t, s, alice.Token, "messages:write")
	path := "/api/v1/rooms/" + r.ID + "/messages/batch"
	st := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", bob.Token, "")

	var first batchResult
	s.Must(t, http.StatusCreated, "POST", path, key, batchOf(
		item("one", "b-1"), item("two", "b-2", "as_user", bob.ID), item("three", "")), &first)
	if len(first.Results) != 3 {
		t.Fatalf("results %+v", first.Results)
	}
	for i, res := range first.Results {
		if !res.Created || res.Message.Seq != int64(i+1) || res.Message.Body != []string{"one", "two", "three"}[i] {
			t.Errorf("result %d = %+v", i, res)
		}
	}
	if first.Results[1].Message.Author.ID != bob.ID {
		t.Errorf("as_user author %+v", first.Results[1].Message.Author)
	}
	for _, body := range []string{"one", "two", "three"} {
		expectMessage(t, st, body)
	}

	// The same batch again: the client_ids find their first messages.
	var again batchResult
	s.Must(t, http.StatusOK, "POST", path, key, batchOf(item("one", "b-1"), item("two", "b-2", "as_user", bob.ID)), &again)
	for i, res := range again.Results {
		if res.Created || res.Message.ID != first.Results[i].Message.ID {
			t.Errorf("retried result %d = %+v", i, res)
		}
	}
	// Partly retried: only the new one is stored, with the next seq.
	var mixed batchResult
	s.Must(t, http.StatusCreated, "POST", path, key, batchOf(item("one", "b-1"), item("four", "b-4")), &mixed)
	if mixed.Results[0].Created || !mixed.Results[1].Created || mixed.Results[1].Message.Seq != 4 {
		t.Fatalf("mixed %+v", mixed.Results)
	}
	expectMessage(t, st, "four")
	if p := history(t, s, bob, r.ID, ""); len(p.Messages) != 4 {
		t.Fatalf("history has %d messages, want 4", len(p.Messages))
	}
	if got := searchFor(t, s, bob, "q=three").bodies(); len(got) != 1 || got[0] != "three" {
		t.Fatalf("search finds %q, want the batch's message", got)
	}

	// A member may post a batch into their room.
	var mine batchResult
	s.Must(t, http.StatusCreated, "POST", path, bob.Token, batchOf(item("mine", "m-1"), item("too", "m-2")), &mine)
	if mine.Results[1].Message.Seq != 6 || mine.Results[1].Message.Author.ID != bob.ID {
		t.Fatalf("member's batch %+v", mine.Results)
	}
	// 100 messages of 4,000 characters: the body may pass 1 MiB.
	long := strings.Repeat("界", 4000) // 12,000 bytes
	var many []map[string]string
	for i := range 100 {
		many = append(many, item(long, fmt.Sprint("big-", i)))
	}
	var big batchResult
	s.Must(t, http.StatusCreated, "POST", path, key, batchOf(many...), &big)
	if n := len(big.Results); n != 100 || big.Results[99].Message.Seq != 106 {
		t.Fatalf("%d results, last %+v", n, big.Results[n-1].Message)
	}
}

// One bad item refuses the whole batch, naming its index, and stores nothing.
func TestBatchPostRefusesABadItemAndStoresNothing(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol") // not a member
	r := createRoom(t, s, alice, "feed", "private")
	addMember(t, s, alice, r.ID, bob.ID, "member")
	key := createKey(t, s, alice.Token, "messages:write")
	archived := createRoom(t, s, alice, "old", "private")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+archived.ID, alice.Token, map[string]any{"archived": true}, nil)
	path := "/api/v1/rooms/" + r.ID + "/messages/batch"
	var tooMany []map[string]string
	for i := range 101 {
		tooMany = append(tooMany, item("x", fmt.Sprint(i)))
	}
	good := item("fine", "g-1")
	tests := []struct {
		name   string
		token  string
		path   string
		body   any
		status int
		field  string
	}{
		{"empty body", key, path, batchOf(good, item("", "e")), 400, "messages[1].body"},
		{"too long body", key, path, batchOf(good, item("x", "l"), item(strings.Repeat("é", 4001), "")), 400, "messages[2].body"},
		{"long client_id", key, path, batchOf(item("x", strings.Repeat("c", 65))), 400, "messages[0].client_id"},
		{"client_id repeated", key, path, batchOf(good, item("again", "g-1")), 400, "messages[1].client_id"},
		{"as_user not a member", key, path, batchOf(good, item("x", "", "as_user", carol.ID)), 403, "messages[1].as_user"},
		{"as_user unknown", key, path, batchOf(item("x", "", "as_user", "nobody")), 404, "messages[0].as_user"},
		{"as_user as a user", bob.Token, path, batchOf(item("x", "", "as_user", bob.ID)), 400, "messages[0].as_user"},
		{"reply_to elsewhere", key, path, batchOf(good, item("x", "", "reply_to", "nope")), 400, "messages[1].reply_to"},
		{"no messages", key, path, batchOf(), 400, "messages"},
		{"more than 100", key, path, batchOf(tooMany...), 400, "messages"},
		{"unknown field", key, path, map[string]any{"messages": []any{map[string]any{"body": "x", "pin": true}}}, 400, "pin"},
		{"not a member", carol.Token, path, batchOf(good), 404, ""},
		{"archived room", key, "/api/v1/rooms/" + archived.ID + "/messages/batch", batchOf(good), 403, ""},
	}
	before := snapshot(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Do(t, "POST", tc.path, tc.token, tc.body)
			if got.Status != tc.status || errorOf(t, got).Error.Field != tc.field {
				t.Fatalf("status %d %s, want %d naming %q", got.Status, got.Body, tc.status, tc.field)
			}
		})
	}
	assertUnchanged(t, s, before)
}

// Every message of a batch counts against the poster's rate limit, all or
// none; a batch larger than the whole allowance is a bad request.
func TestBatchPostCountsEachMessageAgainstThePostLimit(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.PostLimitKey = limit.Rate{N: 10, Per: time.Hour} })
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "feed", "private")
	key := createKey(t, s, alice.Token, "messages:write")
	path := "/api/v1/rooms/" + r.ID + "/messages/batch"
	batch := func(n int, prefix string) map[string]any {
		var items []map[string]string
		for i := range n {
			items = append(items, item("x", fmt.Sprint(prefix, i)))
		}
		return batchOf(items...)
	}
	s.Must(t, http.StatusCreated, "POST", path, key, batch(6, "a"), nil)
	before := snapshot(t, s)
	got := s.Do(t, "POST", path, key, batch(6, "b")) // 4 left
	if got.Status != http.StatusTooManyRequests || got.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s", got.Status, got.Body)
	}
	if got := s.Do(t, "POST", path, key, batch(11, "c")); got.Status != http.StatusBadRequest || errorOf(t, got).Error.Field != "messages" {
		t.Fatalf("larger than the allowance: %d %s", got.Status, got.Body)
	}
	assertUnchanged(t, s, before)
	s.Must(t, http.StatusCreated, "POST", path, key, batch(4, "d"), nil)
	expect(t, s.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", key, map[string]string{"body": "one more"}), http.StatusTooManyRequests, "rate_limited")
}
