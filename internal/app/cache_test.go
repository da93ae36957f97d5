package app_test

// The cache on PostgreSQL with several nodes (issue 13; docs/CLUSTER.md, "The
// cache on PostgreSQL"): sessions, users, keys and memberships are served
// from each node's memory, and a change made on one node is in force for the
// very next request on every other node, whose cache held the old row.

import (
	"net/http"
	"testing"
	"time"

	"parley/internal/testkit"
)

// cacheWorld is a tenant of alice (its owner) and bob, a member of alice's
// private room, with an API key of alice's that may post.
type cacheWorld struct {
	alice, bob testkit.User
	room       string
	key        string
	keyID      string
}

func newCacheWorld(t *testing.T, a *testkit.Server, tenant string) cacheWorld {
	t.Helper()
	w := cacheWorld{alice: a.CreateTenant(t, tenant, "alice"), bob: a.Signup(t, tenant, "bob")}
	var rm busRoom
	a.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", w.alice.Token, map[string]string{"name": "team", "visibility": "private"}, &rm)
	w.room = rm.ID
	a.Must(t, http.StatusOK, "PUT", "/api/v1/rooms/"+w.room+"/members/"+w.bob.ID, w.alice.Token, map[string]string{"role": "member"}, nil)
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	a.Must(t, http.StatusCreated, "POST", "/api/v1/apikeys", w.alice.Token, map[string]any{"name": "backend", "scopes": []string{"messages:write"}}, &k)
	w.key, w.keyID = k.Key, k.ID
	return w
}

// cacheChange is one change made on node A, and the request on node B that
// it turns from before to after.
type cacheChange struct {
	name          string
	request       func(t *testing.T, b *testkit.Server, w cacheWorld) testkit.Response
	before, after int
	change        func(t *testing.T, a *testkit.Server, w cacheWorld)
}

func cacheChanges() []cacheChange {
	post := func(token func(w cacheWorld) string) func(t *testing.T, b *testkit.Server, w cacheWorld) testkit.Response {
		return func(t *testing.T, b *testkit.Server, w cacheWorld) testkit.Response {
			return b.Do(t, "POST", "/api/v1/rooms/"+w.room+"/messages", token(w), map[string]string{"body": "hi"})
		}
	}
	bob := func(w cacheWorld) string { return w.bob.Token }
	return []cacheChange{
		{
			name: "user disabled", request: post(bob), before: http.StatusCreated, after: http.StatusUnauthorized,
			change: func(t *testing.T, a *testkit.Server, w cacheWorld) {
				a.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"disabled": true}, nil)
			},
		},
		{
			name: "member removed", request: post(bob), before: http.StatusCreated, after: http.StatusNotFound,
			change: func(t *testing.T, a *testkit.Server, w cacheWorld) {
				a.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+w.room+"/members/"+w.bob.ID, w.alice.Token, nil, nil)
			},
		},
		{
			name: "key revoked", request: post(func(w cacheWorld) string { return w.key }), before: http.StatusCreated, after: http.StatusUnauthorized,
			change: func(t *testing.T, a *testkit.Server, w cacheWorld) {
				a.Must(t, http.StatusNoContent, "DELETE", "/api/v1/apikeys/"+w.keyID, w.alice.Token, nil, nil)
			},
		},
		{
			name: "logged out", request: post(bob), before: http.StatusCreated, after: http.StatusUnauthorized,
			change: func(t *testing.T, a *testkit.Server, w cacheWorld) {
				a.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", w.bob.Token, map[string]string{"refresh_token": w.bob.RefreshToken}, nil)
			},
		},
		{
			name: "tenant member promoted",
			request: func(t *testing.T, b *testkit.Server, w cacheWorld) testkit.Response {
				return b.Do(t, "GET", "/api/v1/apikeys", w.bob.Token, nil)
			},
			before: http.StatusForbidden, after: http.StatusOK,
			change: func(t *testing.T, a *testkit.Server, w cacheWorld) {
				a.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+w.bob.ID, w.alice.Token, map[string]any{"role": "admin"}, nil)
			},
		},
	}
}

// warm repeats c's request on b until it is answered as before the change
// from b's cache alone, without a database read: the cache then holds every
// row the request needs.
func warm(t *testing.T, b *testkit.Server, w cacheWorld, c cacheChange) {
	t.Helper()
	deadline := time.Now().Add(busWait)
	for {
		reads := b.App.Store.Cache().Reads()
		r := c.request(t, b, w)
		if r.Status != c.before {
			t.Fatalf("%s: before the change: %d %s, want %d", c.name, r.Status, r.Body, c.before)
		}
		if b.App.Store.Cache().Reads() == reads {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: node B still reads the database for every request", c.name)
		}
	}
}

// checkCacheChange warms node b's cache, makes the change on a, and expects
// the very next request on b to see it.
func checkCacheChange(t *testing.T, a, b *testkit.Server, w cacheWorld, c cacheChange) {
	t.Helper()
	warm(t, b, w, c)
	c.change(t, a, w)
	if r := c.request(t, b, w); r.Status != c.after {
		t.Fatalf("%s: the next request on node B: %d %s, want %d", c.name, r.Status, r.Body, c.after)
	}
}

func TestClusterCachedAuthChangesHoldForTheNextRequestOnEveryNode(t *testing.T) {
	c := startCluster(t, 2, nil, nil)
	a, b := c.nodes[0], c.nodes[1]
	for i, ch := range cacheChanges() {
		t.Run(ch.name, func(t *testing.T) {
			w := newCacheWorld(t, a, "t"+string(rune('a'+i)))
			checkCacheChange(t, a, b, w, ch)
		})
	}
}

// trusted waits until node s's cache serves (want) or has stopped serving.
func trusted(t *testing.T, s *testkit.Server, want bool, never string) {
	t.Helper()
	deadline := time.Now().Add(busWait)
	for s.App.Store.Cache().Trusted() != want {
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not a timed assertion
	}
}

// A node cut off from the bus cannot hear of other nodes' changes at once:
// it stops serving from its cache (and writes stop waiting for it), reads
// every row from the database, and serves from its cache again once the bus
// is back.
func TestClusterNodeThatLosesTheBusStopsTrustingItsCache(t *testing.T) {
	c := startCluster(t, 2, nil, nil)
	a, b := c.nodes[0], c.nodes[1]
	changes := cacheChanges()
	disable, remove := changes[0], changes[1]
	w := newCacheWorld(t, a, "acme")
	warm(t, b, w, remove)

	c.nats.Stop()
	trusted(t, b, false, "node B still trusts its cache with the bus down")
	reads := b.App.Store.Cache().Reads()
	if r := remove.request(t, b, w); r.Status != remove.before {
		t.Fatalf("with the bus down: %d %s, want %d", r.Status, r.Body, remove.before)
	}
	if b.App.Store.Cache().Reads() == reads {
		t.Fatal("node B served a request from its cache with the bus down")
	}
	disable.change(t, a, w) // with the bus down
	if r := disable.request(t, b, w); r.Status != disable.after {
		t.Fatalf("disabled with the bus down: %d %s, want %d", r.Status, r.Body, disable.after)
	}

	c.nats.Start(t)
	trusted(t, b, true, "node B does not trust its cache again after the bus came back")
	checkCacheChange(t, a, b, newCacheWorld(t, a, "globex"), remove)
}
