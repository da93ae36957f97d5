package api_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"parley/internal/testkit"
)

type auditParty struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

type auditEntry struct {
	ID        string            `json:"id"`
	Action    string            `json:"action"`
	Actor     auditParty        `json:"actor"`
	Target    auditParty        `json:"target"`
	Detail    map[string]string `json:"detail"`
	IP        string            `json:"ip"`
	CreatedAt time.Time         `json:"created_at"`
}

type auditPage struct {
	Entries []auditEntry `json:"entries"`
	HasMore bool         `json:"has_more"`
}

func auditLog(t *testing.T, s *testkit.Server, token, query string) auditPage {
	t.Helper()
	var p auditPage
	s.Must(t, http.StatusOK, "GET", "/api/v1/audit"+query, token, nil, &p)
	return p
}

func TestAuditRecordsAdminAndKeyActions(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	start := time.Now().Add(-time.Second)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	dora := s.Signup(t, "acme", "dora")

	// Each step is one audited action, in order; the log lists them newest first.
	type want struct {
		action, actorType, actorName, targetType, targetName string
		detail                                               map[string]string
	}
	var wants []want
	step := func(w want, do func()) {
		t.Helper()
		wants = append(wants, w)
		do()
	}
	step(want{"tenant.updated", "user", "alice", "tenant", "acme", map[string]string{"name": "Acme Ltd", "signup_policy": "invite"}}, func() {
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"name": "Acme Ltd", "signup_policy": "invite"}, nil)
	})
	var inv invite
	step(want{"invite.created", "user", "alice", "invite", "", map[string]string{"max_uses": "2"}}, func() {
		inv = createInvite(t, s, alice.Token, map[string]int{"max_uses": 2})
		wants[len(wants)-1].targetName = inv.Prefix
	})
	step(want{"invite.revoked", "user", "alice", "invite", inv.Prefix, map[string]string{}}, func() {
		s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/tenant/invites/"+inv.Code, alice.Token, nil, nil)
	})
	var key akKey
	step(want{"apikey.created", "user", "alice", "apikey", "crm", map[string]string{"scopes": "users:write,rooms:write,tokens:write"}}, func() {
		key = akCreateKey(t, s, alice, "crm", "users:write", "rooms:write", "tokens:write")
	})
	var carol userJSON
	step(want{"user.created", "key", "crm", "user", "carol", map[string]string{"role": "member"}}, func() {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key.Key, map[string]string{"username": "carol"}, &carol)
	})
	var rm room
	step(want{"room.created", "key", "crm", "room", "support", map[string]string{"visibility": "private"}}, func() {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", key.Key, map[string]string{"name": "support", "visibility": "private"}, &rm)
	})
	step(want{"member.added", "key", "crm", "user", "carol", map[string]string{"room": "support", "role": "member"}}, func() {
		s.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+rm.ID+"/members/"+carol.ID, key.Key, map[string]string{"role": "member"}, nil)
	})
	step(want{"token.issued", "key", "crm", "user", "carol", map[string]string{}}, func() {
		s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key.Key, map[string]string{"user_id": carol.ID}, nil)
	})
	step(want{"user.role_changed", "user", "alice", "user", "bob", map[string]string{"from": "member", "to": "admin"}}, func() {
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]string{"role": "admin"}, nil)
	})
	step(want{"user.disabled", "user", "bob", "user", "dora", map[string]string{}}, func() {
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+dora.ID, bob.Token, map[string]bool{"disabled": true}, nil)
	})
	step(want{"user.enabled", "user", "bob", "user", "dora", map[string]string{}}, func() {
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+dora.ID, bob.Token, map[string]bool{"disabled": false}, nil)
	})
	step(want{"member.role_changed", "user", "alice", "user", "carol", map[string]string{"room": "support", "from": "member", "to": "moderator"}}, func() {
		addMember(t, s, alice, rm.ID, carol.ID, "moderator")
	})
	step(want{"member.removed", "user", "alice", "user", "carol", map[string]string{"room": "support", "role": "moderator"}}, func() {
		s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+rm.ID+"/members/"+carol.ID, alice.Token, nil, nil)
	})
	step(want{"room.updated", "user", "alice", "room", "support", map[string]string{"archived": "true", "name": "old support"}}, func() {
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+rm.ID, alice.Token, map[string]any{"archived": true, "name": "old support"}, nil)
	})
	step(want{"room.deleted", "user", "alice", "room", "old support", map[string]string{}}, func() {
		s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+rm.ID, alice.Token, nil, nil)
	})
	step(want{"apikey.revoked", "user", "alice", "apikey", "crm", map[string]string{}}, func() {
		s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+key.ID, alice.Token, nil, nil)
	})
	step(want{"apikey.created", "operator", "operator", "apikey", "ops", map[string]string{"scopes": "rooms:write"}}, func() {
		if _, err := s.App.Auth.CreateKeyForTenant(context.Background(), "acme", "ops", []string{"rooms:write"}); err != nil {
			t.Fatal(err)
		}
	})
	// Not admin actions: a member's own room, joining and leaving it.
	dora.Token = mustLogin(t, s, "acme", "dora", testkit.Password).AccessToken // disabling ended her login
	own := createRoom(t, s, dora, "dora's", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+own.ID+"/join", bob.Token, nil, nil)
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+own.ID+"/members/"+bob.ID, bob.Token, nil, nil)
	wants = slices.Insert(wants, len(wants), want{"room.created", "user", "dora", "room", "dora's", map[string]string{"visibility": "public"}})

	got := auditLog(t, s, alice.Token, "?limit=200")
	if got.HasMore || len(got.Entries) != len(wants) {
		actions := []string{}
		for _, e := range got.Entries {
			actions = append(actions, e.Action)
		}
		t.Fatalf("%d entries %v (has_more %v), want %d", len(got.Entries), actions, got.HasMore, len(wants))
	}
	for i, w := range wants {
		e := got.Entries[len(wants)-1-i]
		if e.Action != w.action || e.Actor.Type != w.actorType || e.Actor.Name != w.actorName ||
			e.Target.Type != w.targetType || e.Target.Name != w.targetName {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
		for k, v := range w.detail {
			if e.Detail[k] != v {
				t.Errorf("entry %d (%s) detail %v, want %s=%s", i, e.Action, e.Detail, k, v)
			}
		}
		if e.ID == "" || e.CreatedAt.Before(start) || e.CreatedAt.After(time.Now()) {
			t.Errorf("entry %d: id %q, created_at %v", i, e.ID, e.CreatedAt)
		}
		if w.actorType != "operator" && e.IP != "127.0.0.1" {
			t.Errorf("entry %d (%s): ip %q, want the client's", i, e.Action, e.IP)
		}
	}
	if e := got.Entries[len(wants)-5]; e.Actor.ID != key.ID || e.Target.ID != carol.ID {
		t.Errorf("user.created names its actor %+v and target %+v by id", e.Actor, e.Target)
	}
}

