package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

// Sessions, users, keys, rooms and memberships are read through a cache on
// the request path. Each case warms the cache with requests that succeed,
// changes something, and expects the very next request to see the change.
func TestChangesReachTheCachedRequestPath(t *testing.T) {
	t.Parallel()
	type world struct {
		s          *testkit.Server
		alice, bob testkit.User
		room       room
		key        string
	}
	postAs := func(w world, token, body string, extra map[string]string) testkit.Response {
		in := map[string]string{"body": body}
		for k, v := range extra {
			in[k] = v
		}
		return w.s.Do(t, "POST", "/api/v1/rooms/"+w.room.ID+"/messages", token, in)
	}
	tests := []struct {
		name   string
		token  func(world) string
		extra  func(world) map[string]string
		change func(t *testing.T, w world)
		status int // of the request after the change
	}{
		{"user disabled", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"disabled": true}, nil)
		}, http.StatusUnauthorized},
		{"logged out", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", w.bob.Token, map[string]string{"refresh_token": w.bob.RefreshToken}, nil)
		}, http.StatusUnauthorized},
		{"refresh token replayed", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": w.bob.RefreshToken}, nil)
			expect(t, refresh(t, w.s, w.bob.RefreshToken), http.StatusUnauthorized, "unauthenticated")
		}, http.StatusUnauthorized},
		{"member removed", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+w.room.ID+"/members/"+w.bob.ID, w.alice.Token, nil, nil)
		}, http.StatusNotFound},
		{"room archived", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+w.room.ID, w.alice.Token, map[string]any{"archived": true}, nil)
		}, http.StatusForbidden},
		{"room deleted", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+w.room.ID, w.alice.Token, nil, nil)
		}, http.StatusNotFound},
		{"tenant admin demoted", func(w world) string { return w.bob.Token }, nil, func(t *testing.T, w world) {
			// bob posts as a tenant admin, without being a member of the room.
			w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+w.room.ID+"/members/"+w.bob.ID, w.alice.Token, nil, nil)
			w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"role": "admin"}, nil)
			warm(t, w.s, w.bob.Token, w.room.ID)
			w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"role": "member"}, nil)
		}, http.StatusNotFound},
		{"key revoked", func(w world) string { return w.key }, nil, func(t *testing.T, w world) {
			var keys []struct{ ID string }
			w.s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", w.alice.Token, nil, &keys)
			w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+keys[0].ID, w.alice.Token, nil, nil)
		}, http.StatusUnauthorized},
		{"as_user removed from the room", func(w world) string { return w.key },
			func(w world) map[string]string { return map[string]string{"as_user": w.bob.ID} }, func(t *testing.T, w world) {
				w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+w.room.ID+"/members/"+w.bob.ID, w.alice.Token, nil, nil)
			}, http.StatusForbidden},
		{"as_user disabled", func(w world) string { return w.key },
			func(w world) map[string]string { return map[string]string{"as_user": w.bob.ID} }, func(t *testing.T, w world) {
				w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"disabled": true}, nil)
			}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.Start(t)
			w := world{s: s, alice: s.CreateTenant(t, "acme", "alice"), bob: s.Signup(t, "acme", "bob")}
			w.room = createRoom(t, s, w.alice, "team", "private")
			addMember(t, s, w.alice, w.room.ID, w.bob.ID, "member")
			w.key = createKey(t, s, w.alice.Token, "messages:write")
			var extra map[string]string
			if tc.extra != nil {
				extra = tc.extra(w)
			}
			for i := range 3 { // the first fills the cache, the others read it
				if r := postAs(w, tc.token(w), fmt.Sprint("warm ", i), extra); r.Status != http.StatusCreated {
					t.Fatalf("warming post: %d %s", r.Status, r.Body)
				}
			}
			tc.change(t, w)
			if r := postAs(w, tc.token(w), "after the change", extra); r.Status != tc.status {
				t.Fatalf("post after the change: %d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
}

// warm makes requests that fill the cache for token and room.
func warm(t *testing.T, s *testkit.Server, token, roomID string) {
	t.Helper()
	for range 2 {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+roomID+"/messages", token, map[string]string{"body": "warm"}, nil)
	}
}

