package api_test

// Replay after Last-Event-ID (issue 9, item 1): a stream's server memory stays
// bounded however long the backlog and however slowly its client reads; a
// client too far behind is told to reload (resync) instead; and resuming
// stays exact (no gap, no duplicate) across replay pages.

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/rooms"
)

// seed posts n messages of body (numbered) to the room as u, through the
// rooms service itself: faster than HTTP, the same writer.
func seed(t *testing.T, s *testkit.Server, u testkit.User, roomID string, n int, body string) {
	t.Helper()
	ctx := context.Background()
	p, err := s.App.Auth.Authenticate(ctx, u.Token)
	if err != nil {
		t.Fatal(err)
	}
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, _, err := s.App.Rooms.Post(ctx, p, roomID, rooms.NewMessage{Body: fmt.Sprint(i, " ", body)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("seed: %v", err)
	}
}

// TestReplayMemoryStaysBoundedForStalledResumers is the amplification of
// issue 9: many clients resume a long backlog from the start and never read.
// Before, each stream buffered its whole backlog (here 8 MiB) before writing;
// now each holds one page while its write waits, until it is cut off.
func TestReplayMemoryStaysBoundedForStalledResumers(t *testing.T) {
	const (
		backlog  = 1000
		resumers = 20
	)
	s := testkit.Start(t, func(c *config.Config) {
		c.PostLimitUser = limit.Rate{}
		c.MaxStreamsPerUser = 0
		c.ReplayDepth = 0 // replay it all, however long
		c.StreamWriteTimeout = 5 * time.Second
	})
	alice := s.CreateTenant(t, "acme", "alice")
	rm := createRoom(t, s, alice, "archive", "public")
	big := strings.Repeat("é", 3990) // about 8 KB a message
	seed(t, s, alice, rm.ID, backlog, big)

	base := liveHeap()
	for i := range resumers {
		conn := dialStalled(t, s)
		fmt.Fprintf(conn, "GET /api/v1/rooms/%s/events HTTP/1.1\r\nHost: parley\r\nAuthorization: Bearer %s\r\nLast-Event-ID: 0\r\n\r\n", rm.ID, alice.Token)
		// Read only the answer's status line: the stream is open, and stays unread.
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		status, err := bufio.NewReaderSize(conn, 16).ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
			t.Fatalf("stream %d: %q, %v", i+1, status, err)
		}
	}
	// Watch the heap until every stalled stream has been cut off.
	var peak int64
	deadline := time.Now().Add(2 * time.Minute)
	for s.App.Rooms.Hub().Subscribers() > 0 {
		if h := liveHeap(); h > base {
			peak = max(peak, h-base)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stalled streams were never cut off", s.App.Rooms.Hub().Subscribers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each stream's backlog is about 8 MiB: all of them buffered would be 160 MiB.
	const bound = 48 << 20
	t.Logf("%d stalled resumers of %d messages: heap grew by at most %.1f MiB", resumers, backlog, float64(peak)/(1<<20))
	if peak > bound {
		t.Fatalf("heap grew by %.1f MiB while %d clients stalled on replay, want under %d MiB",
			float64(peak)/(1<<20), resumers, bound>>20)
	}

	// The server is fine, and a reader that does read gets the whole backlog
	// in order across the replay pages, then live events, each once.
	st := s.Open(t, "/api/v1/rooms/"+rm.ID+"/events", alice.Token, "0")
	seen := map[int64]bool{}
	var last int64
	for len(seen) < backlog {
		ev := st.NextNamed(t, "message.created", 10*time.Second)
		var me messageEvent
		ev.Decode(t, &me)
		id, _ := strconv.ParseInt(ev.ID, 10, 64)
		if id <= last || seen[me.Message.Seq] {
			t.Fatalf("event %d (seq %d) after %d: out of order or repeated", id, me.Message.Seq, last)
		}
		last, seen[me.Message.Seq] = id, true
	}
	post(t, s, alice, rm.ID, "live again")
	expectMessage(t, st, "live again")
	expectSilence(t, st, 200*time.Millisecond)
}

// TestResumeBeyondReplayDepthGetsResync: a client further behind than the
// replay depth gets one resync event carrying the newest cursor, then live
// events; one within the depth gets exactly what it missed.
func TestResumeBeyondReplayDepthGetsResync(t *testing.T) {
	t.Parallel()
	const depth = 5
	s := testkit.Start(t, func(c *config.Config) { c.ReplayDepth = depth })
	alice := s.CreateTenant(t, "acme", "alice")
	rm := createRoom(t, s, alice, "busy", "public")
	for _, path := range []string{"/api/v1/rooms/" + rm.ID + "/events", "/api/v1/events"} {
		t.Run(path, func(t *testing.T) {
			watch := s.Open(t, path, alice.Token, "")
			var ids []string
			for i := range depth + 3 {
				body := fmt.Sprint(path, " ", i)
				post(t, s, alice, rm.ID, body)
				ids = append(ids, expectMessage(t, watch, body).ID)
			}
			newest := ids[len(ids)-1]

			// 7 missed, beyond the depth of 5: resync at the newest cursor, then live.
			far := s.Open(t, path, alice.Token, ids[0])
			ev := far.Next(t, wait)
			if ev.Name != "resync" || ev.ID != newest {
				t.Fatalf("far behind: first event %s id %s %s, want resync with id %s", ev.Name, ev.ID, ev.Data, newest)
			}
			var resync struct {
				Reason string `json:"reason"`
			}
			ev.Decode(t, &resync)
			if resync.Reason != "backlog" {
				t.Errorf("resync %s, want reason backlog", ev.Data)
			}
			// 3 missed, within the depth: exactly those.
			near := s.Open(t, path, alice.Token, ids[len(ids)-4])
			for _, id := range ids[len(ids)-3:] {
				if ev := near.NextNamed(t, "message.created", wait); ev.ID != id {
					t.Fatalf("near: replayed id %s, want %s", ev.ID, id)
				}
			}
			live := fmt.Sprint(path, " live")
			post(t, s, alice, rm.ID, live)
			for name, st := range map[string]*testkit.Stream{"far": far, "near": near} {
				if ev := expectMessage(t, st, live); ev.ID <= newest && len(ev.ID) <= len(newest) {
					t.Errorf("%s: live event id %s not after %s", name, ev.ID, newest)
				}
				expectSilence(t, st, 100*time.Millisecond)
			}
			expectMessage(t, watch, live)
		})
	}
}
