package api_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

// Over HTTP/2 a connection cannot be taken over, so every stream is served
// inside its handler: these tests run the stream promises of API.md on that
// path, through real TLS with HTTP/2 as browsers speak it.

func openH2(t *testing.T, s *testkit.Server, path, token, lastEventID string) *testkit.Stream {
	t.Helper()
	st := s.Open(t, path, token, lastEventID)
	if st.Status != http.StatusOK || st.Proto != "HTTP/2.0" {
		t.Fatalf("stream %s: status %d over %s, want 200 over HTTP/2.0", path, st.Status, st.Proto)
	}
	return st
}

func TestHTTP2StreamsShareOneConnectionAndGetLiveEvents(t *testing.T) {
	s := testkit.StartHTTP2(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "general", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)

	streams := []*testkit.Stream{
		openH2(t, s, "/api/v1/events", alice.Token, ""),
		openH2(t, s, "/api/v1/rooms/"+r.ID+"/events", alice.Token, ""),
		openH2(t, s, "/api/v1/events", bob.Token, ""),
		openH2(t, s, "/api/v1/rooms/"+r.ID+"/events?token="+bob.Token, "", ""),
	}
	for _, st := range streams {
		if st.Header.Get("Content-Type") != "text/event-stream" || st.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("stream headers %v", st.Header)
		}
	}
	for i := range 3 {
		post(t, s, alice, r.ID, fmt.Sprintf("from alice %d", i))
		post(t, s, bob, r.ID, fmt.Sprintf("from bob %d", i))
		for _, st := range streams {
			expectMessage(t, st, fmt.Sprintf("from alice %d", i))
			expectMessage(t, st, fmt.Sprintf("from bob %d", i))
		}
	}
	if st := streams[0]; st.Retry != "3000" {
		t.Fatalf("retry = %q, want 3000", st.Retry)
	}
	if n := s.ConnsOpened(); n != 1 {
		t.Fatalf("the server accepted %d connections, want every request and stream on one", n)
	}
}

// A stream that stays idle longer than the write timeout is still open:
// the deadline bounds writes, not the quiet between them.
func TestHTTP2IdleStreamOutlivesTheWriteTimeout(t *testing.T) {
	s := testkit.StartHTTP2(t, func(c *config.Config) { c.PingInterval = time.Hour })
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "quiet", "public")
	st := openH2(t, s, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "")
	post(t, s, alice, r.ID, "first")
	expectMessage(t, st, "first")
	select {
	case <-st.Ended():
		t.Fatal("an idle stream was ended")
	case <-time.After(12 * time.Second):
	}
	post(t, s, alice, r.ID, "after a quiet while")
	expectMessage(t, st, "after a quiet while")
}

// Resuming over HTTP/2 replays exactly what was missed, across several
// replay pages and while posts keep coming, then goes on live.
func TestHTTP2ResumeIsExact(t *testing.T) {
	s := testkit.StartHTTP2(t, func(c *config.Config) { c.PostLimitUser = limit.Rate{} })
	alice := s.CreateTenant(t, "acme", "alice")
	rooms := []room{createRoom(t, s, alice, "one", "public"), createRoom(t, s, alice, "two", "public")}
	st := openH2(t, s, "/api/v1/events", alice.Token, "")
	post(t, s, alice, rooms[0].ID, "before")
	cursor := expectMessage(t, st, "before").ID
	st.Close()

	const backlog, during = 1100, 60
	postRange := func(from, to int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := from + w; n < to; n += 4 {
					post(t, s, alice, rooms[n%2].ID, fmt.Sprintf("m%d", n))
				}
			}()
		}
		wg.Wait()
	}
	postRange(0, backlog)
	resumed := openH2(t, s, "/api/v1/events", alice.Token, cursor)
	postRange(backlog, backlog+during)

	expectGapless(t, resumed, backlog+during, map[string]int64{rooms[0].ID: 1, rooms[1].ID: 0})
	expectSilence(t, resumed, 200*time.Millisecond)
	post(t, s, alice, rooms[1].ID, "live again")
	expectMessage(t, resumed, "live again")
}

