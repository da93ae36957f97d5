package app_test

// Cluster mode (issue 10): three nodes, each with its own listeners, on one
// fresh PostgreSQL database and a NATS server of the test's own. Every
// guarantee of the API holds across them: live delivery in commit order,
// gapless seq and idempotent client_id under concurrent posts through every
// node, exact resume on another node, revocations in force everywhere, and
// no stream silently missing an event when bus messages are lost or the bus
// itself goes down.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/config"
	"parley/internal/app"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/rooms"
)

type testCluster struct {
	nodes []*testkit.Server
	nats  *testkit.NATS
}

// clusterConfig is what every node of one cluster shares: the database, the
// bus and the secrets (a node never generates its own in a cluster), and
// limits off for the load.
func clusterConfig(t *testing.T) (*testkit.NATS, func(*config.Config)) {
	t.Helper()
	n, shared := testkit.Cluster(t)
	return n, func(c *config.Config) {
		shared(c)
		c.PostLimitUser, c.PostLimitKey = limit.Rate{}, limit.Rate{}
		c.MaxStreamsPerUser, c.MaxConnsPerIP = 0, 0
		c.PresenceGrace = 0
	}
}

// startCluster runs n nodes; wrap, if set, hands node i's bus through
// wrap(i). setup runs on the first node before the others start (users,
// rooms and memberships that every node then knows from its start).
func startCluster(t *testing.T, n int, wrap func(i int, b rooms.Bus) rooms.Bus, setup func(first *testkit.Server)) *testCluster {
	t.Helper()
	nt, shared := clusterConfig(t)
	c := &testCluster{nats: nt}
	for i := range n {
		var opts []app.Option
		if wrap != nil {
			opts = append(opts, app.WithBusWrapper(func(b rooms.Bus) rooms.Bus { return wrap(i, b) }))
		}
		c.nodes = append(c.nodes, testkit.StartWith(t, opts, shared))
		if i == 0 && setup != nil {
			setup(c.nodes[0])
		}
	}
	return c
}

// startWithRoom runs n nodes (wrap as startCluster) with a tenant whose
// owner, alice, has a public room named name.
func startWithRoom(t *testing.T, n int, wrap func(i int, b rooms.Bus) rooms.Bus, name string) (*testCluster, testkit.User, string) {
	t.Helper()
	var alice testkit.User
	var room string
	c := startCluster(t, n, wrap, func(a *testkit.Server) {
		alice = a.CreateTenant(t, "acme", "alice")
		room = createRoomOn(t, a, alice, name)
	})
	return c, alice, room
}

// startWithPeople runs n nodes with a tenant of alice, bob and carol; alice
// owns the room "general", bob is a member, and carol too if carolJoins.
func startWithPeople(t *testing.T, n int, carolJoins bool) (c *testCluster, alice, bob, carol testkit.User, room string) {
	t.Helper()
	c = startCluster(t, n, nil, func(a *testkit.Server) {
		alice, bob, carol = a.CreateTenant(t, "acme", "alice"), a.Signup(t, "acme", "bob"), a.Signup(t, "acme", "carol")
		room = createRoomOn(t, a, alice, "general")
		members := []testkit.User{bob}
		if carolJoins {
			members = append(members, carol)
		}
		for _, u := range members {
			a.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+room+"/join", u.Token, nil, nil)
		}
	})
	return c, alice, bob, carol, room
}

func createRoomOn(t *testing.T, s *testkit.Server, u testkit.User, name string) string {
	t.Helper()
	var rm busRoom
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", u.Token, map[string]string{"name": name, "visibility": "public"}, &rm)
	return rm.ID
}

func postOn(t *testing.T, s *testkit.Server, u testkit.User, roomID, body, clientID string) (int, busMessage) {
	t.Helper()
	r := s.Do(t, "POST", "/api/v1/rooms/"+roomID+"/messages", u.Token, map[string]string{"body": body, "client_id": clientID})
	var m busMessage
	if r.Status == http.StatusCreated || r.Status == http.StatusOK {
		r.Decode(t, &m.Message)
	}
	return r.Status, m
}

