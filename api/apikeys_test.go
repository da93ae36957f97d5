package api_test

// Tests of per-tenant API keys (issue 4), over real HTTP against a real
// server on a real SQLite file. Every identifier here starts with "ak" or
// "TestAPIKey" so this file can live beside the other tests of the package.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/testkit"
	"parley/store"
)

const akWait = 5 * time.Second

var akAllScopes = []string{"users:write", "rooms:write", "messages:write", "tokens:write"}

type akKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Key        string     `json:"key"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

type akUser struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
}

type akRoom struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Visibility  string `json:"visibility"`
	MemberCount int64  `json:"member_count"`
	MyRole      string `json:"my_role"`
	LastSeq     int64  `json:"last_seq"`
}

type akMessage struct {
	ID     string `json:"id"`
	RoomID string `json:"room_id"`
	Seq    int64  `json:"seq"`
	Body   string `json:"body"`
	Author akUser `json:"author"`
}

type akMessageEvent struct {
	RoomID  string    `json:"room_id"`
	Message akMessage `json:"message"`
}

// akCreateKey has admin create a key over the API.
func akCreateKey(t *testing.T, s *testkit.Server, admin testkit.User, name string, scopes ...string) akKey {
	t.Helper()
	var k akKey
	s.Must(t, http.StatusCreated, "POST", "/api/v1/apikeys", admin.Token, map[string]any{"name": name, "scopes": scopes}, &k)
	if !strings.HasPrefix(k.Key, "pk_") || k.ID == "" || !strings.HasPrefix(k.Key, k.Prefix+"_") {
		t.Fatalf("created key %+v: want a pk_ key starting with its prefix", k)
	}
	return k
}

func akListKeys(t *testing.T, s *testkit.Server, admin testkit.User) []akKey {
	t.Helper()
	var keys []akKey
	s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", admin.Token, nil, &keys)
	return keys
}

func akStoredKey(t *testing.T, s *testkit.Server, id string) store.APIKey {
	t.Helper()
	var k store.APIKey
	if err := s.App.Store.Read(context.Background()).Where("id = ?", id).Take(&k).Error; err != nil {
		t.Fatalf("load api key %s: %v", id, err)
	}
	return k
}

// akSecretPart is the random part of a key, after "pk_<prefix>_".
func akSecretPart(k akKey) string { return strings.TrimPrefix(k.Key, k.Prefix+"_") }

// TestAPIKeyTenantBackEnd is the whole tenant back end story: a key provisions
// a user, creates a room, adds the user, posts (as its bot and as the user)
// to the user's open stream, and mints a token the user then uses.
func TestAPIKeyTenantBackEnd(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	key := akCreateKey(t, s, alice, "Acme Backend", akAllScopes...)
	if !slices.Equal(key.Scopes, akAllScopes) || key.Name != "Acme Backend" || key.LastUsedAt != nil {
		t.Fatalf("created key %+v", key)
	}

	// Provision users, one without a password (single sign-on only) and one with.
	var bob akUser
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key, map[string]string{"username": "bob", "display_name": "Bob"}, &bob)
	if bob.Username != "bob" || bob.DisplayName != "Bob" || bob.Role != "member" {
		t.Fatalf("provisioned user %+v", bob)
	}
	var carol akUser
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key,
		map[string]string{"username": "carol", "password": testkit.Password}, &carol)
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "carol", "password": testkit.Password}, nil)
	for _, pw := range []string{"", testkit.Password} { // bob has no password: no password logs him in
		r := s.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "bob", "password": pw})
		if r.Status != http.StatusUnauthorized && r.Status != http.StatusBadRequest {
			t.Fatalf("login as password-less bob with %q: status %d, want 401 (or 400 for no password): %s", pw, r.Status, r.Body)
		}
	}

	// A room, with bob in it. The key itself is not a member.
	var rm akRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", key.Key, map[string]string{"name": "support", "visibility": "private"}, &rm)
	if rm.Name != "support" || rm.Visibility != "private" || rm.MemberCount != 0 || rm.MyRole != "" {
		t.Fatalf("room created by key: %+v", rm)
	}
	var member struct {
		User akUser `json:"user"`
		Role string `json:"role"`
	}
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, key.Key, map[string]string{"role": "member"}, &member)
	if member.User.ID != bob.ID || member.Role != "member" {
		t.Fatalf("member added by key: %+v", member)
	}

	// Single sign-on: the key logs bob in; bob uses the token.
	var tr testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key.Key, map[string]string{"user_id": bob.ID}, &tr)
	if tr.User.ID != bob.ID || tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresIn != 900 {
		t.Fatalf("minted token response %+v", tr)
	}
	var me akUser
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", tr.AccessToken, nil, &me)
	if me.ID != bob.ID || me.Username != "bob" {
		t.Fatalf("GET /me with minted token: %+v", me)
	}
	var mine []akRoom
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms", tr.AccessToken, nil, &mine)
	if len(mine) != 1 || mine[0].ID != rm.ID || mine[0].MyRole != "member" {
		t.Fatalf("bob's rooms: %+v", mine)
	}

	stream := s.Open(t, "/api/v1/events", tr.AccessToken, "")
	if stream.Status != http.StatusOK {
		t.Fatalf("bob's stream: status %d", stream.Status)
	}
	roomStream := s.Open(t, "/api/v1/rooms/"+rm.ID+"/events?token="+url.QueryEscape(tr.AccessToken), "", "")
	if roomStream.Status != http.StatusOK {
		t.Fatalf("bob's room stream: status %d", roomStream.Status)
	}

	// The key posts as its bot: the author is the bot, named after the key.
	var byBot akMessage
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", key.Key, map[string]string{"body": "Welcome, Bob"}, &byBot)
	if byBot.Author.ID != key.ID || byBot.Author.DisplayName != "Acme Backend" || byBot.Seq != 1 {
		t.Fatalf("bot post: %+v", byBot)
	}
	// And on behalf of bob.
	var asBob akMessage
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", key.Key, map[string]string{"body": "Thanks!", "as_user": bob.ID}, &asBob)
	if asBob.Author.ID != bob.ID || asBob.Author.DisplayName != "Bob" || asBob.Seq != 2 {
		t.Fatalf("as_user post: %+v", asBob)
	}

	for name, st := range map[string]*testkit.Stream{"events": stream, "room events": roomStream} {
		for _, want := range []akMessage{byBot, asBob} {
			var got akMessageEvent
			st.NextNamed(t, "message.created", akWait).Decode(t, &got)
			if got.RoomID != rm.ID || got.Message.ID != want.ID || got.Message.Body != want.Body ||
				got.Message.Author.ID != want.Author.ID || got.Message.Author.DisplayName != want.Author.DisplayName {
				t.Fatalf("%s stream got %+v, want %+v", name, got, want)
			}
		}
	}

	// History shows the same authors.
	var hist struct {
		Messages []akMessage `json:"messages"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+rm.ID+"/messages", tr.AccessToken, nil, &hist)
	if len(hist.Messages) != 2 || hist.Messages[0].Author.ID != key.ID || hist.Messages[0].Author.DisplayName != "Acme Backend" ||
		hist.Messages[1].Author.ID != bob.ID {
		t.Fatalf("history: %+v", hist.Messages)
	}

	// The minted login is a normal login: its refresh token works.
	var refreshed testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken}, &refreshed)
	if refreshed.User.ID != bob.ID {
		t.Fatalf("refresh of minted login: %+v", refreshed)
	}

	// The key removes bob: his stream learns it at once.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, key.Key, nil, nil)
	var gone struct {
		RoomID string `json:"room_id"`
		Reason string `json:"reason"`
	}
	stream.NextNamed(t, "room.left", akWait).Decode(t, &gone)
	if gone.RoomID != rm.ID || gone.Reason != "removed" {
		t.Fatalf("room.left: %+v", gone)
	}
}

