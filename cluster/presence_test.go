package cluster_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"parley/cluster"
	"parley/internal/testkit"
)

// wait bounds each wait for a condition; a deadlock guard, not a timing assertion.
const wait = 10 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not a timed assertion
	}
}

func node(t *testing.T, url string, beat time.Duration) *cluster.Presence {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p, err := cluster.NewPresence(nc, beat, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPresenceIsClusterWide(t *testing.T) {
	n := testkit.StartNATS(t)
	a, b := node(t, n.URL, time.Hour), node(t, n.URL, time.Hour)
	if !a.StreamOpened("u1") {
		t.Fatal("first stream anywhere: the user has just come online")
	}
	eventually(t, "b hears that u1 is online on a", func() bool { return b.Online("u1") })
	if b.StreamOpened("u1") {
		t.Fatal("a second stream on another node: the user was online already")
	}
	if !b.StreamClosed("u1") || !b.Online("u1") {
		t.Fatal("b's only stream closed, and u1 is still online on a")
	}
	if !a.StreamClosed("u1") {
		t.Fatal("the last stream anywhere closed: the user is offline")
	}
	eventually(t, "b hears that u1 went offline", func() bool { return !b.Online("u1") })
}

func TestPresenceOfANodeThatStopsExpires(t *testing.T) {
	n := testkit.StartNATS(t)
	const beat = 50 * time.Millisecond
	a, b := node(t, n.URL, beat), node(t, n.URL, beat)
	gone := make(chan string, 1)
	b.OnGone(func(id string) { gone <- id })
	a.StreamOpened("u1")
	eventually(t, "b hears that u1 is online on a", func() bool { return b.Online("u1") })
	a.Close() // stops speaking, as a crashed node would, without saying u1 left
	select {
	case id := <-gone:
		if id != "u1" {
			t.Fatalf("gone: %s, want u1", id)
		}
	case <-time.After(wait):
		t.Fatal("the users of a node that stopped were never declared offline")
	}
	if b.Online("u1") {
		t.Fatal("u1 still online after its node expired")
	}
}
