package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
)

// listedRoom is a room as the room list shows it, with the 1.1 fields.
type listedRoom struct {
	room
	Kind          string   `json:"kind"`
	Notifications string   `json:"notifications"`
	LastMessage   *message `json:"last_message"`
	Peer          *struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		Online      bool   `json:"online"`
	} `json:"peer"`
}

func openDM(t *testing.T, s *testkit.Server, u testkit.User, userID string, want int) listedRoom {
	t.Helper()
	var r listedRoom
	s.Must(t, want, "POST", "/api/v1/dms", u.Token, map[string]string{"user_id": userID}, &r)
	return r
}

func myRooms(t *testing.T, s *testkit.Server, u testkit.User) []listedRoom {
	t.Helper()
	var list []listedRoom
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms", u.Token, nil, &list)
	return list
}

func findRoom(list []listedRoom, id string) *listedRoom {
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

func setDisplayName(t *testing.T, s *testkit.Server, u testkit.User, name string) {
	t.Helper()
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/me", u.Token, map[string]string{"display_name": name}, nil)
}

func TestDirectMessages(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice") // tenant owner
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	dave := s.Signup(t, "acme", "dave")
	mallory := s.CreateTenant(t, "other", "mallory")
	setDisplayName(t, s, alice, "Alice A")
	setDisplayName(t, s, bob, "Bob B")
	bobStream := s.Open(t, "/api/v1/events", bob.Token, "")

	dm := openDM(t, s, alice, bob.ID, http.StatusCreated)
	if dm.Kind != "dm" || dm.Visibility != "private" || dm.MemberCount != 2 || dm.Name != "Bob B" || dm.Peer == nil || dm.Peer.ID != bob.ID {
		t.Fatalf("new DM = %+v", dm)
	}
	// Bob's open stream follows the new conversation at once.
	bobStream.NextNamed(t, "member.joined", wait)
	post(t, s, alice, dm.ID, "hi bob, just us")
	expectMessage(t, bobStream, "hi bob, just us")

	// The same pair, from either side, is the same conversation.
	if again := openDM(t, s, bob, alice.ID, http.StatusOK); again.ID != dm.ID || again.Name != "Alice A" || again.Peer.ID != alice.ID {
		t.Fatalf("bob's view of the DM = %+v", again)
	}
	for _, c := range []struct {
		who  testkit.User
		name string
	}{{alice, "Bob B"}, {bob, "Alice A"}} {
		r := findRoom(myRooms(t, s, c.who), dm.ID)
		if r == nil || r.Kind != "dm" || r.Name != c.name || r.LastMessage == nil || r.LastMessage.Body != "hi bob, just us" {
			t.Errorf("%s's list shows the DM as %+v", c.who.Username, r)
		}
	}

	// Misuse is refused and changes nothing.
	key := createKey(t, s, alice.Token, "rooms:write", "messages:write")
	before := snapshot(t, s)
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"another tenant's user", "POST", "/api/v1/dms", alice.Token, map[string]string{"user_id": mallory.ID}, 404},
		{"from another tenant", "POST", "/api/v1/dms", mallory.Token, map[string]string{"user_id": bob.ID}, 404},
		{"unknown user", "POST", "/api/v1/dms", alice.Token, map[string]string{"user_id": unknownID}, 404},
		{"yourself", "POST", "/api/v1/dms", alice.Token, map[string]string{"user_id": alice.ID}, 400},
		{"no user", "POST", "/api/v1/dms", alice.Token, map[string]string{}, 400},
		{"unknown field", "POST", "/api/v1/dms", alice.Token, map[string]string{"user_id": bob.ID, "name": "x"}, 400},
		{"an API key", "POST", "/api/v1/dms", key, map[string]string{"user_id": bob.ID}, 403},
		{"a third member, by a member", "PUT", "/api/v1/rooms/" + dm.ID + "/members/" + carol.ID, bob.Token, map[string]string{"role": "member"}, 409},
		{"a third member, by a tenant owner in it", "PUT", "/api/v1/rooms/" + dm.ID + "/members/" + carol.ID, alice.Token, map[string]string{"role": "member"}, 409},
		{"a role change in a DM", "PUT", "/api/v1/rooms/" + dm.ID + "/members/" + bob.ID, alice.Token, map[string]string{"role": "owner"}, 409},
		{"renaming it", "PATCH", "/api/v1/rooms/" + dm.ID, alice.Token, map[string]string{"name": "ours"}, 409},
		{"an outsider reads it", "GET", "/api/v1/rooms/" + dm.ID + "/messages", carol.Token, nil, 404},
		{"an outsider posts", "POST", "/api/v1/rooms/" + dm.ID + "/messages", carol.Token, map[string]string{"body": "me too"}, 404},
		{"an API key adds someone", "PUT", "/api/v1/rooms/" + dm.ID + "/members/" + carol.ID, key, map[string]string{"role": "member"}, 404},
		{"an API key posts", "POST", "/api/v1/rooms/" + dm.ID + "/messages", key, map[string]string{"body": "bot"}, 404},
	} {
		if r := s.Do(t, c.method, c.path, c.token, c.body); r.Status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.status, r.Body)
		}
	}
	assertUnchanged(t, s, before)

	// A tenant admin who is not in it neither sees it listed nor opens it.
	other := openDM(t, s, bob, carol.ID, http.StatusCreated)
	var all []listedRoom
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms?scope=all", alice.Token, nil, &all)
	if findRoom(all, other.ID) != nil || findRoom(all, dm.ID) == nil {
		t.Errorf("the admin's list of all rooms shows others' DMs or hides her own: %+v", all)
	}
	expect(t, s.Do(t, "GET", "/api/v1/rooms/"+other.ID, alice.Token, nil), http.StatusNotFound, "not_found")

	// A disabled user cannot be written to.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+dave.ID, alice.Token, map[string]any{"disabled": true}, nil)
	expect(t, s.Do(t, "POST", "/api/v1/dms", bob.Token, map[string]string{"user_id": dave.ID}), http.StatusConflict, "conflict")

	// Someone who left is back when the conversation is opened again.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+other.ID+"/members/"+carol.ID, carol.Token, nil, nil)
	if r := openDM(t, s, bob, carol.ID, http.StatusOK); r.ID != other.ID || r.MemberCount != 2 {
		t.Errorf("reopened DM = %+v", r)
	}
}