// What the cache remembers as absent (a non-member, a private room) changes too.
func TestGrantsReachTheCachedRequestPath(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	carol := s.Signup(t, "acme", "carol")
	r := createRoom(t, s, alice, "team", "private")
	for range 2 {
		expect(t, s.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", carol.Token, map[string]string{"body": "no"}), http.StatusNotFound, "not_found")
		expect(t, s.Do(t, "GET", "/api/v1/rooms/"+r.ID, carol.Token, nil), http.StatusNotFound, "not_found")
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+r.ID, alice.Token, map[string]any{"visibility": "public"}, nil)
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+r.ID, carol.Token, nil, nil)
	addMember(t, s, alice, r.ID, carol.ID, "member")
	post(t, s, carol, r.ID, "in")

	// A post shows its author as they are now, not as the cache first saw them.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+carol.ID, alice.Token, map[string]any{"role": "admin"}, nil)
	var m struct {
		Author struct{ Role string } `json:"author"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+r.ID+"/messages", carol.Token, map[string]string{"body": "promoted"}, &m)
	if m.Author.Role != "admin" {
		t.Fatalf("author role %q after the promotion, want admin", m.Author.Role)
	}
}

// A member removed while their posts run has no post committed after the
// removal: every accepted post of theirs comes before member.left in the
// log, and every post sent after the removal returned is refused.
func TestNoPostCommitsAfterTheMemberIsRemoved(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.PostLimitUser = limit.Rate{} }) // posts as fast as they go
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol") // posts meanwhile, into the same writes
	r := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, r.ID, bob.ID, "member")
	addMember(t, s, alice, r.ID, carol.ID, "member")
	log := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "")

	var (
		removed      atomic.Bool
		accepted     atomic.Int64
		mu           sync.Mutex
		acceptedIDs  = map[string]bool{}
		lateAccepted []string
		carolRefused atomic.Int64
	)
	stop := testkit.Loop(8, func(p, i int) {
		if p%4 == 3 {
			if res := s.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", carol.Token, map[string]string{"body": "carol"}); res.Status != http.StatusCreated {
				carolRefused.Add(1)
			}
			return
		}
		after := removed.Load()
		res := s.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", bob.Token,
			map[string]string{"body": fmt.Sprintf("bob %d/%d", p, i), "client_id": fmt.Sprintf("c-%d-%d", p, i)})
		if res.Status != http.StatusCreated {
			return
		}
		var m message
		res.Decode(t, &m)
		accepted.Add(1)
		mu.Lock()
		defer mu.Unlock()
		acceptedIDs[m.ID] = true
		if after {
			lateAccepted = append(lateAccepted, m.ID)
		}
	})
	for accepted.Load() < 20 {
		log.NextNamed(t, "message.created", wait)
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/members/"+bob.ID, alice.Token, nil, nil)
	removed.Store(true)
	for range 20 { // posts sent after the removal returned
		expect(t, s.Do(t, "POST", "/api/v1/rooms/"+r.ID+"/messages", bob.Token, map[string]string{"body": "late"}), http.StatusNotFound, "not_found")
	}
	stop()
	if n := carolRefused.Load(); n > 0 {
		t.Fatalf("%d of carol's posts were refused", n)
	}
	if len(lateAccepted) > 0 {
		t.Fatalf("%d posts sent after the removal returned were accepted", len(lateAccepted))
	}
	post(t, s, alice, r.ID, "end")

	// Replay the whole log in commit order.
	replay := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "0")
	seen, left := 0, false
	for {
		ev := replay.Next(t, wait)
		if ev.Name == "member.left" {
			left = true
			continue
		}
		if ev.Name != "message.created" {
			continue
		}
		var me messageEvent
		if err := json.Unmarshal([]byte(ev.Data), &me); err != nil {
			t.Fatal(err)
		}
		if me.Message.Body == "end" {
			break
		}
		if me.Message.Author.ID != bob.ID {
			continue
		}
		if left {
			t.Fatalf("bob's message %s committed after his removal", me.Message.Body)
		}
		if !acceptedIDs[me.Message.ID] {
			t.Errorf("bob's message %s is in the log but was not acknowledged", me.Message.Body)
		}
		seen++
	}
	if !left || seen != len(acceptedIDs) {
		t.Fatalf("log: member.left seen %v, %d of bob's %d acknowledged messages", left, seen, len(acceptedIDs))
	}
}