// TestAPIKeyShownOnceHashedAndLastUsedFlushed checks what is kept of a key and
// how its last use is recorded: in memory per request, in the database per flush.
func TestAPIKeyShownOnceHashedAndLastUsedFlushed(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	key := akCreateKey(t, s, alice, "Backend", "users:write", "users:write", " tokens:write") // duplicates and blanks are tidied
	if !slices.Equal(key.Scopes, []string{"users:write", "tokens:write"}) {
		t.Fatalf("scopes %v", key.Scopes)
	}
	if len(key.Key) < 40 || !strings.HasPrefix(key.Prefix, "pk_") || len(key.Prefix) > 16 {
		t.Fatalf("key %q with prefix %q: want a long secret and a short public prefix", key.Key, key.Prefix)
	}

	// The list never shows the key, only its prefix.
	var raw []map[string]any
	s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", alice.Token, nil, &raw)
	if len(raw) != 1 {
		t.Fatalf("list: %v", raw)
	}
	if _, ok := raw[0]["key"]; ok {
		t.Fatalf("list shows the key: %v", raw[0])
	}
	if raw[0]["prefix"] != key.Prefix || raw[0]["id"] != key.ID || raw[0]["name"] != "Backend" {
		t.Fatalf("list entry %v, want prefix %s", raw[0], key.Prefix)
	}
	if v, ok := raw[0]["last_used_at"]; !ok || v != nil {
		t.Fatalf("unused key: last_used_at = %v (present %v), want null", v, ok)
	}

	// Only a hash is stored: neither the key nor its secret part is anywhere in the database.
	stored := akStoredKey(t, s, key.ID)
	if stored.Hash == "" || stored.Hash == key.Key || strings.Contains(stored.Hash, akSecretPart(key)) {
		t.Fatalf("stored hash %q for key %q", stored.Hash, key.Key)
	}
	if "pk_"+stored.Prefix != key.Prefix {
		t.Fatalf("stored prefix %q, shown %q", stored.Prefix, key.Prefix)
	}
	for table, rows := range snapshot(t, s) {
		for _, row := range rows {
			if strings.Contains(row, akSecretPart(key)) {
				t.Fatalf("table %s holds the key: %s", table, row)
			}
		}
	}

	// Using the key is remembered in memory, not written per request ...
	before := time.Now().UTC().Add(-time.Second)
	for _, name := range []string{"user1", "user2", "user3"} {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key, map[string]string{"username": name}, nil)
	}
	if got := akStoredKey(t, s, key.ID).LastUsedAt; got != nil {
		t.Fatalf("last_used_at written on a request (%v); want it written only by the flush", got)
	}
	keys := akListKeys(t, s, alice)
	if len(keys) != 1 || keys[0].LastUsedAt == nil || keys[0].LastUsedAt.Before(before) || keys[0].LastUsedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("list after use: %+v", keys)
	}
	if keys[0].Key != "" {
		t.Fatalf("list shows the key")
	}
	used := *keys[0].LastUsedAt

	// ... and written by the flush.
	if err := s.App.Auth.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := akStoredKey(t, s, key.ID).LastUsedAt
	if got == nil || !got.Equal(used) {
		t.Fatalf("after flush, stored last_used_at = %v, want %v", got, used)
	}

	// Shutting down flushes what is still in memory.
	time.Sleep(10 * time.Millisecond)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key, map[string]string{"username": "user4"}, nil)
	s.Restart(t)
	got = akStoredKey(t, s, key.ID).LastUsedAt
	if got == nil || !got.After(used) {
		t.Fatalf("after restart, stored last_used_at = %v, want after %v", got, used)
	}
	alice = akLogin(t, s, "acme", "alice")
	keys = akListKeys(t, s, alice)
	if len(keys) != 1 || keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(*got) {
		t.Fatalf("list after restart: %+v, want last_used_at %v", keys, got)
	}
	// The key survives a restart, with its scopes.
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key, map[string]string{"username": "user5"}, nil)
	s.Must(t, http.StatusForbidden, "POST", "/api/v1/rooms", key.Key, map[string]string{"name": "nope"}, nil)
}