// Authorisation stays live over HTTP/2: a removed member gets room.left and
// nothing more of the room, and logging out ends the login's streams.
func TestHTTP2RemovalAndLogoutEndDelivery(t *testing.T) {
	s := testkit.StartHTTP2(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	team := createRoom(t, s, alice, "team", "private")
	lobby := createRoom(t, s, alice, "lobby", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")
	addMember(t, s, alice, lobby.ID, bob.ID, "member")
	all := openH2(t, s, "/api/v1/events", bob.Token, "")
	one := openH2(t, s, "/api/v1/rooms/"+team.ID+"/events", bob.Token, "")
	post(t, s, alice, team.ID, "before")
	expectMessage(t, all, "before")
	expectMessage(t, one, "before")

	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/members/"+bob.ID, alice.Token, nil, nil)
	for _, st := range []*testkit.Stream{all, one} {
		var gone struct {
			RoomID string `json:"room_id"`
		}
		st.NextNamed(t, "room.left", wait).Decode(t, &gone)
		if gone.RoomID != team.ID {
			t.Fatalf("room.left for %q, want %q", gone.RoomID, team.ID)
		}
	}
	select {
	case <-one.Ended():
	case <-time.After(wait):
		t.Fatal("the one-room stream did not end after room.left")
	}
	post(t, s, alice, team.ID, "not for bob")
	post(t, s, alice, lobby.ID, "still for bob")
	// The next message bob gets is the lobby's: nothing of the team room came first.
	expectMessage(t, all, "still for bob")

	s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", bob.Token, map[string]string{"refresh_token": bob.RefreshToken}, nil)
	select {
	case <-all.Ended():
	case <-time.After(wait):
		t.Fatal("logging out did not end the stream")
	}
	if n := s.ConnsOpened(); n != 1 {
		t.Fatalf("the server accepted %d connections, want one", n)
	}
}

// A client that stops reading one HTTP/2 stream is held back by flow control,
// so the server buffers little for it, and the write deadline cuts it off,
// while a stream of the same connection that reads gets everything.
func TestHTTP2NonReadingStreamsAreCutOffAndHoldLittle(t *testing.T) {
	s := testkit.StartHTTP2(t, func(c *config.Config) { c.PostLimitUser, c.MaxStreamsPerUser = limit.Rate{}, 0 })
	const writeTimeout = 10 * time.Second
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "busy", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)

	// A connection of its own whose streams open a 64 KiB window at most.
	tr := &http.Transport{
		TLSClientConfig:   s.Client.Transport.(*http.Transport).TLSClientConfig.Clone(),
		ForceAttemptHTTP2: true,
		HTTP2:             &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10},
	}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	const stalledStreams = 20
	stalled := make([]*http.Response, stalledStreams)
	for i := range stalled {
		req, err := http.NewRequest("GET", s.URL+"/api/v1/rooms/"+r.ID+"/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+bob.Token)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("stalled stream %d: %v %v", i, resp, err)
		}
		defer resp.Body.Close()
		stalled[i] = resp // never read until the end
	}
	reader := s.OpenWith(t, client, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "")
	before := liveHeap()

	// Far more than the stalled windows and the server's queues hold.
	const total = 600
	big := strings.Repeat("x", 3900)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; n < total; n += 4 {
				post(t, s, alice, r.ID, fmt.Sprintf("%d %s", n, big))
			}
		}()
	}
	for seq := int64(1); seq <= total; seq++ {
		var me messageEvent
		reader.NextNamed(t, "message.created", wait).Decode(t, &me)
		if me.Message.Seq != seq {
			t.Fatalf("reading stream got seq %d, want %d", me.Message.Seq, seq)
		}
	}
	wg.Wait()
	// Buffered per stalled stream, the backlog would be stalledStreams x 2.3 MiB.
	grown := liveHeap() - before
	if grown > 16<<20 {
		t.Errorf("live heap grew by %d MiB with %d stalled streams", grown>>20, stalledStreams)
	}
	// Blocked in a write, each stalled stream's handler ends at the write deadline.
	streamsEnded := func() float64 {
		return s.Metric(t, "parley_http_request_duration_seconds", "route", "/api/v1/rooms/:room/events")
	}
	deadline := time.Now().Add(writeTimeout + time.Minute)
	for streamsEnded() < stalledStreams {
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d stalled streams were cut off", streamsEnded(), stalledStreams)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The client gets what its window let through, then the reset.
	for i, resp := range stalled {
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil || n > 256<<10 {
			t.Fatalf("stalled stream %d: %d bytes, then %v; want at most its window, then a reset", i, n, err)
		}
	}
	if n := s.App.Rooms.Hub().Subscribers(); n != 1 {
		t.Fatalf("%d subscribers left, want the reading one", n)
	}
}

// liveHeap is the bytes of live Go heap objects after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