func TestConcurrentDMStartsMakeOneRoom(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	var wg sync.WaitGroup
	ids := make([]string, 16)
	statuses := make([]int, 16)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := alice, bob
			if i%2 == 1 {
				from, to = bob, alice
			}
			r := s.Do(t, "POST", "/api/v1/dms", from.Token, map[string]string{"user_id": to.ID})
			var got listedRoom
			r.Decode(t, &got)
			ids[i], statuses[i] = got.ID, r.Status
		}()
	}
	wg.Wait()
	created := 0
	for i := range ids {
		if ids[i] != ids[0] || ids[i] == "" {
			t.Fatalf("concurrent starts gave different rooms: %v", ids)
		}
		if statuses[i] == http.StatusCreated {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d of the starts say they created the DM, want 1 (%v)", created, statuses)
	}
	var members []struct{}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+ids[0]+"/members", alice.Token, nil, &members)
	if len(members) != 2 {
		t.Errorf("the DM has %d members", len(members))
	}
}

func TestRoomListShowsLastMessageAndNotificationLevel(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	quiet := createRoom(t, s, alice, "quiet", "public")
	busy := createRoom(t, s, alice, "busy", "private")
	list := myRooms(t, s, alice)
	if r := findRoom(list, quiet.ID); r == nil || r.LastMessage != nil || r.Kind != "room" || r.Notifications != "all" {
		t.Fatalf("a new room lists as %+v", r)
	}
	post(t, s, alice, quiet.ID, "first")
	post(t, s, alice, busy.ID, "second")
	gone := post(t, s, alice, busy.ID, "third")
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+busy.ID+"/messages/"+gone.ID, alice.Token, nil, nil)
	list = myRooms(t, s, alice)
	if list[0].ID != busy.ID || list[1].ID != quiet.ID {
		t.Errorf("the list is not by last activity: %s, %s", list[0].Name, list[1].Name)
	}
	if lm := list[0].LastMessage; lm == nil || !lm.Deleted || lm.Body != "" || lm.Seq != 2 {
		t.Errorf("a deleted last message lists as %+v", lm)
	}
	if lm := list[1].LastMessage; lm == nil || lm.Body != "first" || lm.Author.Username != "alice" {
		t.Errorf("the last message lists as %+v", lm)
	}

	path := "/api/v1/rooms/" + quiet.ID + "/notifications"
	before := snapshot(t, s)
	expect(t, s.Do(t, "PUT", path, alice.Token, map[string]string{"level": "loud"}), http.StatusBadRequest, "invalid_request")
	expect(t, s.Do(t, "PUT", path, alice.Token, map[string]any{}), http.StatusBadRequest, "invalid_request")
	expect(t, s.Do(t, "PUT", path, bob.Token, map[string]string{"level": "none"}), http.StatusForbidden, "forbidden")
	expect(t, s.Do(t, "PUT", "/api/v1/rooms/"+busy.ID+"/notifications", bob.Token, map[string]string{"level": "none"}), http.StatusNotFound, "not_found")
	assertUnchanged(t, s, before)
	for _, level := range []string{"mentions", "none", "all", "none"} {
		s.Must(t, http.StatusNoContent, "PUT", path, alice.Token, map[string]string{"level": level}, nil)
		var got listedRoom
		s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+quiet.ID, alice.Token, nil, &got)
		if got.Notifications != level {
			t.Errorf("after setting %s the room says %q", level, got.Notifications)
		}
	}
}

