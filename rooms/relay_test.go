package rooms

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLog is the committed event log as the relay reads it.
type fakeLog struct {
	mu     sync.Mutex
	events []*Event // in id order
	fail   bool
	reads  atomic.Int64
}

func (l *fakeLog) commit(evs ...*Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, evs...)
}

func (l *fakeLog) newestEvent(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return 0, errors.New("database unreachable")
	}
	if len(l.events) == 0 {
		return 0, nil
	}
	return l.events[len(l.events)-1].ID, nil
}

func (l *fakeLog) loggedEvents(_ context.Context, from, to int64, limit int) ([]*Event, int64, error) {
	l.reads.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return nil, from, errors.New("database unreachable")
	}
	var out []*Event
	for _, ev := range l.events {
		if ev.ID > from && ev.ID <= to && len(out) < limit {
			out = append(out, ev)
		}
	}
	if len(out) == limit {
		return out, out[len(out)-1].ID, nil
	}
	return out, to, nil
}

type relayCounts struct {
	noMetrics
	recovered, cut atomic.Int64
}

func (m *relayCounts) Recovered(n int) { m.recovered.Add(int64(n)) }
func (m *relayCounts) Cut(n int)       { m.cut.Add(int64(n)) }

// relayFixture is a started relay in front of a hub with one stream
// following room r1.
type relayFixture struct {
	r   *relay
	log *fakeLog
	m   *relayCounts
	coh *fakeCoherence
	sub *Subscriber
	h   *Hub
}

// fakeCoherence records what the relay does for the store's cache.
type fakeCoherence struct {
	mu          sync.Mutex
	invalidated []string
	applied     int64 // the last acknowledgement
	proven      int
	lost        int
}

func (c *fakeCoherence) Invalidate(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidated = append(c.invalidated, keys...)
}

func (c *fakeCoherence) Applied(applied int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applied = applied
}

func (c *fakeCoherence) PeerApplied(string, int64) {}

func (c *fakeCoherence) Proven(time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proven++
}

func (c *fakeCoherence) Lost() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lost++
}

// waitFor polls the fake until ok holds.
func (c *fakeCoherence) waitFor(t *testing.T, what string, ok func(c *fakeCoherence) bool) {
	t.Helper()
	for deadline := time.Now().Add(hubWait); ; {
		c.mu.Lock()
		done := ok(c)
		c.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not a timed assertion
	}
}

func newRelayFixture(t *testing.T, opts RelayOptions, committed ...*Event) *relayFixture {
	t.Helper()
	h, _ := newTestHub(t, 64)
	f := &relayFixture{log: &fakeLog{}, m: &relayCounts{}, coh: &fakeCoherence{}, h: h}
	f.log.commit(committed...)
	opts.Metrics = f.m
	f.r = newRelay(h, f.log, opts)
	f.r.coh = f.coh
	f.sub = h.subscribe("u1", "", "")
	h.attach(f.sub, "r1")
	if err := f.r.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.r.close)
	return f
}

// expect reads the stream's next events and checks their ids.
func (f *relayFixture) expect(t *testing.T, ids ...int64) {
	t.Helper()
	for _, want := range ids {
		select {
		case ev := <-f.sub.Events():
			if ev.ID != want {
				t.Fatalf("got event %d, want %d", ev.ID, want)
			}
		case <-f.sub.Done():
			t.Fatalf("stream ended (%s) before event %d", f.sub.reason, want)
		case <-time.After(hubWait):
			t.Fatalf("event %d never came", want)
		}
	}
}

func msgs(ids ...int64) []*Event {
	out := make([]*Event, len(ids))
	for i, id := range ids {
		out[i] = msgEv(id, "r1")
	}
	return out
}

const never = time.Hour // a wait the test never reaches: only the bus may fill a gap

func TestRelayDeliversInOrderWithoutReading(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: never, CatchUpPeriod: never})
	f.r.Log(msgs(1, 2))
	f.r.Log(msgs(3))
	f.expect(t, 1, 2, 3)
	if n := f.log.reads.Load(); n != 0 {
		t.Fatalf("%d log reads for events that came in order", n)
	}
}

func TestRelayHoldsEventsAheadOfAGapUntilTheBusFillsIt(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: never, CatchUpPeriod: never})
	f.r.Log(msgs(3))
	f.r.Log(msgs(2))
	f.r.Log(msgs(2)) // a duplicate is dropped
	select {
	case ev := <-f.sub.Events():
		t.Fatalf("event %d delivered while event 1 is missing", ev.ID)
	default:
	}
	f.r.Log(msgs(1))
	f.expect(t, 1, 2, 3)
	f.r.Log(msgs(4))
	f.expect(t, 4)
}

func TestRelayReadsALostEventFromTheLog(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: time.Millisecond, CatchUpPeriod: never})
	f.log.commit(msgs(1, 2, 3, 4)...)
	f.r.Log(msgs(1))
	f.r.Log(msgs(4)) // 2 and 3 were lost
	f.expect(t, 1, 2, 3, 4)
	if got := f.m.recovered.Load(); got != 2 {
		t.Fatalf("recovered %d events, want 2", got)
	}
}