func TestClusterPostReachesEveryNodeInCommitOrder(t *testing.T) {
	c, alice, bob, carol, room := startWithPeople(t, 3, true)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	streams := []*testkit.Stream{
		a.Open(t, "/api/v1/events", alice.Token, ""),
		b.Open(t, "/api/v1/events", bob.Token, ""),
		cc.Open(t, "/api/v1/rooms/"+room+"/events", carol.Token, ""),
	}
	for i := range 20 {
		if status, _ := postOn(t, c.nodes[i%3], []testkit.User{alice, bob, carol}[i%3], room, fmt.Sprint(i), ""); status != http.StatusCreated {
			t.Fatalf("post %d: status %d", i, status)
		}
	}
	for _, st := range streams {
		expectMessages(t, st, 20)
	}
}

func TestClusterConcurrentPostsKeepSeqGaplessAndClientIDsIdempotent(t *testing.T) {
	c, alice, room := startWithRoom(t, 3, nil, "busy")
	var streams []*testkit.Stream
	for _, s := range c.nodes {
		streams = append(streams, s.Open(t, "/api/v1/rooms/"+room+"/events", alice.Token, ""))
	}
	const posts, posters = 200, 24
	var wg sync.WaitGroup
	seqs := make([]int64, posts)
	for w := range posters {
		wg.Go(func() {
			for i := w; i < posts; i += posters {
				// Each post is sent twice, through two nodes at once, with one client_id.
				id := fmt.Sprintf("c-%d", i)
				var s1, s2 int
				var m1, m2 busMessage
				var both sync.WaitGroup
				both.Go(func() { s1, m1 = postOn(t, c.nodes[i%3], alice, room, fmt.Sprint(i), id) })
				both.Go(func() { s2, m2 = postOn(t, c.nodes[(i+1)%3], alice, room, fmt.Sprint(i), id) })
				both.Wait()
				if s1 >= 300 || s2 >= 300 || m1.Message.Seq != m2.Message.Seq {
					t.Errorf("post %d: statuses %d/%d, seqs %d/%d", i, s1, s2, m1.Message.Seq, m2.Message.Seq)
				}
				seqs[i] = m1.Message.Seq
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, seq := range seqs {
		if seq < 1 || seq > posts || seen[seq] {
			t.Fatalf("seq %d out of 1..%d or given twice", seq, posts)
		}
		seen[seq] = true
	}
	for _, st := range streams {
		expectMessages(t, st, posts)
		if ev, ok := st.TryNext(0); ok && ev.Name == "message.created" {
			t.Fatalf("a message delivered more than once: %+v", ev)
		}
	}
}

func TestClusterResumeOnAnotherNodeIsExact(t *testing.T) {
	c, alice, room := startWithRoom(t, 3, nil, "moving")
	st := c.nodes[0].Open(t, "/api/v1/events", alice.Token, "")
	const total = 90
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // others keep committing, through B and C, all along
		defer wg.Done()
		for i := range total {
			if status, _ := postOn(t, c.nodes[1+i%2], alice, room, fmt.Sprint(i), ""); status != http.StatusCreated {
				t.Errorf("post %d: status %d", i, status)
			}
		}
	}()
	cursor := expectMessages(t, st, 30)
	st.Close()
	resumed := c.nodes[2].Open(t, "/api/v1/events", alice.Token, cursor)
	last, _ := strconv.ParseInt(cursor, 10, 64)
	for seq := int64(31); seq <= total; seq++ {
		ev := resumed.NextNamed(t, "message.created", busWait)
		var m busMessage
		ev.Decode(t, &m)
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if m.Message.Seq != seq || id <= last {
			t.Fatalf("after resuming: seq %d (id %d), want seq %d after id %d", m.Message.Seq, id, seq, last)
		}
		last = id
	}
	wg.Wait()
}

func TestClusterRevocationsEndStreamsOnOtherNodes(t *testing.T) {
	var alice, bob, carol, dave testkit.User
	var room string
	c := startCluster(t, 2, nil, func(a *testkit.Server) {
		alice, bob, carol, dave = a.CreateTenant(t, "acme", "alice"), a.Signup(t, "acme", "bob"), a.Signup(t, "acme", "carol"), a.Signup(t, "acme", "dave")
		room = createRoomOn(t, a, alice, "general")
		a.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+room+"/join", carol.Token, nil, nil)
	})
	a, b := c.nodes[0], c.nodes[1]

	ended := func(what string, st *testkit.Stream) {
		t.Helper()
		select {
		case <-st.Ended():
		case <-time.After(busWait):
			t.Fatalf("%s: the stream on the other node is still open", what)
		}
	}
	// Logging out on A ends the login's stream on B.
	bobStream := b.Open(t, "/api/v1/events", bob.Token, "")
	a.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", bob.Token, map[string]string{"refresh_token": bob.RefreshToken}, nil)
	ended("logout", bobStream)

	// Removing a member on A ends their one-room stream on B.
	carolStream := b.Open(t, "/api/v1/rooms/"+room+"/events", carol.Token, "")
	a.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/members/"+carol.ID, alice.Token, nil, nil)
	carolStream.NextNamed(t, "room.left", busWait)
	ended("member removed", carolStream)

	// Disabling a user on A ends all their streams on B.
	daveStream := b.Open(t, "/api/v1/events", dave.Token, "")
	a.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+dave.ID, alice.Token, map[string]any{"disabled": true}, nil)
	ended("user disabled", daveStream)

	// Deleting a room on A ends its streams on B.
	aliceStream := b.Open(t, "/api/v1/rooms/"+room+"/events", alice.Token, "")
	a.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room, alice.Token, nil, nil)
	aliceStream.NextNamed(t, "room.deleted", busWait)
	ended("room deleted", aliceStream)
}