func akLogin(t *testing.T, s *testkit.Server, tenant, username string) testkit.User {
	t.Helper()
	var tr testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": tenant, "username": username, "password": testkit.Password}, &tr)
	return testkit.User{ID: tr.User.ID, Username: tr.User.Username, Role: tr.User.Role, Token: tr.AccessToken, RefreshToken: tr.RefreshToken}
}

// akCase is one request that must be refused without changing any data.
type akCase struct {
	name   string
	token  string
	method string
	path   string
	body   any
	status int
}

var akCodes = map[int]string{
	http.StatusBadRequest: "invalid_request", http.StatusUnauthorized: "unauthenticated", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "not_found", http.StatusConflict: "conflict",
}

func akRunRefused(t *testing.T, s *testkit.Server, cases []akCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, s)
			r := s.Do(t, tc.method, tc.path, tc.token, tc.body)
			after := snapshot(t, s)
			if r.Status != tc.status {
				t.Fatalf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.Status, tc.status, r.Body)
			}
			if code := r.ErrorCode(); code != akCodes[tc.status] {
				t.Errorf("error code %q, want %q: %s", code, akCodes[tc.status], r.Body)
			}
			if tc.status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			sameData(t, before, after)
		})
	}
}

// akEndpoint is something a key may do with the scope it needs.
type akEndpoint struct {
	name   string
	scope  string
	method string
	path   string
	body   any
}