func TestRelayFindsALostLastEvent(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: never, CatchUpPeriod: 5 * time.Millisecond})
	f.log.commit(msgs(1, 2)...)
	f.r.Log(msgs(1)) // 2 is lost, and nothing comes after it
	f.expect(t, 1, 2)
}

func TestRelaySkipsHolesInTheIDs(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: time.Millisecond, CatchUpPeriod: never})
	f.log.commit(msgs(1, 3)...) // 2 rolled back
	f.r.Log(msgs(1))
	f.r.Log(msgs(3))
	f.expect(t, 1, 3)
	f.r.Log(msgs(4))
	f.expect(t, 4)
}

func TestRelayStartsAtTheNewestCommittedEvent(t *testing.T) {
	h, _ := newTestHub(t, 64)
	log := &fakeLog{}
	log.commit(msgs(1, 2)...)
	r := newRelay(h, log, RelayOptions{GapWait: never, CatchUpPeriod: never})
	sub := h.subscribe("u1", "", "")
	h.attach(sub, "r1")
	r.Log(msgs(2, 3)) // the bus delivers before the start read
	if err := r.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	f := &relayFixture{r: r, log: log, sub: sub, h: h}
	f.expect(t, 3)
}

func TestRelayCutsStreamsWhenAGapCannotBeRead(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: time.Millisecond, CatchUpPeriod: never})
	f.log.mu.Lock()
	f.log.fail = true
	f.log.mu.Unlock()
	f.r.Log(msgs(1))
	f.expect(t, 1)
	f.r.Log(msgs(3)) // 2 lost, and the log cannot be read
	select {
	case <-f.sub.Done():
	case <-time.After(hubWait):
		t.Fatal("the stream was left open with an event it can never get")
	}
	if f.sub.Reason() != EndLagging {
		t.Fatalf("ended %q, want %q", f.sub.Reason(), EndLagging)
	}
	// Delivered 1, then cut: never 3 past the gap; it resumes with Last-Event-ID.
	select {
	case ev := <-f.sub.Events():
		t.Fatalf("event %d delivered past the gap", ev.ID)
	default:
	}
	for deadline := time.Now().Add(hubWait); f.m.cut.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("cut counted %d streams, want 1", f.m.cut.Load())
		}
		time.Sleep(time.Millisecond) // polling a counter, not a timed assertion
	}
	// The relay goes on after the gap: a new stream gets what follows
	// (3 too, if it attached before 3 was handed on).
	next := f.h.subscribe("u2", "", "")
	f.h.attach(next, "r1")
	f.r.Log(msgs(4))
	for {
		select {
		case ev := <-next.Events():
			if ev.ID == 4 {
				return
			}
			if ev.ID != 3 {
				t.Fatalf("new stream got event %d", ev.ID)
			}
		case <-time.After(hubWait):
			t.Fatal("event 4 never came")
		}
	}
}

func invalidation(id int64, keys ...string) *Event {
	return &Event{ID: id, Type: EvInvalidated, Keys: keys}
}

// Invalidations are log events like any other: applied to the cache in id
// order (read from the log when the bus lost them), acknowledged, and never
// sent to a stream.
func TestRelayAppliesInvalidationsInOrder(t *testing.T) {
	tests := []struct {
		name    string
		gapWait time.Duration
		log     []*Event // committed
		bus     []*Event // what the bus brings
	}{
		{"from the bus", never, nil, []*Event{msgEv(1, "r1"), invalidation(2, "user:u2"), msgEv(3, "r1")}},
		{"lost on the bus", time.Millisecond, []*Event{msgEv(1, "r1"), invalidation(2, "user:u2"), msgEv(3, "r1")},
			[]*Event{msgEv(1, "r1"), msgEv(3, "r1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRelayFixture(t, RelayOptions{GapWait: tc.gapWait, CatchUpPeriod: never})
			f.coh.waitFor(t, "starting did not prove the cache current", func(c *fakeCoherence) bool { return c.proven == 1 })
			f.log.commit(tc.log...)
			f.r.Log(tc.bus)
			f.expect(t, 1, 3)
			f.coh.waitFor(t, "the invalidation was not applied and acknowledged", func(c *fakeCoherence) bool {
				return len(c.invalidated) == 1 && c.invalidated[0] == "user:u2" && c.applied >= 2
			})
		})
	}
}

// A gap that cannot be read may hold invalidations: the cache forgets all.
func TestRelayLosingAGapMakesTheCacheForget(t *testing.T) {
	f := newRelayFixture(t, RelayOptions{GapWait: time.Millisecond, CatchUpPeriod: never})
	f.log.mu.Lock()
	f.log.fail = true
	f.log.mu.Unlock()
	f.r.Log(msgs(2)) // 1 lost, and the log cannot be read
	f.coh.waitFor(t, "the cache was not told it may have missed an invalidation", func(c *fakeCoherence) bool { return c.lost == 1 })
}
