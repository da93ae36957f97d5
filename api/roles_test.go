package api_test

import (
	"net/http"
	"testing"

	"parley/internal/testkit"
)

// roleWorld is a tenant where bob holds the role a case is about.
type roleWorld struct {
	s          *testkit.Server
	alice, bob testkit.User // alice owns the tenant and the room
	room       room
	key        string // messages:write
	keyID      string
}

// roleChange is one change of who holds which role: the request it concerns
// is answered one way before it and the other way right after, with nothing
// but the changed row to tell the node.
type roleChange struct {
	name          string
	setup         func(t *testing.T, w roleWorld) // bob's role before the change
	request       func(t *testing.T, w roleWorld) testkit.Response
	before, after int
	// The change made by an admin through the API.
	viaAPI func(t *testing.T, w roleWorld)
}

func roleChanges() []roleChange {
	roomPath := func(w roleWorld) string { return "/api/v1/rooms/" + w.room.ID }
	setRoom := func(role string) func(t *testing.T, w roleWorld) {
		return func(t *testing.T, w roleWorld) { addMember(t, w.s, w.alice, w.room.ID, w.bob.ID, role) }
	}
	setTenant := func(fields map[string]any) func(t *testing.T, w roleWorld) {
		return func(t *testing.T, w roleWorld) {
			w.s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, fields, nil)
		}
	}
	setTopic := func(t *testing.T, w roleWorld) testkit.Response {
		return w.s.Do(t, "PATCH", roomPath(w), w.bob.Token, map[string]string{"topic": "bob's"})
	}
	return []roleChange{
		{
			name: "room owner demoted", setup: setRoom("owner"),
			request: setTopic,
			before:  http.StatusOK, after: http.StatusForbidden,
			viaAPI: setRoom("member"),
		},
		{
			name: "room member promoted", setup: setRoom("member"),
			request: setTopic,
			before:  http.StatusForbidden, after: http.StatusOK,
			viaAPI: setRoom("owner"),
		},
		{
			name: "member removed", setup: setRoom("member"),
			request: func(t *testing.T, w roleWorld) testkit.Response {
				return w.s.Do(t, "GET", roomPath(w)+"/messages", w.bob.Token, nil)
			},
			before: http.StatusOK, after: http.StatusNotFound,
			viaAPI: func(t *testing.T, w roleWorld) {
				w.s.Must(t, http.StatusNoContent, "DELETE", roomPath(w)+"/members/"+w.bob.ID, w.alice.Token, nil, nil)
			},
		},
		{
			name: "tenant admin demoted", setup: setTenant(map[string]any{"role": "admin"}),
			request: func(t *testing.T, w roleWorld) testkit.Response {
				return w.s.Do(t, "GET", "/api/v1/apikeys", w.bob.Token, nil)
			},
			before: http.StatusOK, after: http.StatusForbidden,
			viaAPI: setTenant(map[string]any{"role": "member"}),
		},
		{
			name: "tenant member promoted", setup: func(*testing.T, roleWorld) {},
			request: func(t *testing.T, w roleWorld) testkit.Response {
				return w.s.Do(t, "GET", "/api/v1/audit", w.bob.Token, nil)
			},
			before: http.StatusForbidden, after: http.StatusOK,
			viaAPI: setTenant(map[string]any{"role": "admin"}),
		},
		{
			name: "user disabled", setup: setRoom("member"),
			request: func(t *testing.T, w roleWorld) testkit.Response {
				return w.s.Do(t, "POST", roomPath(w)+"/messages", w.bob.Token, map[string]string{"body": "hi"})
			},
			before: http.StatusCreated, after: http.StatusUnauthorized,
			viaAPI: setTenant(map[string]any{"disabled": true}),
		},
		{
			name: "key revoked", setup: func(*testing.T, roleWorld) {},
			request: func(t *testing.T, w roleWorld) testkit.Response {
				return w.s.Do(t, "POST", roomPath(w)+"/messages", w.key, map[string]string{"body": "hi"})
			},
			before: http.StatusCreated, after: http.StatusUnauthorized,
			viaAPI: func(t *testing.T, w roleWorld) {
				w.s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+w.keyID, w.alice.Token, nil, nil)
			},
		},
	}
}

// newRoleWorld makes the tenant of a role case on s.
func newRoleWorld(t *testing.T, s *testkit.Server, c roleChange) roleWorld {
	t.Helper()
	w := roleWorld{s: s, alice: s.CreateTenant(t, "acme", "alice"), bob: s.Signup(t, "acme", "bob")}
	w.room = createRoom(t, s, w.alice, "team", "private")
	w.key = createKey(t, s, w.alice.Token, "messages:write")
	var keys []struct{ ID string }
	s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", w.alice.Token, nil, &keys)
	w.keyID = keys[0].ID
	c.setup(t, w)
	return w
}

// checkRoleChange asks twice before the change (the second time from
// whatever the first left in memory), changes, and asks once more.
func checkRoleChange(t *testing.T, w roleWorld, c roleChange, change func()) {
	t.Helper()
	for i := range 2 {
		if r := c.request(t, w); r.Status != c.before {
			t.Fatalf("request %d before the change: %d %s, want %d", i+1, r.Status, r.Body, c.before)
		}
	}
	change()
	if r := c.request(t, w); r.Status != c.after {
		t.Fatalf("request after the change: %d %s, want %d", r.Status, r.Body, c.after)
	}
}

// Who holds which role is read with each request from Parley's tables:
// casbin only says what a role grants. A role changed by an admin is in
// force for the very next request.
func TestRoleChangesHoldForTheNextRequest(t *testing.T) {
	t.Parallel()
	for _, c := range roleChanges() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := testkit.Start(t)
			w := newRoleWorld(t, s, c)
			checkRoleChange(t, w, c, func() { c.viaAPI(t, w) })
		})
	}
}

// With several nodes on PostgreSQL a role changed on one node is in force
// for the very next request on every other node, whose cache held the old
// row (the writer waits until every node has forgotten it: docs/CLUSTER.md,
// "The cache on PostgreSQL"). Here the change is made by another node, never
// by the node that answers. Changes must go through Parley: a row written
// straight to the tables is seen once its cache entry is next invalidated or
// the node's cache is flushed, as on SQLite.
func TestRoleChangesHoldOnEveryNode(t *testing.T) {
	t.Parallel()
	for _, c := range roleChanges() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			nodes := startNodes(t, 2)
			w := newRoleWorld(t, nodes[0], c)
			checkRoleChange(t, w, c, func() {
				on := w
				on.s = nodes[1]
				c.viaAPI(t, on)
			})
		})
	}
}