func TestClusterLostBusMessagesAreRecovered(t *testing.T) {
	var n atomic.Int64
	c, alice, room := startWithRoom(t, 2, func(i int, b rooms.Bus) rooms.Bus {
		if i == 0 {
			return b
		}
		return rooms.Lossy(b, func([]*rooms.Event) bool { return n.Add(1)%3 == 0 })
	}, "lossy")
	a, b := c.nodes[0], c.nodes[1]
	st := b.Open(t, "/api/v1/events", alice.Token, "")
	for i := range 30 {
		postOn(t, a, alice, room, fmt.Sprint(i), "")
	}
	expectMessages(t, st, 30)
	if b.Metric(t, "parley_bus_recovered_events_total") == 0 {
		t.Fatal("node B read nothing from the log, yet it lost a third of the bus messages")
	}
}

func TestClusterBusDownAndBackLosesNothing(t *testing.T) {
	c, alice, room := startWithRoom(t, 2, nil, "outage")
	a, b := c.nodes[0], c.nodes[1]
	st := b.Open(t, "/api/v1/events", alice.Token, "")
	for i := range 10 {
		postOn(t, a, alice, room, fmt.Sprint(i), "")
	}
	c.nats.Stop()
	for i := 10; i < 20; i++ { // committed while the bus is down
		postOn(t, a, alice, room, fmt.Sprint(i), "")
	}
	readyz(t, b, http.StatusServiceUnavailable, "node B says it is ready while the bus is down")
	expectMessages(t, st, 20) // read from the log by B's periodic check
	c.nats.Start(t)
	for i := 20; i < 30; i++ {
		postOn(t, a, alice, room, fmt.Sprint(i), "")
	}
	expectSeqs(t, st, 21, 30)
	readyz(t, b, http.StatusOK, "node B is not ready again after the bus came back")
}

// readyz waits until the node's /readyz answers want.
func readyz(t *testing.T, s *testkit.Server, want int, never string) {
	t.Helper()
	deadline := time.Now().Add(busWait)
	for s.Do(t, "GET", "/readyz", "", nil).Status != want {
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not a timed assertion
	}
}

