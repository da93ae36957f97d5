package api_test

import (
	"bufio"
	"fmt"
	"net/http"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

func TestEditsAndDeletionsAreEventsAndResumeErased(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "edits", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)
	st := s.Open(t, "/api/v1/events", bob.Token, "")
	m := post(t, s, alice, r.ID, "draft")
	cursor := expectMessage(t, st, "draft").ID
	st.Close()

	path := "/api/v1/rooms/" + r.ID + "/messages/" + m.ID
	if got := s.Do(t, "PATCH", path, bob.Token, map[string]string{"body": "hijack"}); got.Status != http.StatusForbidden {
		t.Fatalf("bob edits alice's message: %d", got.Status)
	}
	if got := s.Do(t, "DELETE", path, bob.Token, nil); got.Status != http.StatusForbidden {
		t.Fatalf("member deletes another's message: %d", got.Status)
	}
	var edited message
	s.Must(t, http.StatusOK, "PATCH", path, alice.Token, map[string]string{"body": "final"}, &edited)
	if edited.Body != "final" || edited.EditedAt == "" {
		t.Fatalf("edited = %+v", edited)
	}
	m2 := post(t, s, alice, r.ID, "secret")
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/messages/"+m2.ID, alice.Token, nil, nil)

	resumed := s.Open(t, "/api/v1/events", bob.Token, cursor)
	want := []string{"message.updated", "message.created", "message.deleted"}
	for _, name := range want {
		ev := resumed.Next(t, wait)
		if ev.Name != name {
			t.Fatalf("got %s, want %s", ev.Name, name)
		}
		var me messageEvent
		ev.Decode(t, &me)
		if me.Message.ID == m2.ID && (me.Message.Body != "" || !me.Message.Deleted) {
			t.Fatalf("replayed deleted message shows %q deleted=%v", me.Message.Body, me.Message.Deleted)
		}
	}
	p := history(t, s, bob, r.ID, "")
	if len(p.Messages) != 2 || p.Messages[1].Body != "" || !p.Messages[1].Deleted || p.Messages[0].Body != "final" {
		t.Fatalf("history = %+v", p.Messages)
	}
}