func TestProfileNameAndPasswordChange(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	laptop := mustLogin(t, s, "acme", "alice", testkit.Password)
	mine := s.Open(t, "/api/v1/events", alice.Token, "")
	other := s.Open(t, "/api/v1/events", laptop.AccessToken, "")

	var u userJSON
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/me", alice.Token, map[string]string{"display_name": "  Alice Liddell "}, &u)
	if u.DisplayName != "Alice Liddell" {
		t.Errorf("display name = %q", u.DisplayName)
	}
	// Her other device hears of it at once.
	ev := other.NextNamed(t, "user.updated", wait)
	if ev.ID != "" || !strings.Contains(ev.Data, "Alice Liddell") {
		t.Errorf("user.updated = %+v", ev)
	}

	before := snapshot(t, s)
	for _, c := range []struct {
		name   string
		path   string
		body   any
		status int
		field  string
	}{
		{"a blank name", "/api/v1/me", map[string]string{"display_name": "   "}, 400, "display_name"},
		{"a long name", "/api/v1/me", map[string]string{"display_name": strings.Repeat("x", 65)}, 400, "display_name"},
		{"a role", "/api/v1/me", map[string]string{"role": "owner"}, 400, "role"},
		{"a wrong current password", "/api/v1/me/password", map[string]string{"current_password": "not-my-password", "new_password": "new-password-1"}, 400, "current_password"},
		{"no current password", "/api/v1/me/password", map[string]string{"new_password": "new-password-1"}, 400, "current_password"},
		{"a short new password", "/api/v1/me/password", map[string]string{"current_password": testkit.Password, "new_password": "short"}, 400, "new_password"},
	} {
		method := "PATCH"
		if strings.HasSuffix(c.path, "password") {
			method = "POST"
		}
		r := s.Do(t, method, c.path, alice.Token, c.body)
		if r.Status != c.status || errorOf(t, r).Error.Field != c.field {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	assertUnchanged(t, s, before)

	s.Must(t, http.StatusNoContent, "POST", "/api/v1/me/password", alice.Token,
		map[string]string{"current_password": testkit.Password, "new_password": "new-password-1"}, nil)
	// Every other login ends, with its streams; this one goes on.
	expect(t, me(t, s, laptop.AccessToken), http.StatusUnauthorized, "unauthenticated")
	expect(t, refresh(t, s, laptop.RefreshToken), http.StatusUnauthorized, "unauthenticated")
	select {
	case <-other.Ended():
	case <-time.After(wait):
		t.Error("the other login's stream is still open")
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", alice.Token, nil, nil)
	select {
	case <-mine.Ended():
		t.Error("the stream of the login that changed the password ended")
	default:
	}
	expect(t, login(t, s, "acme", "alice", testkit.Password), http.StatusUnauthorized, "unauthenticated")
	mustLogin(t, s, "acme", "alice", "new-password-1")

	// Guessing the current password with a stolen token is slowed down.
	var limited bool
	for range 8 {
		r := s.Do(t, "POST", "/api/v1/me/password", alice.Token, map[string]string{"current_password": "guess-guess", "new_password": "new-password-2"})
		if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") != "" {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("wrong current passwords are not rate-limited")
	}
}

func TestRoleChangeReachesTheUserAtOnce(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	st := s.Open(t, "/api/v1/events", bob.Token, "")
	expect(t, s.Do(t, "GET", "/api/v1/apikeys", bob.Token, nil), http.StatusForbidden, "forbidden")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]string{"role": "admin"}, nil)
	ev := st.NextNamed(t, "user.updated", wait)
	var got struct {
		User userJSON `json:"user"`
	}
	ev.Decode(t, &got)
	if got.User.ID != bob.ID || got.User.Role != "admin" {
		t.Errorf("user.updated = %+v", got)
	}
	// The role is the database's, not the token's: his old token is an admin's now.
	s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", bob.Token, nil, nil)
	var u userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", bob.Token, nil, &u)
	if u.Role != "admin" {
		t.Errorf("me.role = %s", u.Role)
	}
}

func TestTypingPresenceAndReadAreLiveOnly(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.PingInterval = 50 * time.Millisecond // a closed stream is noticed at the next ping
		c.PresenceGrace = 0
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	general := createRoom(t, s, alice, "general", "private")
	addMember(t, s, alice, general.ID, bob.ID, "member")
	lobby := createRoom(t, s, carol, "lobby", "public")
	m := post(t, s, alice, general.ID, "hello")

	aliceStream := s.Open(t, "/api/v1/events", alice.Token, "")
	carolStream := s.Open(t, "/api/v1/events", carol.Token, "")
	bobStream := s.Open(t, "/api/v1/events", bob.Token, "")
	cursor := "0"

	// Bob comes online: Alice, who shares a room with him, hears it; Carol does not.
	var presence struct {
		UserID string `json:"user_id"`
		Online bool   `json:"online"`
	}
	ev := aliceStream.NextNamed(t, "presence", wait)
	ev.Decode(t, &presence)
	if ev.ID != "" || presence.UserID != bob.ID || !presence.Online {
		t.Fatalf("presence = %+v %+v", ev, presence)
	}
	var members []struct {
		User    userJSON `json:"user"`
		ReadSeq int64    `json:"read_seq"`
		Online  bool     `json:"online"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+general.ID+"/members", alice.Token, nil, &members)
	for _, mb := range members {
		wantRead := map[string]int64{"alice": 1, "bob": 0}[mb.User.Username]
		if !mb.Online || mb.ReadSeq != wantRead {
			t.Errorf("member %s: online %v read_seq %d", mb.User.Username, mb.Online, mb.ReadSeq)
		}
	}

	// Typing reaches the other members only, at most once per interval.
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+general.ID+"/typing", alice.Token, nil, nil)
	ev = bobStream.NextNamed(t, "typing", wait)
	if ev.ID != "" || !strings.Contains(ev.Data, `"room_id":"`+general.ID+`"`) || !strings.Contains(ev.Data, `"username":"alice"`) {
		t.Errorf("typing = %+v", ev)
	}
	// Typing where one is not a member reaches nobody.
	expect(t, s.Do(t, "POST", "/api/v1/rooms/"+general.ID+"/typing", carol.Token, nil), http.StatusNotFound, "not_found")
	expect(t, s.Do(t, "POST", "/api/v1/rooms/"+lobby.ID+"/typing", alice.Token, nil), http.StatusForbidden, "forbidden")
	var flood testkit.Response
	for range 5 {
		if flood = s.Do(t, "POST", "/api/v1/rooms/"+general.ID+"/typing", alice.Token, nil); flood.Status != http.StatusNoContent {
			break
		}
	}
	if flood.Status != http.StatusTooManyRequests || flood.Header.Get("Retry-After") == "" {
		t.Errorf("a flood of typing: %d %v", flood.Status, flood.Header)
	}

	// Marking read tells the room (the reader's other devices too).
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+general.ID+"/read", bob.Token, map[string]int64{"seq": m.Seq}, nil)
	for name, st := range map[string]*testkit.Stream{"alice": aliceStream, "bob": bobStream} {
		ev = st.NextNamed(t, "read", wait)
		if ev.ID != "" || ev.Data != `{"room_id":"`+general.ID+`","user_id":"`+bob.ID+`","seq":1}` {
			t.Errorf("%s got read %+v", name, ev)
		}
	}
	// Marking the same again is no news.
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+general.ID+"/read", bob.Token, map[string]int64{"seq": m.Seq}, nil)

	// Bob goes offline when his stream closes.
	bobStream.Close()
	ev = aliceStream.NextNamed(t, "presence", wait)
	ev.Decode(t, &presence)
	if presence.UserID != bob.ID || presence.Online {
		t.Errorf("presence after closing = %+v", presence)
	}
	// Carol heard none of it; her own stream opening was news to nobody.
	post(t, s, carol, lobby.ID, "anyone?")
	if ev := carolStream.Next(t, wait); ev.Name != "message.created" {
		t.Errorf("carol got %s %s", ev.Name, ev.Data)
	}

	// Carol, online, joins the room: its members hear that she is online.
	addMember(t, s, alice, general.ID, carol.ID, "member")
	ev = aliceStream.NextNamed(t, "presence", wait)
	ev.Decode(t, &presence)
	if presence.UserID != carol.ID || !presence.Online {
		t.Errorf("presence after joining = %+v", presence)
	}

	// Nothing of it was stored: a resumed stream replays only stored events.
	resumed := s.Open(t, "/api/v1/events", alice.Token, cursor)
	for {
		ev, ok := resumed.TryNext(300 * time.Millisecond)
		if !ok {
			break
		}
		if ev.ID == "" || ev.Name == "typing" || ev.Name == "presence" || ev.Name == "read" {
			t.Errorf("replayed an ephemeral event: %+v", ev)
		}
	}
	var stored int64
	if err := s.App.Store.Read(t.Context()).Table("events").Where("type IN ?", []string{"typing", "presence", "read"}).Count(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("%d ephemeral events were stored", stored)
	}
}