// TestAPIKeyMisuseIsRefusedAndChangesNothing is the misuse matrix: missing
// scopes (403), other tenants' users and rooms (404), malformed or unknown
// keys (401), and members or keys managing keys (403).
func TestAPIKeyMisuseIsRefusedAndChangesNothing(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")   // member of the room
	dave := s.Signup(t, "acme", "dave") // in the tenant, not in the room
	zed := s.Signup(t, "acme", "zed")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+zed.ID, alice.Token, map[string]bool{"disabled": true}, nil)
	var rm akRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", alice.Token, map[string]string{"name": "general", "visibility": "private"}, &rm)
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, alice.Token, map[string]string{"role": "member"}, nil)
	adam := createAdmin(t, s, alice.Token, "acme", "adam").User // a tenant admin, in the room
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+adam.ID, alice.Token, map[string]string{"role": "member"}, nil)

	gina := s.CreateTenant(t, "globex", "gina")
	gus := s.Signup(t, "globex", "gus")
	var groom akRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", gina.Token, map[string]string{"name": "globex-only", "visibility": "public"}, &groom)
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+groom.ID+"/members/"+gus.ID, gina.Token, map[string]string{"role": "member"}, nil)
	globexKey := akCreateKey(t, s, gina, "Globex", akAllScopes...)

	full := akCreateKey(t, s, alice, "Full", akAllScopes...)
	other := akCreateKey(t, s, alice, "Other bot", "messages:write")
	without := map[string]akKey{} // every scope but one
	only := map[string]akKey{}    // that one scope only
	for _, sc := range akAllScopes {
		without[sc] = akCreateKey(t, s, alice, "Without "+sc, slices.DeleteFunc(slices.Clone(akAllScopes), func(x string) bool { return x == sc })...)
		only[sc] = akCreateKey(t, s, alice, "Only "+sc, sc)
	}

	endpoints := []akEndpoint{
		{"create user", "users:write", "POST", "/api/v1/users", map[string]string{"username": "newbie"}},
		{"create user with password", "users:write", "POST", "/api/v1/users", map[string]string{"username": "newbie", "password": testkit.Password}},
		{"create room", "rooms:write", "POST", "/api/v1/rooms", map[string]string{"name": "new room"}},
		{"add member", "rooms:write", "PUT", "/api/v1/rooms/" + rm.ID + "/members/" + dave.ID, map[string]string{"role": "member"}},
		{"remove member", "rooms:write", "DELETE", "/api/v1/rooms/" + rm.ID + "/members/" + bob.ID, nil},
		{"post as bot", "messages:write", "POST", "/api/v1/rooms/" + rm.ID + "/messages", map[string]string{"body": "hello"}},
		{"post as user", "messages:write", "POST", "/api/v1/rooms/" + rm.ID + "/messages", map[string]string{"body": "hello", "as_user": bob.ID}},
		{"mint token", "tokens:write", "POST", "/api/v1/tokens", map[string]string{"user_id": bob.ID}},
	}

	var cases []akCase
	for _, ep := range endpoints {
		cases = append(cases, akCase{name: "scope/" + ep.name + "/without " + ep.scope, token: without[ep.scope].Key,
			method: ep.method, path: ep.path, body: ep.body, status: http.StatusForbidden})
		for _, sc := range akAllScopes {
			if sc == ep.scope {
				continue
			}
			cases = append(cases, akCase{name: "scope/" + ep.name + "/only " + sc, token: only[sc].Key,
				method: ep.method, path: ep.path, body: ep.body, status: http.StatusForbidden})
		}
	}

	cases = append(cases,
		// What no key may do, whatever its scopes.
		akCase{name: "key/create key", token: full.Key, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"name": "more", "scopes": akAllScopes}, status: http.StatusForbidden},
		akCase{name: "key/list keys", token: full.Key, method: "GET", path: "/api/v1/apikeys", status: http.StatusForbidden},
		akCase{name: "key/revoke key", token: full.Key, method: "DELETE", path: "/api/v1/apikeys/" + other.ID, status: http.StatusForbidden},
		akCase{name: "key/revoke itself", token: full.Key, method: "DELETE", path: "/api/v1/apikeys/" + full.ID, status: http.StatusForbidden},
		akCase{name: "key/change user role", token: full.Key, method: "PATCH", path: "/api/v1/users/" + bob.ID,
			body: map[string]string{"role": "admin"}, status: http.StatusForbidden},
		akCase{name: "key/update tenant", token: full.Key, method: "PATCH", path: "/api/v1/tenant",
			body: map[string]string{"name": "Pwned"}, status: http.StatusForbidden},
		akCase{name: "key/create invite", token: full.Key, method: "POST", path: "/api/v1/tenant/invites", status: http.StatusForbidden},
		akCase{name: "key/create owner", token: full.Key, method: "POST", path: "/api/v1/users",
			body: map[string]string{"username": "boss", "role": "owner"}, status: http.StatusForbidden},
		akCase{name: "key/create admin", token: full.Key, method: "POST", path: "/api/v1/users",
			body: map[string]string{"username": "boss", "role": "admin"}, status: http.StatusForbidden},
		akCase{name: "key/me", token: full.Key, method: "GET", path: "/api/v1/me", status: http.StatusForbidden},

		// Members do not manage keys.
		akCase{name: "member/create key", token: bob.Token, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"name": "mine", "scopes": []string{"users:write"}}, status: http.StatusForbidden},
		akCase{name: "member/list keys", token: bob.Token, method: "GET", path: "/api/v1/apikeys", status: http.StatusForbidden},
		akCase{name: "member/revoke key", token: bob.Token, method: "DELETE", path: "/api/v1/apikeys/" + full.ID, status: http.StatusForbidden},
		akCase{name: "member/mint token", token: bob.Token, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": dave.ID}, status: http.StatusForbidden},
		akCase{name: "admin/mint token", token: alice.Token, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": bob.ID}, status: http.StatusForbidden},
		akCase{name: "member/post as user", token: bob.Token, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "I am dave", "as_user": dave.ID}, status: http.StatusBadRequest},

		// Bad key requests by an admin.
		akCase{name: "admin/key without scopes", token: alice.Token, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"name": "none", "scopes": []string{}}, status: http.StatusBadRequest},
		akCase{name: "admin/key with unknown scope", token: alice.Token, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"name": "root", "scopes": []string{"admin:all"}}, status: http.StatusBadRequest},
		akCase{name: "admin/key without name", token: alice.Token, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"scopes": []string{"users:write"}}, status: http.StatusBadRequest},
		akCase{name: "admin/revoke unknown key", token: alice.Token, method: "DELETE", path: "/api/v1/apikeys/nope", status: http.StatusNotFound},
		akCase{name: "admin/revoke other tenant's key", token: alice.Token, method: "DELETE", path: "/api/v1/apikeys/" + globexKey.ID, status: http.StatusNotFound},

		// Other tenants' users and rooms do not exist for this key.
		akCase{name: "tenant/mint token for other tenant's user", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": gus.ID}, status: http.StatusNotFound},
		akCase{name: "tenant/add other tenant's user", token: full.Key, method: "PUT", path: "/api/v1/rooms/" + rm.ID + "/members/" + gus.ID,
			body: map[string]string{"role": "member"}, status: http.StatusNotFound},
		akCase{name: "tenant/add to other tenant's room", token: full.Key, method: "PUT", path: "/api/v1/rooms/" + groom.ID + "/members/" + dave.ID,
			body: map[string]string{"role": "member"}, status: http.StatusNotFound},
		akCase{name: "tenant/add other tenant's user to their room", token: full.Key, method: "PUT", path: "/api/v1/rooms/" + groom.ID + "/members/" + gus.ID,
			body: map[string]string{"role": "member"}, status: http.StatusNotFound},
		akCase{name: "tenant/remove from other tenant's room", token: full.Key, method: "DELETE", path: "/api/v1/rooms/" + groom.ID + "/members/" + gus.ID, status: http.StatusNotFound},
		akCase{name: "tenant/remove other tenant's user", token: full.Key, method: "DELETE", path: "/api/v1/rooms/" + rm.ID + "/members/" + gus.ID, status: http.StatusNotFound},
		akCase{name: "tenant/post in other tenant's room", token: full.Key, method: "POST", path: "/api/v1/rooms/" + groom.ID + "/messages",
			body: map[string]string{"body": "hi"}, status: http.StatusNotFound},
		akCase{name: "tenant/post in other tenant's room as their user", token: full.Key, method: "POST", path: "/api/v1/rooms/" + groom.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": gus.ID}, status: http.StatusNotFound},
		akCase{name: "tenant/get other tenant's room", token: full.Key, method: "GET", path: "/api/v1/rooms/" + groom.ID, status: http.StatusNotFound},
		akCase{name: "tenant/other tenant's key on our room", token: globexKey.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi"}, status: http.StatusNotFound},
		akCase{name: "tenant/other tenant's key on our user", token: globexKey.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": bob.ID}, status: http.StatusNotFound},

		// as_user must be an active member of the room, in the key's tenant.
		akCase{name: "as_user/other tenant's user", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": gus.ID}, status: http.StatusNotFound},
		akCase{name: "as_user/unknown user", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": "no-such-user"}, status: http.StatusNotFound},
		akCase{name: "as_user/not in the room", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": dave.ID}, status: http.StatusForbidden},
		akCase{name: "as_user/another key's bot", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": other.ID}, status: http.StatusForbidden},

		// A key acts only for plain members: never for a tenant admin or owner.
		akCase{name: "tokens/for the owner", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": alice.ID}, status: http.StatusForbidden},
		akCase{name: "tokens/for an admin", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": adam.ID}, status: http.StatusForbidden},
		akCase{name: "as_user/the owner", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": alice.ID}, status: http.StatusForbidden},
		akCase{name: "as_user/an admin", token: full.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages",
			body: map[string]string{"body": "hi", "as_user": adam.ID}, status: http.StatusForbidden},

		// Tokens only for the tenant's real, enabled users.
		akCase{name: "tokens/for a bot", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": full.ID}, status: http.StatusNotFound},
		akCase{name: "tokens/for a disabled user", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": zed.ID}, status: http.StatusConflict},
		akCase{name: "tokens/without user_id", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{}, status: http.StatusBadRequest},
		akCase{name: "tokens/unknown field", token: full.Key, method: "POST", path: "/api/v1/tokens",
			body: map[string]string{"user_id": bob.ID, "role": "owner"}, status: http.StatusBadRequest},
	)

	// Malformed and unknown keys, on an endpoint that would otherwise create a user.
	secret := akSecretPart(full)
	flipped := []byte(full.Key)
	if flipped[len(flipped)-1] == 'A' {
		flipped[len(flipped)-1] = 'B'
	} else {
		flipped[len(flipped)-1] = 'A'
	}
	bad := map[string]string{
		"pk_":                        "pk_",
		"pk_short":                   "pk_short",
		"pk_abcdefgh_wrong":          "pk_abcdefgh_wrong",
		"unknown prefix, good form":  "pk_abcdefgh_" + strings.Repeat("A", len(secret)),
		"known prefix, wrong secret": full.Prefix + "_" + strings.Repeat("A", len(secret)),
		"last character changed":     string(flipped),
		"key with a suffix":          full.Key + "x",
		"key cut short":              full.Key[:len(full.Key)-1],
		"key without pk_":            strings.TrimPrefix(full.Key, "pk_"),
		"upper-case PK_":             "PK_" + strings.TrimPrefix(full.Key, "pk_"),
		"jwt-looking":                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4IiwidGlkIjoieSJ9.c2lnbmF0dXJlc2lnbmF0dXJl",
		"random text":                "not-a-key-at-all",
		"key's own hash":             akStoredKey(t, s, full.ID).Hash,
	}
	for name, k := range bad {
		cases = append(cases, akCase{name: "401/" + name, token: k, method: "POST", path: "/api/v1/users",
			body: map[string]string{"username": "intruder"}, status: http.StatusUnauthorized})
	}
	cases = append(cases, akCase{name: "401/no credential", method: "POST", path: "/api/v1/users",
		body: map[string]string{"username": "intruder"}, status: http.StatusUnauthorized})

	akRunRefused(t, s, cases)

	// Nothing refused above disturbed the keys that were used: they still work.
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", full.Key, map[string]string{"user_id": bob.ID}, nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", other.Key, map[string]string{"body": "still here"}, nil)
	if keys := akListKeys(t, s, alice); len(keys) != 2+2*len(akAllScopes) {
		t.Fatalf("%d keys listed, want %d", len(keys), 2+2*len(akAllScopes))
	}
}

// TestAPIKeyCannotBecomeTheOwner is the exploit of issue 9: a tokens:write key
// asked for the owner's token, then used it to mint an all-scopes key and to
// change the tenant. The first step is refused, so nothing else can follow.
func TestAPIKeyCannotBecomeTheOwner(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	adam := createAdmin(t, s, alice.Token, "acme", "adam").User
	bob := s.Signup(t, "acme", "bob")
	key := akCreateKey(t, s, alice, "SSO", "tokens:write")
	akRunRefused(t, s, []akCase{
		{name: "owner token", token: key.Key, method: "POST", path: "/api/v1/tokens", body: map[string]string{"user_id": alice.ID}, status: http.StatusForbidden},
		{name: "admin token", token: key.Key, method: "POST", path: "/api/v1/tokens", body: map[string]string{"user_id": adam.ID}, status: http.StatusForbidden},
	})
	// A member's token is still minted, and it is only a member's.
	var tr testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key.Key, map[string]string{"user_id": bob.ID}, &tr)
	akRunRefused(t, s, []akCase{
		{name: "member mints a key", token: tr.AccessToken, method: "POST", path: "/api/v1/apikeys",
			body: map[string]any{"name": "root", "scopes": akAllScopes}, status: http.StatusForbidden},
		{name: "member changes the tenant", token: tr.AccessToken, method: "PATCH", path: "/api/v1/tenant",
			body: map[string]string{"name": "Pwned"}, status: http.StatusForbidden},
	})
	// A member promoted later is out of the key's reach from then on.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]string{"role": "admin"}, nil)
	akRunRefused(t, s, []akCase{
		{name: "promoted member", token: key.Key, method: "POST", path: "/api/v1/tokens", body: map[string]string{"user_id": bob.ID}, status: http.StatusForbidden},
	})
}

// TestAPIKeyWithMissingHeaderForms covers how the key is sent: only as a
// bearer credential.
func TestAPIKeyWithMissingHeaderForms(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	key := akCreateKey(t, s, alice, "Backend", "users:write")
	for _, tc := range []struct{ name, header string }{
		{name: "no scheme", header: key.Key},
		{name: "Basic scheme", header: "Basic " + key.Key},
		{name: "Bearer without key", header: "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Count(t, &store.User{})
			r := s.DoWith(t, "POST", "/api/v1/users", "", map[string]string{"username": "intruder"}, map[string]string{"Authorization": tc.header})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
			}
			if after := s.Count(t, &store.User{}); after != before {
				t.Fatalf("users %d -> %d", before, after)
			}
		})
	}
	// A key is for API calls, not event streams, even via ?token=.
	st := s.Open(t, "/api/v1/events?token="+url.QueryEscape(key.Key), "", "")
	if st.Status != http.StatusForbidden {
		t.Fatalf("stream with a key: status %d, want 403", st.Status)
	}
}

// TestAPIKeyRevokedStopsOnTheNextRequest revokes a key between two requests.
func TestAPIKeyRevokedStopsOnTheNextRequest(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	var rm akRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", alice.Token, map[string]string{"name": "general"}, &rm)
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, alice.Token, map[string]string{"role": "member"}, nil)
	key := akCreateKey(t, s, alice, "Doomed", akAllScopes...)
	keep := akCreateKey(t, s, alice, "Kept", akAllScopes...)

	for i := range 3 {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", key.Key, map[string]string{"body": fmt.Sprint("busy ", i)}, nil)
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+key.ID, alice.Token, nil, nil)

	// The very next request, and every later one, is refused and changes nothing.
	akRunRefused(t, s, []akCase{
		{name: "post", token: key.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages", body: map[string]string{"body": "too late"}, status: http.StatusUnauthorized},
		{name: "post as user", token: key.Key, method: "POST", path: "/api/v1/rooms/" + rm.ID + "/messages", body: map[string]string{"body": "too late", "as_user": bob.ID}, status: http.StatusUnauthorized},
		{name: "create user", token: key.Key, method: "POST", path: "/api/v1/users", body: map[string]string{"username": "late"}, status: http.StatusUnauthorized},
		{name: "create room", token: key.Key, method: "POST", path: "/api/v1/rooms", body: map[string]string{"name": "late"}, status: http.StatusUnauthorized},
		{name: "remove member", token: key.Key, method: "DELETE", path: "/api/v1/rooms/" + rm.ID + "/members/" + bob.ID, status: http.StatusUnauthorized},
		{name: "mint token", token: key.Key, method: "POST", path: "/api/v1/tokens", body: map[string]string{"user_id": bob.ID}, status: http.StatusUnauthorized},
		{name: "revoke again", token: alice.Token, method: "DELETE", path: "/api/v1/apikeys/" + key.ID, status: http.StatusNotFound},
	})

	// Concurrent use around a revocation: once DELETE has answered, nothing more gets in.
	key2 := akCreateKey(t, s, alice, "Racing", "messages:write")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/rooms/"+rm.ID+"/messages", strings.NewReader(`{"body":"race"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key2.Key)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+key2.ID, alice.Token, nil, nil)
	var after int64
	if err := s.App.Store.Read(context.Background()).Model(&store.Message{}).Where("author_id = ?", key2.ID).Count(&after).Error; err != nil {
		t.Fatal(err)
	}
	// Requests already past authentication may still commit; wait for them.
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	var settled int64
	_ = s.App.Store.Read(context.Background()).Model(&store.Message{}).Where("author_id = ?", key2.ID).Count(&settled).Error
	r := s.Do(t, "POST", "/api/v1/rooms/"+rm.ID+"/messages", key2.Key, map[string]string{"body": "after"})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("racing key after revoke: status %d", r.Status)
	}
	var final int64
	_ = s.App.Store.Read(context.Background()).Model(&store.Message{}).Where("author_id = ?", key2.ID).Count(&final).Error
	if final != settled {
		t.Fatalf("messages by revoked key grew from %d to %d", settled, final)
	}
	// At most one request per worker was in flight when the revocation committed.
	if settled > after+4 {
		t.Fatalf("%d messages by the key after its revocation answered (had %d)", settled-after, after)
	}

	// The revoked keys are gone from the list; the other key still works.
	keys := akListKeys(t, s, alice)
	if len(keys) != 1 || keys[0].ID != keep.ID {
		t.Fatalf("list after revoking: %+v", keys)
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", keep.Key, map[string]string{"body": "still here"}, nil)

	// Revocation outlives a restart.
	s.Restart(t)
	r = s.Do(t, "POST", "/api/v1/users", key.Key, map[string]string{"username": "zombie"})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("revoked key after restart: status %d", r.Status)
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", keep.Key, map[string]string{"username": "alive"}, nil)
}

// TestAPIKeyNeverLogged uses keys every way there is, rightly and wrongly,
// with the server logging everything, and looks for them in the log.
func TestAPIKeyNeverLogged(t *testing.T) {
	logs := &testkit.LogBuffer{}
	s := testkit.StartLogged(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	key := akCreateKey(t, s, alice, "Backend", akAllScopes...)
	narrow := akCreateKey(t, s, alice, "Narrow", "users:write")

	var rm akRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", key.Key, map[string]string{"name": "logged"}, &rm)
	s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+bob.ID, key.Key, map[string]string{"role": "member"}, nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", key.Key, map[string]string{"body": "hi", "as_user": bob.ID}, nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key.Key, map[string]string{"user_id": bob.ID}, nil)
	s.Do(t, "POST", "/api/v1/rooms", narrow.Key, map[string]string{"name": "no"})                      // 403
	s.Do(t, "POST", "/api/v1/tokens", key.Key, map[string]string{"user_id": "nobody"})                 // 404
	s.Do(t, "POST", "/api/v1/users", key.Key+"x", map[string]string{"username": "x"})                  // 401
	s.Do(t, "POST", "/api/v1/users", key.Key, `{"username": `)                                         // 400
	s.Do(t, "GET", "/api/v1/nowhere?key="+url.QueryEscape(key.Key), key.Key, nil)                      // 404 route
	s.Open(t, "/api/v1/events?token="+url.QueryEscape(key.Key), "", "").Close()                        // 403 stream
	s.Open(t, "/api/v1/rooms/"+rm.ID+"/events?token="+url.QueryEscape(narrow.Key+"x"), "", "").Close() // 401 stream
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+narrow.ID, alice.Token, nil, nil)
	s.Do(t, "POST", "/api/v1/users", narrow.Key, map[string]string{"username": "y"}) // revoked
	if err := s.App.Auth.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	out := logs.String()
	if !strings.Contains(out, "request") {
		t.Fatalf("the server logged no requests; the check below would prove nothing:\n%s", out)
	}
	for _, k := range []akKey{key, narrow} {
		for _, secret := range []string{k.Key, akSecretPart(k), url.QueryEscape(k.Key)} {
			if strings.Contains(out, secret) {
				t.Fatalf("the log holds key %s:\n%s", k.Name, out)
			}
		}
	}
}