func TestModeratorsAndAdminsMayDeleteAnyMessage(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice") // tenant owner
	bob := s.Signup(t, "acme", "bob")
	mod := s.Signup(t, "acme", "mod")
	r := createRoom(t, s, bob, "bobs", "private")
	addMember(t, s, bob, r.ID, mod.ID, "moderator")
	for _, by := range []testkit.User{mod, alice} {
		m := post(t, s, bob, r.ID, "oops")
		s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/messages/"+m.ID, by.Token, nil, nil)
	}
	// A moderator may add members but not make owners, nor remove the owner.
	carol := s.Signup(t, "acme", "carol")
	addMember(t, s, mod, r.ID, carol.ID, "member")
	if got := s.Do(t, "PUT", "/api/v1/rooms/"+r.ID+"/members/"+carol.ID, mod.Token, map[string]string{"role": "owner"}); got.Status != http.StatusForbidden {
		t.Fatalf("moderator makes an owner: %d", got.Status)
	}
	if got := s.Do(t, "DELETE", "/api/v1/rooms/"+r.ID+"/members/"+bob.ID, mod.Token, nil); got.Status != http.StatusForbidden {
		t.Fatalf("moderator removes the owner: %d", got.Status)
	}
	if got := s.Do(t, "PUT", "/api/v1/rooms/"+r.ID+"/members/"+carol.ID, carol.Token, map[string]string{"role": "member"}); got.Status != http.StatusForbidden {
		t.Fatalf("member manages members: %d", got.Status)
	}
	if got := s.Do(t, "PUT", "/api/v1/rooms/"+r.ID+"/members/"+carol.ID, bob.Token, map[string]string{"role": "boss"}); got.Status != http.StatusBadRequest {
		t.Fatalf("unknown role: %d", got.Status)
	}
	// The tenant admin, not a member, may manage the private room.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+r.ID, alice.Token, map[string]string{"name": "renamed"}, nil)
	var members []struct {
		User struct{ Username string } `json:"user"`
		Role string                    `json:"role"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+r.ID+"/members", carol.Token, nil, &members)
	if len(members) != 3 {
		t.Fatalf("members = %+v", members)
	}
	// Carol leaves by herself.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/members/"+carol.ID, carol.Token, nil, nil)
}

func TestArchivedRoomIsReadOnlyAndDeletedRoomEndsStreams(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "old", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)
	m := post(t, s, alice, r.ID, "last words")
	all := s.Open(t, "/api/v1/events", bob.Token, "")
	one := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", bob.Token, "")

	var archived room
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+r.ID, alice.Token, map[string]bool{"archived": true}, &archived)
	if !archived.Archived {
		t.Fatal("room not archived")
	}
	if ev := all.Next(t, wait); ev.Name != "room.updated" {
		t.Fatalf("got %s, want room.updated", ev.Name)
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/rooms/" + r.ID + "/messages", map[string]string{"body": "x"}},
		{"PATCH", "/api/v1/rooms/" + r.ID + "/messages/" + m.ID, map[string]string{"body": "x"}},
	} {
		if got := s.Do(t, req.method, req.path, alice.Token, req.body); got.Status != http.StatusForbidden {
			t.Fatalf("%s in archived room: %d", req.method, got.Status)
		}
	}
	if n := s.Count(t, &store.Message{}); n != 1 {
		t.Fatalf("archived room stored %d messages", n)
	}
	if got := s.Do(t, "PATCH", "/api/v1/rooms/"+r.ID, bob.Token, map[string]string{"name": "mine"}); got.Status != http.StatusForbidden {
		t.Fatalf("member renames room: %d", got.Status)
	}
	if got := s.Do(t, "DELETE", "/api/v1/rooms/"+r.ID, bob.Token, nil); got.Status != http.StatusForbidden {
		t.Fatalf("member deletes room: %d", got.Status)
	}

	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID, alice.Token, nil, nil)
	all.NextNamed(t, "room.deleted", wait)
	one.NextNamed(t, "room.deleted", wait)
	select {
	case <-one.Ended():
	case <-time.After(wait):
		t.Fatal("one-room stream of a deleted room did not end")
	}
	if got := s.Do(t, "GET", "/api/v1/rooms/"+r.ID, alice.Token, nil); got.Status != http.StatusNotFound {
		t.Fatalf("deleted room: %d", got.Status)
	}
	if n := s.Count(t, &store.Message{}); n != 0 {
		t.Fatalf("deleted room left %d messages", n)
	}
}

func TestDisableLogoutAndExpiryEndStreams(t *testing.T) {
	const ttl = 3 * time.Second
	s := testkit.Start(t, func(c *config.Config) { c.AccessTokenTTL = ttl })
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	dave := s.Signup(t, "acme", "dave")
	r := createRoom(t, s, alice, "watch", "public")
	for _, u := range []testkit.User{bob, carol, dave} {
		s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", u.Token, nil, nil)
	}
	// Tokens live only seconds here: each is taken fresh right before its
	// use, so a busy machine cannot expire one early.
	fresh := func(u testkit.User) testkit.TokenResponse {
		return mustLogin(t, s, "acme", u.Username, testkit.Password)
	}
	bobStream := s.Open(t, "/api/v1/events", fresh(bob).AccessToken, "")
	carolLogin := fresh(carol)
	carolStream := s.Open(t, "/api/v1/events?token="+carolLogin.AccessToken, "", "")
	daveStream := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", fresh(dave).AccessToken, "")

	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, fresh(alice).AccessToken, map[string]bool{"disabled": true}, nil)
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", carolLogin.AccessToken, map[string]string{"refresh_token": carolLogin.RefreshToken}, nil)
	for name, st := range map[string]*testkit.Stream{"disabled": bobStream, "logged out": carolStream} {
		select {
		case <-st.Ended():
		case <-time.After(wait):
			t.Fatalf("%s user's stream did not end", name)
		}
	}
	ev := daveStream.NextNamed(t, "token.expired", wait+ttl)
	if ev.Data != "{}" {
		t.Fatalf("token.expired data %q", ev.Data)
	}
	select {
	case <-daveStream.Ended():
	case <-time.After(wait):
		t.Fatal("stream with an expired token did not end")
	}
	if st := s.Open(t, "/api/v1/events", carolLogin.AccessToken, ""); st.Status != http.StatusUnauthorized {
		t.Fatalf("logged-out token opens a stream: %d", st.Status)
	}
}

func TestStreamRejectsBadCursorsAndMissingTokens(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "x", "public")
	cases := []struct {
		name, path, token, cursor string
		status                    int
	}{
		{"no token", "/api/v1/events", "", "", 401},
		{"bad token", "/api/v1/events?token=nope", "", "", 401},
		{"letters cursor", "/api/v1/events", alice.Token, "abc", 400},
		{"negative cursor", "/api/v1/events", alice.Token, "-5", 400},
		{"query cursor", "/api/v1/events?last_event_id=1x", alice.Token, "", 400},
		{"unknown room", "/api/v1/rooms/nope/events", alice.Token, "", 404},
		{"room ok", "/api/v1/rooms/" + r.ID + "/events", alice.Token, "0", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := s.Open(t, tc.path, tc.token, tc.cursor)
			if st.Status != tc.status {
				t.Fatalf("status %d, want %d", st.Status, tc.status)
			}
		})
	}
}

func TestRoomListingUnreadAndHistoryPaging(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	quiet := createRoom(t, s, alice, "quiet", "public")
	busy := createRoom(t, s, alice, "busy", "public")
	hidden := createRoom(t, s, alice, "hidden", "private")
	_ = hidden

	var public []room
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms?scope=public", bob.Token, nil, &public)
	if len(public) != 2 {
		t.Fatalf("bob sees %d joinable rooms, want 2 (private hidden): %+v", len(public), public)
	}
	for _, r := range []room{quiet, busy} {
		s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)
	}
	for i := 0; i < 7; i++ {
		post(t, s, alice, busy.ID, "n")
	}
	var mine []room
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms", bob.Token, nil, &mine)
	if len(mine) != 2 || mine[0].ID != busy.ID || mine[0].Unread != 7 || mine[1].Unread != 0 {
		t.Fatalf("rooms = %+v", mine)
	}
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+busy.ID+"/read", bob.Token, map[string]int{"seq": 5}, nil)
	if got := s.Do(t, "POST", "/api/v1/rooms/"+busy.ID+"/read", bob.Token, map[string]int{"seq": 99}); got.Status != 400 {
		t.Fatalf("read past the end: %d", got.Status)
	}
	var one room
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+busy.ID, bob.Token, nil, &one)
	if one.Unread != 2 || one.LastSeq != 7 || one.MyRole != "member" || one.MemberCount != 2 {
		t.Fatalf("room = %+v", one)
	}

	p := history(t, s, bob, busy.ID, "?limit=3")
	if len(p.Messages) != 3 || p.Messages[0].Seq != 5 || !p.HasMore {
		t.Fatalf("latest page = %+v", p)
	}
	p = history(t, s, bob, busy.ID, "?limit=3&before_seq=5")
	if len(p.Messages) != 3 || p.Messages[0].Seq != 2 || p.Messages[2].Seq != 4 || !p.HasMore {
		t.Fatalf("older page = %+v", p)
	}
	p = history(t, s, bob, busy.ID, "?after_seq=5")
	if len(p.Messages) != 2 || p.Messages[0].Seq != 6 || p.HasMore {
		t.Fatalf("newer page = %+v", p)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?before_seq=x", "?after_seq=-1"} {
		if got := s.Do(t, "GET", "/api/v1/rooms/"+busy.ID+"/messages"+q, bob.Token, nil); got.Status != 400 {
			t.Errorf("%s: %d", q, got.Status)
		}
	}
	for _, body := range []map[string]string{{"name": ""}, {"name": "x", "visibility": "secret"}} {
		if got := s.Do(t, "POST", "/api/v1/rooms", bob.Token, body); got.Status != 400 {
			t.Errorf("create %v: %d", body, got.Status)
		}
	}
}

func TestIdleStreamGetsPingsAndShutdownEndsStreams(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.PingInterval = 50 * time.Millisecond })
	alice := s.CreateTenant(t, "acme", "alice")
	req, err := http.NewRequest("GET", s.URL+"/api/v1/events?token="+alice.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines) // the server ended the stream
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	got := []string{}
	for pings := 0; pings < 2; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended early: %q", got)
			}
			got = append(got, line)
			if line == ": ping" {
				pings++
			}
		case <-time.After(wait):
			t.Fatalf("no pings on an idle stream: %q", got)
		}
	}
	if got[0] != "retry: 3000" {
		t.Fatalf("stream starts with %q", got[0])
	}
	s.Stop()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("shutdown did not end the stream")
		}
	}
}

func TestHistoryAfterSeqZeroStartsAtTheFirstMessage(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "log", "public")
	for range 5 {
		post(t, s, alice, r.ID, "m")
	}
	p := history(t, s, alice, r.ID, "?after_seq=0&limit=2")
	if len(p.Messages) != 2 || p.Messages[0].Seq != 1 || !p.HasMore {
		t.Fatalf("after_seq=0 = %+v", p)
	}
	p = history(t, s, alice, r.ID, "?limit=2")
	if len(p.Messages) != 2 || p.Messages[0].Seq != 4 {
		t.Fatalf("latest page = %+v", p)
	}
}

func TestTenantAdminsListEveryRoom(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	createRoom(t, s, bob, "bobs secret", "private")
	archived := createRoom(t, s, bob, "old news", "public")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+archived.ID, bob.Token, map[string]bool{"archived": true}, nil)
	other := s.CreateTenant(t, "other", "olga")
	createRoom(t, s, other, "elsewhere", "public")

	var all []room
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms?scope=all", alice.Token, nil, &all)
	if len(all) != 2 {
		t.Fatalf("admin sees %d rooms, want both of the tenant's: %+v", len(all), all)
	}
	for _, r := range all {
		if r.MyRole != "" || r.MemberCount != 1 {
			t.Errorf("room %+v", r)
		}
	}
	if got := s.Do(t, "GET", "/api/v1/rooms?scope=all", bob.Token, nil); got.Status != http.StatusForbidden {
		t.Fatalf("member lists all rooms: %d", got.Status)
	}
	if got := s.Do(t, "GET", "/api/v1/rooms?scope=everything", alice.Token, nil); got.Status != http.StatusBadRequest {
		t.Fatalf("unknown scope: %d", got.Status)
	}
}

func TestLoginLimitsFollowTheClientBehindATrustedProxy(t *testing.T) {
	login := func(s *testkit.Server, user, forwardedFor string) int {
		return s.DoWith(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": user, "password": "wrong-password"},
			map[string]string{"X-Forwarded-For": forwardedFor}).Status
	}
	for _, tc := range []struct {
		name    string
		proxies string
		other   int // what a second client gets once the first is limited
	}{
		{"no trusted proxy: X-Forwarded-For is ignored", "", http.StatusTooManyRequests},
		{"trusted proxy: each client is limited alone", "127.0.0.1/8", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.Start(t, func(c *config.Config) { c.TrustedProxies = tc.proxies })
			s.CreateTenant(t, "acme", "alice")
			limited := false
			for i := 0; i < 40 && !limited; i++ {
				limited = login(s, fmt.Sprintf("user%d", i), "10.0.0.1") == http.StatusTooManyRequests
			}
			if !limited {
				t.Fatal("40 failed log-ins from one client were never limited")
			}
			if got := login(s, "someone-else", "10.0.0.2"); got != tc.other {
				t.Fatalf("another client: %d, want %d", got, tc.other)
			}
		})
	}
}
