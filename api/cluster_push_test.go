package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
)

// In a cluster a new message is pushed once, by the node that committed it,
// and only to members with no live stream on any node; a subscription made
// on one node is pushed to by every other at once.
func TestClusterPushesOncePerMessageToMembersOfflineEverywhere(t *testing.T) {
	ps := startPushService(t)
	_, shared := testkit.Cluster(t)
	cfg := func(c *config.Config) {
		shared(c)
		c.PushAllowPrivateEndpoints = true // the stand-in push service listens on loopback
		c.PushWorkers = 1                  // one at a time: each node pushes in message order
		c.PresenceGrace = 0
		c.PingInterval = 50 * time.Millisecond // a closed stream is noticed at its next write
	}
	a, b := testkit.Start(t, cfg), testkit.Start(t, cfg)
	alice := a.CreateTenant(t, "acme", "alice")
	bob := a.Signup(t, "acme", "bob")
	room := createRoom(t, a, alice, "general", "private")
	addMember(t, a, alice, room.ID, bob.ID, "member")
	bobPhone := newDevice(t, ps, "bob-phone")
	body := func(got receivedPush) string {
		t.Helper()
		var p pushPayload
		if err := json.Unmarshal(bobPhone.decrypt(t, got.body), &p); err != nil {
			t.Fatal(err)
		}
		return p.Body
	}

	// Bob has the app open on node B: node A, where alice posts, knows.
	stream := b.Open(t, "/api/v1/events", bob.Token, "")
	waitFor(t, "node A hears that bob is online on B", func() bool { return a.App.Rooms.Presence().Online(bob.ID) })
	// Node B learns that nobody in acme has a push subscription; then bob
	// subscribes through node A, and B must know at once (below, "two").
	post(t, b, alice, room.ID, "zero")
	subscribe(t, a, bob.Token, bobPhone)
	post(t, a, alice, room.ID, "one")

	// Bob closes it: his phone gets the next ones, each once, whichever node commits them.
	stream.Close()
	waitFor(t, "every node hears that bob is offline", func() bool {
		return !a.App.Rooms.Presence().Online(bob.ID) && !b.App.Rooms.Presence().Online(bob.ID)
	})
	post(t, b, alice, room.ID, "two")
	if got := body(ps.next(t)); got != "two" {
		t.Fatalf("first push: %q, want two (none for one: bob was online on another node)", got)
	}
	post(t, a, alice, room.ID, "three")
	if got := body(ps.next(t)); got != "three" {
		t.Fatalf("second push: %q, want three (two was pushed once, by its node)", got)
	}
}
