package api_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/store"
)

const wait = 5 * time.Second

type room struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Topic       string `json:"topic"`
	Visibility  string `json:"visibility"`
	Archived    bool   `json:"archived"`
	MemberCount int64  `json:"member_count"`
	MyRole      string `json:"my_role"`
	LastSeq     int64  `json:"last_seq"`
	Unread      int64  `json:"unread"`
}

type message struct {
	ID       string `json:"id"`
	RoomID   string `json:"room_id"`
	Seq      int64  `json:"seq"`
	Body     string `json:"body"`
	ClientID string `json:"client_id"`
	Deleted  bool   `json:"deleted"`
	EditedAt string `json:"edited_at"`
	Author   struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"author"`
}

type messageEvent struct {
	RoomID  string  `json:"room_id"`
	Message message `json:"message"`
}

type page struct {
	Messages []message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

func createRoom(t *testing.T, s *testkit.Server, u testkit.User, name, visibility string) room {
	t.Helper()
	var r room
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", u.Token, map[string]string{"name": name, "visibility": visibility}, &r)
	return r
}

func addMember(t *testing.T, s *testkit.Server, by testkit.User, roomID, userID, role string) {
	t.Helper()
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+roomID+"/members/"+userID, by.Token, map[string]string{"role": role}, nil)
}

func post(t *testing.T, s *testkit.Server, u testkit.User, roomID, body string) message {
	t.Helper()
	var m message
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+roomID+"/messages", u.Token, map[string]string{"body": body}, &m)
	return m
}

func history(t *testing.T, s *testkit.Server, u testkit.User, roomID, query string) page {
	t.Helper()
	var p page
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+roomID+"/messages"+query, u.Token, nil, &p)
	return p
}

// expectMessage reads events until a message.created arrives and checks its body.
func expectMessage(t *testing.T, st *testkit.Stream, body string) testkit.Event {
	t.Helper()
	ev := st.NextNamed(t, "message.created", wait)
	var me messageEvent
	ev.Decode(t, &me)
	if me.Message.Body != body {
		t.Fatalf("got message %q, want %q", me.Message.Body, body)
	}
	return ev
}

// expectSilence checks that no event arrives for a while.
func expectSilence(t *testing.T, st *testkit.Stream, d time.Duration) {
	t.Helper()
	if ev, ok := st.TryNext(d); ok {
		t.Fatalf("expected no event, got %s %s", ev.Name, ev.Data)
	}
}

func TestTwoUsersChatLiveAndOutsidersSeeNothing(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol") // same tenant, not a member
	mallory := s.CreateTenant(t, "other", "mallory")

	general := createRoom(t, s, alice, "general", "private")
	addMember(t, s, alice, general.ID, bob.ID, "member")

	aliceStream := s.Open(t, "/api/v1/events", alice.Token, "")
	bobStream := s.Open(t, "/api/v1/rooms/"+general.ID+"/events?token="+bob.Token, "", "")
	carolStream := s.Open(t, "/api/v1/events", carol.Token, "")
	malloryStream := s.Open(t, "/api/v1/events", mallory.Token, "")
	for _, st := range []*testkit.Stream{aliceStream, bobStream, carolStream, malloryStream} {
		if st.Status != http.StatusOK {
			t.Fatalf("stream status %d", st.Status)
		}
		if ct := st.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		if st.Header.Get("Cache-Control") != "no-cache" || st.Header.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("stream headers %v", st.Header)
		}
	}

	post(t, s, alice, general.ID, "hi bob")
	expectMessage(t, bobStream, "hi bob")
	expectMessage(t, aliceStream, "hi bob")
	post(t, s, bob, general.ID, "hi alice")
	expectMessage(t, aliceStream, "hi alice")
	expectMessage(t, bobStream, "hi alice")
	if bobStream.Retry != "3000" {
		t.Fatalf("retry = %q, want 3000", bobStream.Retry)
	}

	expectSilence(t, carolStream, 300*time.Millisecond)
	expectSilence(t, malloryStream, 50*time.Millisecond)

	// Outsiders cannot read, post, or open the room's stream: the private room does not exist for them.
	for _, u := range []testkit.User{carol, mallory} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/v1/rooms/" + general.ID},
			{"GET", "/api/v1/rooms/" + general.ID + "/messages"},
			{"GET", "/api/v1/rooms/" + general.ID + "/members"},
			{"POST", "/api/v1/rooms/" + general.ID + "/join"},
		} {
			if r := s.Do(t, req.method, req.path, u.Token, nil); r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
				t.Errorf("%s %s as %s: %d %s", req.method, req.path, u.Username, r.Status, r.Body)
			}
		}
		r := s.Do(t, "POST", "/api/v1/rooms/"+general.ID+"/messages", u.Token, map[string]string{"body": "let me in"})
		if r.Status != http.StatusNotFound {
			t.Errorf("post as %s: %d %s", u.Username, r.Status, r.Body)
		}
		if st := s.Open(t, "/api/v1/rooms/"+general.ID+"/events", u.Token, ""); st.Status != http.StatusNotFound {
			t.Errorf("room stream as %s: %d", u.Username, st.Status)
		}
	}
	if got := history(t, s, alice, general.ID, "").Messages; len(got) != 2 {
		t.Fatalf("history has %d messages, want 2", len(got))
	}
}

func TestResumeAfterConcurrentPostsDeliversExactlyTheMissedOnes(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	room1 := createRoom(t, s, alice, "one", "public")
	room2 := createRoom(t, s, alice, "two", "public")
	posters := make([]testkit.User, 4)
	for i := range posters {
		posters[i] = s.Signup(t, "acme", fmt.Sprintf("poster%d", i))
		for _, r := range []room{room1, room2} {
			s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", posters[i].Token, nil, nil)
		}
	}
	st := s.Open(t, "/api/v1/events", alice.Token, "")
	post(t, s, alice, room1.ID, "before")
	cursor := expectMessage(t, st, "before").ID
	st.Close()

	const total = 100
	var wg sync.WaitGroup
	for i, p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; n < total; n += len(posters) {
				r := []room{room1, room2}[n%2]
				post(t, s, p, r.ID, fmt.Sprintf("m%d", n))
			}
		}()
	}
	// Reconnect while the posters are still posting: replay must hand over to live without gap or duplicate.
	time.Sleep(20 * time.Millisecond)
	resumed := s.Open(t, "/api/v1/events", alice.Token, cursor)
	wg.Wait()

	expectGapless(t, resumed, total, map[string]int64{room1.ID: 1, room2.ID: 0})
	expectSilence(t, resumed, 200*time.Millisecond)
}

// expectGapless reads n message.created events and fails on a duplicate, a
// room's seq not one more than the last (lastSeq: each room's seq before the
// first), or an event id not above the one before.
func expectGapless(t *testing.T, st *testkit.Stream, n int, lastSeq map[string]int64) {
	t.Helper()
	seen := map[string]bool{}
	var lastID int64
	for len(seen) < n {
		ev := st.NextNamed(t, "message.created", wait)
		var me messageEvent
		ev.Decode(t, &me)
		if seen[me.Message.Body] {
			t.Fatalf("duplicate %s", me.Message.Body)
		}
		seen[me.Message.Body] = true
		if me.Message.Seq != lastSeq[me.RoomID]+1 {
			t.Fatalf("room %s: seq %d after %d", me.RoomID, me.Message.Seq, lastSeq[me.RoomID])
		}
		lastSeq[me.RoomID] = me.Message.Seq
		var id int64
		fmt.Sscan(ev.ID, &id)
		if id <= lastID {
			t.Fatalf("event ids out of order: %d after %d", id, lastID)
		}
		lastID = id
	}
}

func TestRemovedMemberGetsRoomLeftAndNothingAfter(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, r.ID, bob.ID, "member")
	all := s.Open(t, "/api/v1/events", bob.Token, "")
	one := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", bob.Token, "")
	post(t, s, alice, r.ID, "before")
	expectMessage(t, all, "before")
	expectMessage(t, one, "before")

	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/members/"+bob.ID, alice.Token, nil, nil)
	for _, st := range []*testkit.Stream{all, one} {
		ev := st.NextNamed(t, "room.left", wait)
		var gone struct{ RoomID, Reason string }
		ev.Decode(t, &gone)
	}
	post(t, s, alice, r.ID, "after")
	expectSilence(t, all, 300*time.Millisecond)
	select {
	case <-one.Ended():
	case <-time.After(wait):
		t.Fatal("the one-room stream did not end after room.left")
	}
	if got := s.Do(t, "GET", "/api/v1/rooms/"+r.ID+"/messages", bob.Token, nil); got.Status != http.StatusNotFound {
		t.Fatalf("removed member reads history: %d", got.Status)
	}
}

func TestAddedMemberStartsReceivingWithoutReconnecting(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	st := s.Open(t, "/api/v1/events", bob.Token, "")
	r := createRoom(t, s, alice, "later", "private")
	post(t, s, alice, r.ID, "not for bob yet")
	addMember(t, s, alice, r.ID, bob.ID, "member")
	ev := st.Next(t, wait)
	if ev.Name != "member.joined" {
		t.Fatalf("first event %s %s, want member.joined", ev.Name, ev.Data)
	}
	post(t, s, alice, r.ID, "welcome")
	expectMessage(t, st, "welcome")
}

func TestStalledReaderIsCutOffWhileFastReaderGetsEverything(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.SubscriberQueue = 64
		c.PostLimitUser = limit.Rate{} // this test floods on purpose
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "busy", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)

	stalled := openStalled(t, s, "/api/v1/rooms/"+r.ID+"/events", bob.Token)
	fast := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "")
	// Enough data to fill the stalled socket's buffers many times over.
	big := strings.Repeat("x", 3900)
	const total, posters = 2000, 8
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < total; i += posters {
				post(t, s, alice, r.ID, fmt.Sprintf("%d %s", i, big))
			}
		}()
	}
	for seq := int64(1); seq <= total; seq++ {
		ev := fast.NextNamed(t, "message.created", wait)
		var me messageEvent
		ev.Decode(t, &me)
		if me.Message.Seq != seq {
			t.Fatalf("fast reader got seq %d, want %d", me.Message.Seq, seq)
		}
	}
	wg.Wait()
	deadline := time.Now().Add(wait)
	for s.App.Rooms.Hub().Subscribers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stalled subscriber was not cut off: %d subscribers", s.App.Rooms.Hub().Subscribers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stalled.Close()
}

func TestRestartLosesNoAcknowledgedMessageAndResumes(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "durable", "public")
	st := s.Open(t, "/api/v1/events", alice.Token, "")
	post(t, s, alice, r.ID, "m0")
	cursor := expectMessage(t, st, "m0").ID
	for i := 1; i <= 20; i++ {
		post(t, s, alice, r.ID, fmt.Sprintf("m%d", i))
	}
	s.Restart(t)
	for i := 21; i <= 25; i++ {
		post(t, s, alice, r.ID, fmt.Sprintf("m%d", i))
	}
	resumed := s.Open(t, "/api/v1/events", alice.Token, cursor)
	for i := 1; i <= 25; i++ {
		expectMessage(t, resumed, fmt.Sprintf("m%d", i))
	}
	p := history(t, s, alice, r.ID, "?limit=200")
	if len(p.Messages) != 26 {
		t.Fatalf("history after restart has %d messages, want 26", len(p.Messages))
	}
	for i, m := range p.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("seq gap: message %d has seq %d", i, m.Seq)
		}
	}
}

func TestMessageValidationStoresNothingAndClientIDIsIdempotent(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "checks", "public")
	path := "/api/v1/rooms/" + r.ID + "/messages"
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"empty", map[string]string{"body": ""}, 400, "invalid_request"},
		{"blank", map[string]string{"body": "  \n\t "}, 400, "invalid_request"},
		{"too long", map[string]string{"body": strings.Repeat("é", 4001)}, 413, "too_large"},
		{"unknown field", map[string]any{"body": "x", "pin": true}, 400, "invalid_request"},
		{"wrong type", map[string]any{"body": 42}, 400, "invalid_request"},
		{"malformed", `{"body": "x"`, 400, "invalid_request"},
		{"long client id", map[string]string{"body": "x", "client_id": strings.Repeat("c", 65)}, 400, "invalid_request"},
		{"as_user as a user", map[string]string{"body": "x", "as_user": alice.ID}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Do(t, "POST", path, alice.Token, tc.body)
			if got.Status != tc.status || got.ErrorCode() != tc.code {
				t.Fatalf("status %d %s, want %d %s", got.Status, got.Body, tc.status, tc.code)
			}
		})
	}
	if n := s.Count(t, &store.Message{}); n != 0 {
		t.Fatalf("%d messages stored by rejected posts", n)
	}
	if r := s.DoWith(t, "POST", path, alice.Token, `{"body":"x"}`, map[string]string{"Content-Type": "text/plain"}); r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", r.Status)
	}
	exact := strings.Repeat("界", 4000)
	post(t, s, alice, r.ID, "  "+exact+"  ")

	var first, again message
	s.Must(t, http.StatusCreated, "POST", path, alice.Token, map[string]string{"body": "retry me", "client_id": "phone-1"}, &first)
	s.Must(t, http.StatusOK, "POST", path, alice.Token, map[string]string{"body": "retry me", "client_id": "phone-1"}, &again)
	if first.ID != again.ID || first.Seq != 2 {
		t.Fatalf("retry gave %+v after %+v", again, first)
	}
	if n := s.Count(t, &store.Message{}); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
}

// openStalled opens a stream over a raw connection with a tiny receive buffer
// and never reads from it, like a phone that froze.
func openStalled(t *testing.T, s *testkit.Server, path, token string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer %s\r\n\r\n", path, token)
	deadline := time.Now().Add(wait)
	for s.App.Rooms.Hub().Subscribers() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("stalled stream never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return conn
}
