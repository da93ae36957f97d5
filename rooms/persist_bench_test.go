package rooms_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"parley/auth"
	"parley/internal/testkit"
	"parley/rooms"
	"parley/store"
)

type benchRoom struct {
	srv    *testkit.Server
	svc    *rooms.Service
	p      auth.Principal
	roomID string
}

// newPostingRoom starts a node with a tenant, its owner and a public room.
func newPostingRoom(tb testing.TB) benchRoom {
	tb.Helper()
	srv := testkit.Start(tb)
	owner := srv.CreateTenant(tb, "bench", "owner")
	var room struct {
		ID string `json:"id"`
	}
	srv.Must(tb, http.StatusCreated, "POST", "/api/v1/rooms", owner.Token,
		map[string]string{"name": "bench", "visibility": "public"}, &room)
	p, err := srv.App.Auth.Authenticate(context.Background(), owner.Token)
	if err != nil {
		tb.Fatalf("authenticate: %v", err)
	}
	return benchRoom{srv: srv, svc: srv.App.Rooms, p: p, roomID: room.ID}
}

// Concurrent posts repeating one client_id (a client retrying on several
// connections) store one message, all answer with it, and leave no gap in the
// room's sequence.
func TestConcurrentPostsWithSameClientID(t *testing.T) {
	r := newPostingRoom(t)
	ctx := context.Background()
	const rounds, posters = 3, 24
	for round := 1; round <= rounds; round++ {
		clientID := fmt.Sprintf("retry-%d", round)
		type result struct {
			msg     rooms.MessageJSON
			created bool
			err     error
		}
		results := make([]result, posters)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range posters {
			wg.Go(func() {
				<-start
				m, created, err := r.svc.Post(ctx, r.p, r.roomID, rooms.NewMessage{Body: "once", ClientID: clientID})
				results[i] = result{m, created, err}
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i, res := range results {
			if res.err != nil {
				t.Fatalf("round %d, poster %d: %v", round, i, res.err)
			}
			if res.created {
				created++
			}
			if res.msg.ID != results[0].msg.ID || res.msg.Seq != int64(round) || res.msg.ClientID != clientID {
				t.Errorf("round %d, poster %d got message %s seq %d client_id %q; poster 0 got %s, want seq %d",
					round, i, res.msg.ID, res.msg.Seq, res.msg.ClientID, results[0].msg.ID, round)
			}
		}
		if created != 1 {
			t.Errorf("round %d: %d posts reported created, want exactly 1", round, created)
		}
	}
	var n int64
	if err := r.srv.App.Store.Read(ctx).Model(&store.Message{}).Where("room_id = ?", r.roomID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != rounds {
		t.Errorf("%d messages stored, want %d", n, rounds)
	}
}

// Many posts racing into one room are written in groups: each is stored
// once, with its own seq, and the seqs have no gap.
func TestManyConcurrentPostsShareWrites(t *testing.T) {
	r := newPostingRoom(t)
	const posters = 300
	seqs := make([]int64, posters)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range posters {
		wg.Go(func() {
			<-start
			m, created, err := r.svc.Post(context.Background(), r.p, r.roomID, rooms.NewMessage{Body: fmt.Sprint("racing ", i), ClientID: fmt.Sprint("c", i)})
			if err != nil || !created {
				t.Errorf("post %d: created=%v err=%v", i, created, err)
			}
			seqs[i] = m.Seq
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("seqs %v…: want 1..%d without gaps", seqs[:min(len(seqs), i+3)], posters)
		}
	}
}

// BenchmarkPostMessage measures messages persisted per second through
// rooms.Service.Post on a real node (SQLite file, synchronous=FULL): each Post
// returns only once its message is durable, so concurrent posters share
// commits. Every poster writes to the same room, the worst case for the
// room's sequence counter; with authors, each poster is a member of its own
// (as in the load tool), so a commit holds many authors' client_ids.
func BenchmarkPostMessage(b *testing.B) {
	for _, bc := range []struct {
		posters, authors int
		clientIDs        bool
	}{
		{posters: 1, clientIDs: true},
		{posters: 16, clientIDs: true},
		{posters: 16, authors: 16, clientIDs: true},
		{posters: 64, clientIDs: true},
		{posters: 64, clientIDs: false},
	} {
		name := fmt.Sprintf("posters=%d", bc.posters)
		if bc.authors > 0 {
			name += fmt.Sprintf("/authors=%d", bc.authors)
		}
		if !bc.clientIDs {
			name += "/no_client_id"
		}
		b.Run(name, func(b *testing.B) { benchmarkPost(b, bc.posters, bc.authors, bc.clientIDs) })
	}
}

// postingAuthors signs up n members of the bench room and returns them as
// principals; none gives the room's owner alone.
func postingAuthors(b *testing.B, r benchRoom, n int) []auth.Principal {
	if n == 0 {
		return []auth.Principal{r.p}
	}
	ps := make([]auth.Principal, n)
	for i := range ps {
		u := r.srv.Signup(b, "bench", fmt.Sprintf("author%d", i))
		r.srv.Must(b, http.StatusOK, "POST", "/api/v1/rooms/"+r.roomID+"/join", u.Token, nil, nil)
		p, err := r.srv.App.Auth.Authenticate(context.Background(), u.Token)
		if err != nil {
			b.Fatalf("authenticate: %v", err)
		}
		ps[i] = p
	}
	return ps
}

func benchmarkPost(b *testing.B, posters, authors int, clientIDs bool) {
	r := newPostingRoom(b)
	srv, svc, ctx := r.srv, r.svc, context.Background()
	ps := postingAuthors(b, r, authors)

	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := testkit.CPUTime(b)
	b.ResetTimer()
	for k := range posters {
		p := ps[k%len(ps)]
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				in := rooms.NewMessage{Body: fmt.Sprintf("benchmark message %d", i)}
				if clientIDs {
					in.ClientID = fmt.Sprintf("c-%d", i)
				}
				if _, created, err := svc.Post(ctx, p, r.roomID, in); err != nil || !created {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("post %d: created=%v err=%v", i, created, err))
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu := testkit.CPUTime(b) - cpu0
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d posts failed; first: %v", n, firstErr.Load())
	}
	var stored struct {
		N, MaxSeq, DistinctSeq int64
	}
	if err := srv.App.Store.Read(ctx).Model(&store.Message{}).Where("room_id = ?", r.roomID).
		Select("COUNT(*) AS n, MAX(seq) AS max_seq, COUNT(DISTINCT seq) AS distinct_seq").Scan(&stored).Error; err != nil {
		b.Fatal(err)
	}
	if want := int64(b.N); stored.N != want || stored.MaxSeq != want || stored.DistinctSeq != want {
		b.Fatalf("stored %+v, want %d messages with seq 1..%d", stored, want, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU per message (user+system of the whole process, which here is only
	// the posters and the node): comparable on a busy machine, where msgs/s is not.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}