func TestClusterTypingAndPresenceReachMembersOnOtherNodesOnly(t *testing.T) {
	c, alice, bob, carol, room := startWithPeople(t, 2, false)
	a, b := c.nodes[0], c.nodes[1]
	aliceStream := a.Open(t, "/api/v1/events", alice.Token, "")
	carolStream := a.Open(t, "/api/v1/events", carol.Token, "") // not in the room

	// Bob comes online on B: alice, on A, hears it.
	bobStream := b.Open(t, "/api/v1/events", bob.Token, "")
	var p struct {
		UserID string `json:"user_id"`
		Online bool   `json:"online"`
	}
	aliceStream.NextNamed(t, "presence", busWait).Decode(t, &p)
	if p.UserID != bob.ID || !p.Online {
		t.Fatalf("presence %+v, want bob online", p)
	}
	// Bob types on B: alice hears it on A; then a message, which carol must not see either.
	b.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+room+"/typing", bob.Token, nil, nil)
	if ev := aliceStream.NextNamed(t, "typing", busWait); ev.ID != "" {
		t.Fatalf("typing carries an id (%s): it must never be replayed", ev.ID)
	}
	postOn(t, b, bob, room, "hi", "")
	cursor := aliceStream.NextNamed(t, "message.created", busWait).ID
	bobStream.Close()

	// Carol, not a member, got none of it: her next event is her own, later.
	carolRoom := createRoomOn(t, a, carol, "carols")
	if ev := carolStream.Next(t, busWait); ev.Name != "member.joined" || !strings.Contains(ev.Data, carolRoom) {
		t.Fatalf("carol's stream got %s %s before her own room", ev.Name, ev.Data)
	}
	// Resuming never replays the typing or presence events.
	resumed := b.Open(t, "/api/v1/events", alice.Token, "0")
	for {
		ev := resumed.Next(t, busWait)
		if ev.Name == "typing" || ev.Name == "presence" {
			t.Fatalf("replayed an ephemeral %s", ev.Name)
		}
		if ev.ID == cursor {
			break
		}
	}
}

// Every node loses a quarter of its log messages while posts come through
// all of them into two rooms: each node's stream still gets every message
// once, ids rising, each room's seq without a gap.
func TestClusterLossyEverywhereUnderConcurrentPosts(t *testing.T) {
	var n atomic.Int64
	var alice testkit.User
	var rooms2 [2]string
	c := startCluster(t, 3, func(_ int, b rooms.Bus) rooms.Bus {
		return rooms.Lossy(b, func([]*rooms.Event) bool { return n.Add(1)%4 == 0 })
	}, func(a *testkit.Server) {
		alice = a.CreateTenant(t, "acme", "alice")
		rooms2 = [2]string{createRoomOn(t, a, alice, "one"), createRoomOn(t, a, alice, "two")}
	})
	var streams []*testkit.Stream
	for _, s := range c.nodes {
		streams = append(streams, s.Open(t, "/api/v1/events", alice.Token, ""))
	}
	const posts, posters = 150, 6
	var wg sync.WaitGroup
	for w := range posters {
		wg.Go(func() {
			for i := w; i < posts; i += posters {
				if status, _ := postOn(t, c.nodes[i%3], alice, rooms2[i%2], fmt.Sprint(i), ""); status != http.StatusCreated {
					t.Errorf("post %d: status %d", i, status)
				}
			}
		})
	}
	wg.Wait()
	for i, st := range streams {
		seq := map[string]int64{}
		var lastID int64
		for range posts {
			ev := st.NextNamed(t, "message.created", busWait)
			var m busMessage
			ev.Decode(t, &m)
			id, _ := strconv.ParseInt(ev.ID, 10, 64)
			if id <= lastID || m.Message.Seq != seq[m.RoomID]+1 {
				t.Fatalf("node %d: event %d (room seq %d) after event %d (room seq %d)", i, id, m.Message.Seq, lastID, seq[m.RoomID])
			}
			lastID, seq[m.RoomID] = id, m.Message.Seq
		}
	}
}
