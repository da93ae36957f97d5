package api_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
)

const refusedMetric = "parley_limit_refused_total"

// expectQuota checks a 403 quota_exceeded answer and that nothing changed.
func expectQuota(t *testing.T, s *testkit.Server, before map[string][]string, r testkit.Response) {
	t.Helper()
	expect(t, r, http.StatusForbidden, "quota_exceeded")
	assertUnchanged(t, s, before)
}

func TestStreamsPerUserCapHoldsUnderParallelOpens(t *testing.T) {
	t.Parallel()
	const streamCap, tries = 3, 12
	s := testkit.Start(t, func(c *config.Config) {
		c.MaxStreamsPerUser = streamCap
		c.PingInterval = 50 * time.Millisecond // so a stream whose client left is noticed quickly
	})
	alice := s.CreateTenant(t, "streams", "alice")
	bob := s.Signup(t, "streams", "bob")
	rm := createRoom(t, s, alice, "general", "public")

	// Opened all at once, half of them on the room's own stream: exactly
	// streamCap get through.
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		streams = make([]*testkit.Stream, tries)
	)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			path := "/api/v1/events"
			if i%2 == 1 {
				path = "/api/v1/rooms/" + rm.ID + "/events"
			}
			streams[i] = s.Open(t, path, alice.Token, "")
		}()
	}
	close(start)
	wg.Wait()
	var open []*testkit.Stream
	for _, st := range streams {
		switch st.Status {
		case http.StatusOK:
			open = append(open, st)
		case http.StatusTooManyRequests:
			if ra, err := strconv.Atoi(st.Header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("429 without a Retry-After: %q", st.Header.Get("Retry-After"))
			}
		default:
			t.Errorf("stream answered %d", st.Status)
		}
	}
	if len(open) != streamCap {
		t.Fatalf("%d of %d parallel streams opened, want exactly %d", len(open), tries, streamCap)
	}
	r := s.Do(t, "GET", "/api/v1/events", alice.Token, nil)
	expect(t, r, http.StatusTooManyRequests, "too_many_streams")
	if got := s.Metric(t, refusedMetric, "limit", "streams_per_user"); got != tries-streamCap+1 {
		t.Errorf("%s{limit=streams_per_user} = %v, want %d", refusedMetric, got, tries-streamCap+1)
	}

	// The streams that are open work, and the cap is per user.
	bobs := s.Open(t, "/api/v1/events", bob.Token, "")
	if bobs.Status != http.StatusOK {
		t.Fatalf("bob's stream: %d", bobs.Status)
	}
	post(t, s, alice, rm.ID, "still live")
	for _, st := range open {
		expectMessage(t, st, "still live")
	}
	if n := s.App.Rooms.Hub().Subscribers(); n != streamCap+1 {
		t.Errorf("the hub holds %d streams, want %d", n, streamCap+1)
	}

	// Closing a stream frees its place once the server notices (at its next ping).
	open[0].Close()
	openOnceFree(t, s, alice.Token)
}