func TestAuditPagesNewestFirstWithinItsTenant(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	olga := s.CreateTenant(t, "other", "olga")
	bob := s.Signup(t, "acme", "bob")
	for i := range 7 {
		createRoom(t, s, alice, fmt.Sprintf("room %d", i), "public")
	}
	for i := range 3 {
		createRoom(t, s, olga, fmt.Sprintf("theirs %d", i), "public")
	}
	all := auditLog(t, s, alice.Token, "").Entries
	if len(all) != 7 {
		t.Fatalf("%d entries, want 7", len(all))
	}
	for i, e := range all {
		if want := fmt.Sprintf("room %d", 6-i); e.Target.Name != want {
			t.Errorf("entry %d is %q, want %q (newest first)", i, e.Target.Name, want)
		}
	}
	// Paged by ?before=, the pages join up without a gap or a repeat.
	var paged []auditEntry
	before := ""
	for pages := 0; ; pages++ {
		q := "?limit=3"
		if before != "" {
			q += "&before=" + before
		}
		p := auditLog(t, s, alice.Token, q)
		paged = append(paged, p.Entries...)
		if !p.HasMore {
			if pages != 2 || len(p.Entries) != 1 {
				t.Errorf("the last page is page %d with %d entries, want page 2 with 1", pages, len(p.Entries))
			}
			break
		}
		before = p.Entries[len(p.Entries)-1].ID
	}
	if !reflect.DeepEqual(paged, all) {
		t.Errorf("pages %+v, want %+v", paged, all)
	}
	// Another tenant's log is never visible: not in full, not through a cursor.
	theirs := auditLog(t, s, olga.Token, "").Entries
	if len(theirs) != 3 {
		t.Errorf("the other tenant sees %d entries, want its 3", len(theirs))
	}
	for _, e := range auditLog(t, s, olga.Token, "?before="+all[0].ID).Entries {
		if e.Target.Name[:6] != "theirs" {
			t.Errorf("the other tenant sees %+v", e)
		}
	}

	// Misuse: members, keys of any scope, no login, malformed queries; none changes anything.
	key := createKey(t, s, alice.Token, "users:write", "rooms:write", "messages:write", "tokens:write")
	snap := snapshot(t, s)
	for _, tc := range []struct {
		name, query, token string
		status             int
		code               string
	}{
		{"member", "", bob.Token, 403, "forbidden"},
		{"API key with every scope", "", key, 403, "forbidden"},
		{"no login", "", "", 401, "unauthenticated"},
		{"cursor that is no entry id", "?before=x'%20OR%201=1--", alice.Token, 400, "invalid_request"},
		{"limit too big", "?limit=201", alice.Token, 400, "invalid_request"},
		{"limit zero", "?limit=0", alice.Token, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, s.Do(t, "GET", "/api/v1/audit"+tc.query, tc.token, nil), tc.status, tc.code)
		})
	}
	// A refused admin action leaves no entry either.
	expect(t, s.Do(t, "PATCH", "/api/v1/users/"+alice.ID, bob.Token, map[string]string{"role": "member"}), http.StatusForbidden, "forbidden")
	expect(t, s.Do(t, "PATCH", "/api/v1/users/"+alice.ID, alice.Token, map[string]bool{"disabled": true}), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, snap)
}
