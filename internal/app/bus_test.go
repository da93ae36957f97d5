package app_test

// The bus seam (issue 10): the in-process bus and NATS run the same tests.
// Log messages are lost on purpose (rooms.Lossy) and every stream must still
// get every event, in id order, exactly once: the relay reads what is
// missing from the database, and a periodic check finds a lost last message.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"parley/cluster"
	"parley/config"
	"parley/internal/app"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/rooms"
)

// busWait bounds waits for delivery; a deadlock guard, not a timing assertion.
const busWait = 15 * time.Second

// buses lists the bus implementations every bus test runs on; each returns
// the node's bus from the default in-process one.
func buses(t *testing.T) map[string]func(t *testing.T) func(rooms.Bus) rooms.Bus {
	return map[string]func(t *testing.T) func(rooms.Bus) rooms.Bus{
		"local": func(*testing.T) func(rooms.Bus) rooms.Bus { return func(b rooms.Bus) rooms.Bus { return b } },
		"nats": func(t *testing.T) func(rooms.Bus) rooms.Bus {
			n := testkit.StartNATS(t)
			return func(rooms.Bus) rooms.Bus {
				b, err := cluster.Connect(n.URL, cluster.Options{Name: t.Name()})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		},
	}
}

// lossyNode starts a node on the bus whose log deliveries drop loses.
func lossyNode(t *testing.T, bus func(rooms.Bus) rooms.Bus, drop func([]*rooms.Event) bool, opts ...func(*config.Config)) *testkit.Server {
	t.Helper()
	wrap := app.WithBusWrapper(func(b rooms.Bus) rooms.Bus { return rooms.Lossy(bus(b), drop) })
	return testkit.StartWith(t, []app.Option{wrap}, append([]func(*config.Config){func(c *config.Config) {
		c.PostLimitUser = limit.Rate{}
		c.MaxStreamsPerUser = 0
	}}, opts...)...)
}

type busRoom struct {
	ID string `json:"id"`
}

type busMessage struct {
	RoomID  string `json:"room_id"`
	Message struct {
		Seq  int64  `json:"seq"`
		Body string `json:"body"`
	} `json:"message"`
}

// expectMessages reads message.created events until it has n, checking that
// they come in seq order with ids rising, and nothing twice.
func expectMessages(t *testing.T, st *testkit.Stream, n int) string {
	t.Helper()
	return expectSeqs(t, st, 1, n)
}

// expectSeqs is expectMessages for seq from to to.
func expectSeqs(t *testing.T, st *testkit.Stream, from, to int) string {
	t.Helper()
	var lastID int64
	for i := from; i <= to; i++ {
		ev := st.NextNamed(t, "message.created", busWait)
		var m busMessage
		ev.Decode(t, &m)
		if m.Message.Seq != int64(i) {
			t.Fatalf("message %d: got seq %d (%s)", i, m.Message.Seq, m.Message.Body)
		}
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= lastID {
			t.Fatalf("event id %d after %d", id, lastID)
		}
		lastID = id
	}
	return strconv.FormatInt(lastID, 10)
}

func TestBusLostMessagesAreReadFromTheLog(t *testing.T) {
	for name, bus := range buses(t) {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int64
			s := lossyNode(t, bus(t), func([]*rooms.Event) bool { return n.Add(1)%3 == 0 })
			alice := s.CreateTenant(t, "acme", "alice")
			rm := createRoomOn(t, s, alice, "general")
			st := s.Open(t, "/api/v1/events", alice.Token, "")
			for i := range 30 {
				s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm+"/messages", alice.Token, map[string]string{"body": fmt.Sprint(i)}, nil)
			}
			expectMessages(t, st, 30)
			if got := s.Metric(t, "parley_bus_recovered_events_total"); got == 0 {
				t.Fatal("no event was read from the log, yet a third of the bus messages were lost")
			}
			if ev, ok := st.TryNext(0); ok {
				t.Fatalf("unexpected event after the last message: %+v", ev)
			}
		})
	}
}

func TestBusLostLastMessageIsFound(t *testing.T) {
	for name, bus := range buses(t) {
		t.Run(name, func(t *testing.T) {
			var lose atomic.Bool
			s := lossyNode(t, bus(t), func([]*rooms.Event) bool { return lose.Load() })
			alice := s.CreateTenant(t, "acme", "alice")
			rm := createRoomOn(t, s, alice, "general")
			st := s.Open(t, "/api/v1/events", alice.Token, "")
			lose.Store(true) // nothing more comes over the bus: no later message reveals the gap
			s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm+"/messages", alice.Token, map[string]string{"body": "only"}, nil)
			expectMessages(t, st, 1)
		})
	}
}

func TestBusLostRevocationStillEndsTheStream(t *testing.T) {
	for name, bus := range buses(t) {
		t.Run(name, func(t *testing.T) {
			var lose atomic.Bool
			s := lossyNode(t, bus(t), func([]*rooms.Event) bool { return lose.Load() })
			alice := s.CreateTenant(t, "acme", "alice")
			st := s.Open(t, "/api/v1/events", alice.Token, "")
			lose.Store(true)
			s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", alice.Token, map[string]string{"refresh_token": alice.RefreshToken}, nil)
			select {
			case <-st.Ended():
			case <-time.After(busWait):
				t.Fatal("the stream of a logged-out session is still open")
			}
		})
	}
}

func TestBusCarriesTyping(t *testing.T) {
	for name, bus := range buses(t) {
		t.Run(name, func(t *testing.T) {
			s := lossyNode(t, bus(t), func([]*rooms.Event) bool { return false })
			alice := s.CreateTenant(t, "acme", "alice")
			bob := s.Signup(t, "acme", "bob")
			rm := createRoomOn(t, s, alice, "general")
			s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+rm+"/join", bob.Token, nil, nil)
			st := s.Open(t, "/api/v1/rooms/"+rm+"/events", alice.Token, "")
			s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+rm+"/typing", bob.Token, nil, nil)
			ev := st.NextNamed(t, "typing", busWait)
			if ev.ID != "" {
				t.Fatalf("typing carries an id (%s): it must never be replayed", ev.ID)
			}
		})
	}
}

// A commit larger than one bus message may be (NATS: 1 MB) still travels on
// the bus, in several messages, instead of being left to the log reads.
func TestBusCarriesLargeCommits(t *testing.T) {
	for name, bus := range buses(t) {
		t.Run(name, func(t *testing.T) {
			// Only the bus may deliver: the log is never read, however slow it is.
			s := lossyNode(t, bus(t), func([]*rooms.Event) bool { return false }, func(c *config.Config) {
				c.BusGapWait, c.BusCatchUpInterval = time.Hour, time.Hour
			})
			alice := s.CreateTenant(t, "acme", "alice")
			rm := createRoomOn(t, s, alice, "general")
			st := s.Open(t, "/api/v1/events", alice.Token, "")
			long := strings.Repeat("😀", 4000) // 16 KB a message, over 2 MB of frames in all
			batch := make([]map[string]string, 100)
			for i := range batch {
				batch[i] = map[string]string{"body": long}
			}
			s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm+"/messages/batch", alice.Token, map[string]any{"messages": batch}, nil)
			expectMessages(t, st, len(batch))
			if got := s.Metric(t, "parley_bus_recovered_events_total"); got != 0 {
				t.Fatalf("%v events were read from the log: the bus did not carry the commit", got)
			}
		})
	}
}