// openOnceFree opens a stream on s as soon as the user has a free place
// (one of their streams was closed, and the node that served it noticed).
func openOnceFree(t *testing.T, s *testkit.Server, token string) *testkit.Stream {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Open(t, "/api/v1/events", token, "")
		if st.Status == http.StatusOK {
			return st
		}
		st.Close()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's place never came free")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCapsOnRoomsUsersMembersAndKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limit  string
		config func(*config.Config)
		run    func(t *testing.T, s *testkit.Server)
	}{
		{"rooms per tenant", "rooms_per_tenant", func(c *config.Config) { c.MaxRoomsPerTenant = 2 }, func(t *testing.T, s *testkit.Server) {
			alice := s.CreateTenant(t, "acme", "alice")
			bob := s.Signup(t, "acme", "bob")
			key := createKey(t, s, alice.Token, "rooms:write")
			// Direct messages are not rooms of the tenant's quota (rooms_per_user holds them).
			s.Must(t, http.StatusCreated, "POST", "/api/v1/dms", alice.Token, map[string]string{"user_id": bob.ID}, nil)
			createRoom(t, s, alice, "one", "public")
			two := createRoom(t, s, bob, "two", "private")
			before := snapshot(t, s)
			for _, token := range []string{alice.Token, bob.Token, key} {
				expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/rooms", token, map[string]string{"name": "three"}))
			}
			// Per tenant: another tenant is not affected; deleting a room frees a place.
			other := s.CreateTenant(t, "other", "olga")
			createRoom(t, s, other, "three", "public")
			s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+two.ID, bob.Token, nil, nil)
			createRoom(t, s, bob, "three", "public")
		}},
		{"users per tenant", "users_per_tenant", func(c *config.Config) { c.MaxUsersPerTenant = 3 }, func(t *testing.T, s *testkit.Server) {
			alice := s.CreateTenant(t, "acme", "alice")
			key := createKey(t, s, alice.Token, "users:write") // its bot user is not a person: not counted
			s.Signup(t, "acme", "bob")
			s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "carol"}, nil)
			before := snapshot(t, s)
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/auth/signup", "",
				map[string]string{"tenant": "acme", "username": "dave", "password": testkit.Password}))
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "dave"}))
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/users", key, map[string]string{"username": "dave"}))
			s.CreateTenant(t, "other", "olga")
			s.Signup(t, "other", "dave")
		}},
		{"members per room", "members_per_room", func(c *config.Config) { c.MaxMembersPerRoom = 2 }, func(t *testing.T, s *testkit.Server) {
			alice := s.CreateTenant(t, "acme", "alice")
			bob := s.Signup(t, "acme", "bob")
			carol := s.Signup(t, "acme", "carol")
			rm := createRoom(t, s, alice, "general", "public")
			s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+rm.ID+"/join", bob.Token, nil, nil)
			before := snapshot(t, s)
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/rooms/"+rm.ID+"/join", carol.Token, nil))
			expectQuota(t, s, before, s.Do(t, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+carol.ID, alice.Token, map[string]string{"role": "member"}))
			// A member's new role is no new member.
			addMember(t, s, alice, rm.ID, bob.ID, "moderator")
			s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, bob.Token, nil, nil)
			s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+rm.ID+"/join", carol.Token, nil, nil)
		}},
		{"rooms per user", "rooms_per_user", func(c *config.Config) { c.MaxRoomsPerUser = 2 }, func(t *testing.T, s *testkit.Server) {
			alice := s.CreateTenant(t, "acme", "alice")
			bob := s.Signup(t, "acme", "bob")
			mine := createRoom(t, s, bob, "bobs", "public")
			createRoom(t, s, bob, "more", "public")
			open := createRoom(t, s, alice, "open", "public")
			before := snapshot(t, s)
			// Creating a room makes its creator a member: refused whole, no room left behind.
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/rooms", bob.Token, map[string]string{"name": "third"}))
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/rooms/"+open.ID+"/join", bob.Token, nil))
			expectQuota(t, s, before, s.Do(t, "PUT", "/api/v1/rooms/"+open.ID+"/members/"+bob.ID, alice.Token, map[string]string{"role": "member"}))
			s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+mine.ID+"/members/"+bob.ID, bob.Token, nil, nil)
			s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+open.ID+"/join", bob.Token, nil, nil)
		}},
		{"API keys per tenant", "api_keys_per_tenant", func(c *config.Config) { c.MaxAPIKeysPerTenant = 2 }, func(t *testing.T, s *testkit.Server) {
			alice := s.CreateTenant(t, "acme", "alice")
			var first struct {
				ID string `json:"id"`
			}
			s.Must(t, http.StatusCreated, "POST", "/api/v1/apikeys", alice.Token, map[string]any{"name": "one", "scopes": []string{"rooms:write"}}, &first)
			createKey(t, s, alice.Token, "rooms:write")
			before := snapshot(t, s)
			expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/apikeys", alice.Token, map[string]any{"name": "three", "scopes": []string{"rooms:write"}}))
			s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+first.ID, alice.Token, nil, nil)
			createKey(t, s, alice.Token, "rooms:write")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.Start(t, tc.config)
			tc.run(t, s)
			if s.Metric(t, refusedMetric, "limit", tc.limit) == 0 {
				t.Errorf("%s{limit=%q} did not count the refusals", refusedMetric, tc.limit)
			}
		})
	}
}
