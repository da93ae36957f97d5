package rooms

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hubWait bounds every wait for the dispatcher; it is a deadlock guard, never
// a timing assertion.
const hubWait = 10 * time.Second

type countingMetrics struct {
	delivered atomic.Int64
	dropped   atomic.Int64
	once      sync.Once
	cutOff    chan struct{} // closed at the first drop
}

func newCountingMetrics() *countingMetrics { return &countingMetrics{cutOff: make(chan struct{})} }

func (m *countingMetrics) Delivered(n int) { m.delivered.Add(int64(n)) }
func (m *countingMetrics) Dropped() {
	m.dropped.Add(1)
	m.once.Do(func() { close(m.cutOff) })
}

func newTestHub(t testing.TB, queue int) (*Hub, *countingMetrics) {
	t.Helper()
	m := newCountingMetrics()
	h := NewHub(queue, m, nil)
	t.Cleanup(h.Close)
	return h, m
}

func ev(id int64, typ, room string) *Event {
	return &Event{ID: id, RoomID: room, Type: typ, Frame: encodeFrame(id, typ, []byte(`{}`))}
}

func msgEv(id int64, room string) *Event { return ev(id, EvMessageCreated, room) }

func targeted(id int64, typ, room, user string) *Event {
	e := ev(id, typ, room)
	e.TargetUserID = user
	return e
}

func joined(id int64, room, member string) *Event {
	e := ev(id, EvMemberJoined, room)
	e.MemberID = member
	return e
}

var barrierSeq atomic.Int64

// barrier returns once the dispatcher has handled everything published before
// it: the dispatcher keeps publish order, so when a probe event published now
// arrives, every earlier event has been delivered and applied.
func barrier(t testing.TB, h *Hub) {
	t.Helper()
	n := barrierSeq.Add(1)
	room := fmt.Sprintf("barrier-room-%d", n)
	probe := h.subscribe(fmt.Sprintf("barrier-user-%d", n), "", room)
	h.attach(probe, room)
	h.Publish(&Event{ID: -n, RoomID: room, Type: "barrier"})
	select {
	case <-probe.Events():
	case <-probe.Done():
		t.Fatalf("barrier probe ended: %s", probe.Reason())
	case <-time.After(hubWait):
		t.Fatalf("dispatcher did not reach the barrier within %s", hubWait)
	}
	h.end(probe, "closed")
}

// queued takes the events waiting in s's queue without blocking.
func queued(s *Subscriber) []int64 {
	var ids []int64
	for {
		select {
		case e := <-s.Events():
			ids = append(ids, e.ID)
		default:
			return ids
		}
	}
}

// endReason is why s ended, or "" if it is still open.
func endReason(s *Subscriber) string {
	select {
	case <-s.Done():
		return s.Reason()
	default:
		return ""
	}
}

func ids(from, to int64, keep func(int64) bool) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		if keep == nil || keep(i) {
			out = append(out, i)
		}
	}
	return out
}

type subSpec struct {
	name, user, session, room string   // room: "" follows all the user's rooms
	attach                    []string // rooms attached when the stream opens
}

type subWant struct {
	ids    []int64
	reason string // "" means still open
}

func TestHub(t *testing.T) {
	many := []*Event{}
	for i := int64(1); i <= 300; i++ {
		room := "r1"
		if i%3 == 0 {
			room = "r2"
		}
		many = append(many, msgEv(i, room))
	}
	cases := []struct {
		name   string
		subs   []subSpec
		before []*Event                                  // published first
		action func(h *Hub, subs map[string]*Subscriber) // then run, once the dispatcher has handled before
		after  []*Event                                  // then published
		check  func(*testing.T, *Hub)
		want   map[string]subWant
	}{
		{
			name: "each subscriber gets its rooms' events in publish order",
			subs: []subSpec{
				{name: "a", user: "u1", room: "r1", attach: []string{"r1"}},
				{name: "b", user: "u2", room: "r1", attach: []string{"r1"}},
				{name: "all", user: "u3", attach: []string{"r1", "r2"}},
				{name: "r2", user: "u4", attach: []string{"r2"}},
				{name: "none", user: "u5"},
			},
			before: many,
			want: map[string]subWant{
				"a":    {ids: ids(1, 300, func(i int64) bool { return i%3 != 0 })},
				"b":    {ids: ids(1, 300, func(i int64) bool { return i%3 != 0 })},
				"all":  {ids: ids(1, 300, nil)},
				"r2":   {ids: ids(1, 300, func(i int64) bool { return i%3 == 0 })},
				"none": {},
			},
		},
		{
			name: "member.joined attaches the member's all-rooms streams before delivering",
			subs: []subSpec{
				{name: "joiner-all", user: "u1"}, // subscribed, no rooms yet
				{name: "joiner-all-2", user: "u1", attach: []string{"r2"}},
				{name: "joiner-one", user: "u1", room: "r2", attach: []string{"r2"}},
				{name: "member", user: "u2", attach: []string{"r1"}},
				{name: "bystander", user: "u3"},
			},
			before: []*Event{msgEv(1, "r1"), joined(2, "r1", "u1"), msgEv(3, "r1"), msgEv(4, "r2")},
			want: map[string]subWant{
				"joiner-all":   {ids: []int64{2, 3}},
				"joiner-all-2": {ids: []int64{2, 3, 4}},
				"joiner-one":   {ids: []int64{4}}, // a one-room stream keeps to its room
				"member":       {ids: []int64{1, 2, 3}},
				"bystander":    {},
			},
		},
		{
			name:   "member.joined again is idempotent",
			subs:   []subSpec{{name: "all", user: "u1", attach: []string{"r1"}}},
			before: []*Event{joined(1, "r1", "u1"), joined(2, "r1", "u1"), msgEv(3, "r1")},
			want:   map[string]subWant{"all": {ids: []int64{1, 2, 3}}},
		},
		{
			name: "room.left reaches the target, then detaches it and ends its one-room streams",
			subs: []subSpec{
				{name: "target-all", user: "u1", attach: []string{"r1", "r2"}},
				{name: "target-one", user: "u1", room: "r1", attach: []string{"r1"}},
				{name: "target-other-room", user: "u1", room: "r2", attach: []string{"r2"}},
				{name: "other", user: "u2", attach: []string{"r1"}},
			},
			before: []*Event{msgEv(1, "r1"), targeted(2, EvRoomLeft, "r1", "u1"), msgEv(3, "r1"), msgEv(4, "r2")},
			want: map[string]subWant{
				"target-all":        {ids: []int64{1, 2, 4}},
				"target-one":        {ids: []int64{1, 2}, reason: EndRoomGone},
				"target-other-room": {ids: []int64{4}},
				"other":             {ids: []int64{1, 3}},
			},
		},
		{
			name:   "a member who left and joins again follows the room again",
			subs:   []subSpec{{name: "all", user: "u1", attach: []string{"r1"}}},
			before: []*Event{targeted(1, EvRoomLeft, "r1", "u1"), msgEv(2, "r1"), joined(3, "r1", "u1"), msgEv(4, "r1")},
			want:   map[string]subWant{"all": {ids: []int64{1, 3, 4}}},
		},
		{
			name: "room.deleted ends one-room streams and detaches all-rooms streams",
			subs: []subSpec{
				{name: "one-1", user: "u1", room: "r1", attach: []string{"r1"}},
				{name: "all-1", user: "u1", attach: []string{"r1", "r2"}},
				{name: "one-2", user: "u2", room: "r1", attach: []string{"r1"}},
				{name: "elsewhere", user: "u3", room: "r2", attach: []string{"r2"}},
			},
			before: []*Event{msgEv(1, "r1"), ev(2, EvRoomDeleted, "r1"), msgEv(3, "r1"), msgEv(4, "r2")},
			want: map[string]subWant{
				"one-1":     {ids: []int64{1, 2}, reason: EndRoomGone},
				"all-1":     {ids: []int64{1, 2, 4}},
				"one-2":     {ids: []int64{1, 2}, reason: EndRoomGone},
				"elsewhere": {ids: []int64{4}},
			},
			check: func(t *testing.T, h *Hub) {
				h.mu.Lock()
				defer h.mu.Unlock()
				if _, ok := h.rooms["r1"]; ok {
					t.Error("the deleted room's broadcaster is still registered")
				}
			},
		},
		{
			name: "targeted events reach only their user",
			subs: []subSpec{
				{name: "u1-all", user: "u1", attach: []string{"r1"}},
				{name: "u1-one", user: "u1", room: "r1", attach: []string{"r1"}},
				{name: "u2", user: "u2", attach: []string{"r1"}},
			},
			before: []*Event{msgEv(1, "r1"), targeted(2, EvRoomUpdated, "r1", "u1"), targeted(3, EvRoomUpdated, "r1", "u9"), msgEv(4, "r1")},
			want: map[string]subWant{
				"u1-all": {ids: []int64{1, 2, 4}},
				"u1-one": {ids: []int64{1, 2, 4}},
				"u2":     {ids: []int64{1, 4}},
			},
		},
		{
			name: "UserDisabled ends every stream of that user only",
			subs: []subSpec{
				{name: "u1-all", user: "u1", session: "s1", attach: []string{"r1"}},
				{name: "u1-one", user: "u1", session: "s2", room: "r1", attach: []string{"r1"}},
				{name: "u2", user: "u2", session: "s3", attach: []string{"r1"}},
			},
			before: []*Event{msgEv(1, "r1")},
			action: func(h *Hub, _ map[string]*Subscriber) { h.UserDisabled("u1") },
			after:  []*Event{msgEv(2, "r1"), joined(3, "r1", "u1"), msgEv(4, "r1")},
			want: map[string]subWant{
				"u1-all": {ids: []int64{1}, reason: EndRevoked},
				"u1-one": {ids: []int64{1}, reason: EndRevoked},
				"u2":     {ids: []int64{1, 2, 3, 4}},
			},
			check: func(t *testing.T, h *Hub) {
				if n := h.Subscribers(); n != 1 {
					t.Errorf("Subscribers() = %d, want 1", n)
				}
			},
		},
		{
			name: "SessionRevoked ends the streams of that login only",
			subs: []subSpec{
				{name: "s1-all", user: "u1", session: "s1", attach: []string{"r1"}},
				{name: "s1-one", user: "u1", session: "s1", room: "r1", attach: []string{"r1"}},
				{name: "s2", user: "u1", session: "s2", attach: []string{"r1"}},
				{name: "other-user", user: "u2", session: "s3", attach: []string{"r1"}},
			},
			before: []*Event{msgEv(1, "r1")},
			action: func(h *Hub, _ map[string]*Subscriber) { h.SessionRevoked("s1") },
			after:  []*Event{msgEv(2, "r1")},
			want: map[string]subWant{
				"s1-all":     {ids: []int64{1}, reason: EndRevoked},
				"s1-one":     {ids: []int64{1}, reason: EndRevoked},
				"s2":         {ids: []int64{1, 2}},
				"other-user": {ids: []int64{1, 2}},
			},
		},
		{
			name: "Shutdown ends every stream",
			subs: []subSpec{
				{name: "a", user: "u1", attach: []string{"r1"}},
				{name: "b", user: "u2", room: "r2", attach: []string{"r2"}},
				{name: "c", user: "u3"},
			},
			before: []*Event{msgEv(1, "r1")},
			action: func(h *Hub, _ map[string]*Subscriber) { h.Shutdown() },
			after:  []*Event{msgEv(2, "r1"), msgEv(3, "r2"), joined(4, "r1", "u3")},
			want: map[string]subWant{
				"a": {ids: []int64{1}, reason: EndShutdown},
				"b": {reason: EndShutdown},
				"c": {reason: EndShutdown},
			},
			check: func(t *testing.T, h *Hub) {
				if n := h.Subscribers(); n != 0 {
					t.Errorf("Subscribers() = %d after Shutdown, want 0", n)
				}
				h.mu.Lock()
				defer h.mu.Unlock()
				if len(h.rooms) != 0 || len(h.users) != 0 {
					t.Errorf("after Shutdown the hub still holds %d rooms and %d users", len(h.rooms), len(h.users))
				}
			},
		},
		{
			name: "an unsubscribed stream gets nothing more and is not re-attached by member.joined",
			subs: []subSpec{
				{name: "gone", user: "u1", attach: []string{"r1"}},
				{name: "stays", user: "u2", attach: []string{"r1"}},
			},
			before: []*Event{msgEv(1, "r1")},
			action: func(h *Hub, subs map[string]*Subscriber) { h.Unsubscribe(subs["gone"]) },
			after:  []*Event{msgEv(2, "r1"), joined(3, "r2", "u1"), msgEv(4, "r2")},
			want: map[string]subWant{
				"gone":  {ids: []int64{1}, reason: "closed"},
				"stays": {ids: []int64{1, 2}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, m := newTestHub(t, 1000)
			subs := map[string]*Subscriber{}
			for _, sp := range tc.subs {
				s := h.subscribe(sp.user, sp.session, sp.room)
				for _, r := range sp.attach {
					h.attach(s, r)
				}
				subs[sp.name] = s
			}
			for _, e := range tc.before {
				h.Publish(e)
			}
			barrier(t, h)
			if tc.action != nil {
				tc.action(h, subs)
			}
			for _, e := range tc.after {
				h.Publish(e)
			}
			barrier(t, h)
			for name, s := range subs {
				w, ok := tc.want[name]
				if !ok {
					t.Fatalf("no expectation for subscriber %q", name)
				}
				if got := queued(s); !slices.Equal(got, w.ids) {
					t.Errorf("%s received %v, want %v", name, got, w.ids)
				}
				if got := endReason(s); got != w.reason {
					t.Errorf("%s: end reason %q, want %q", name, got, w.reason)
				}
			}
			if n := m.dropped.Load(); n != 0 {
				t.Errorf("%d subscribers dropped, want none", n)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

// A subscriber whose queue is full is cut off with EndSlow; the others still
// get every event, and what the slow one had queued stays readable.
func TestHubFullQueueEndsOnlyThatSubscriber(t *testing.T) {
	const queue, n = 2, 20
	h, m := newTestHub(t, queue)
	fast := h.subscribe("u1", "s1", "")
	slow := h.subscribe("u2", "s2", "")
	oneRoom := h.subscribe("u3", "s3", "r1")
	for _, s := range []*Subscriber{fast, slow, oneRoom} {
		h.attach(s, "r1")
	}
	for i := int64(1); i <= n; i++ {
		h.Publish(msgEv(i, "r1"))
		// Read fast and oneRoom in step with publishing, as a stream writer
		// that keeps up would: their queues never hold more than one event.
		for _, s := range []*Subscriber{fast, oneRoom} {
			select {
			case e := <-s.Events():
				if e.ID != i {
					t.Fatalf("subscriber %s got event %d, want %d", s.UserID, e.ID, i)
				}
			case <-s.Done():
				t.Fatalf("subscriber %s that keeps up was ended: %s", s.UserID, s.Reason())
			case <-time.After(hubWait):
				t.Fatalf("event %d not delivered within %s", i, hubWait)
			}
		}
	}
	barrier(t, h)
	if got := endReason(slow); got != EndSlow {
		t.Fatalf("slow subscriber: end reason %q, want %q", got, EndSlow)
	}
	if got, want := queued(slow), []int64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("slow subscriber kept %v queued, want %v", got, want)
	}
	for _, s := range []*Subscriber{fast, oneRoom} {
		if got := endReason(s); got != "" {
			t.Errorf("subscriber %s ended (%q), want open", s.UserID, got)
		}
	}
	if got := m.dropped.Load(); got != 1 {
		t.Errorf("Dropped() called %d times, want 1", got)
	}
	// 2 events queued to the slow one, n each to the others, 1 to the barrier probe.
	if got, want := m.delivered.Load(), int64(2*n+queue+1); got != want {
		t.Errorf("Delivered total %d, want %d", got, want)
	}
	if got := h.Subscribers(); got != 2 {
		t.Errorf("Subscribers() = %d, want 2", got)
	}
}

// Close sends everything published before it returns.
func TestHubCloseDrainsPublished(t *testing.T) {
	const n = 500
	h := NewHub(n+1, nil, nil)
	a := h.subscribe("u1", "", "")
	b := h.subscribe("u2", "", "r2")
	h.attach(a, "r1")
	h.attach(a, "r2")
	h.attach(b, "r2")
	for i := int64(1); i <= n; i++ {
		room := "r1"
		if i%2 == 0 {
			room = "r2"
		}
		h.Publish(msgEv(i, room))
	}
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(hubWait):
		t.Fatalf("Close did not return within %s", hubWait)
	}
	if got, want := queued(a), ids(1, n, nil); !slices.Equal(got, want) {
		t.Errorf("all-rooms subscriber got %d events (%v...), want all %d in order", len(got), head(got), n)
	}
	if got, want := queued(b), ids(1, n, func(i int64) bool { return i%2 == 0 }); !slices.Equal(got, want) {
		t.Errorf("one-room subscriber got %d events (%v...), want %d in order", len(got), head(got), len(want))
	}
	h.Close() // a second Close returns at once

	// Publish racing Close: whether the dispatcher sees the wake-up or the
	// stop first, what was published before Close is delivered.
	for round := range 300 {
		h := NewHub(4, nil, nil)
		s := h.subscribe("u1", "", "")
		h.attach(s, "r1")
		for i := int64(1); i <= 3; i++ {
			h.Publish(msgEv(i, "r1"))
		}
		h.Close()
		if got := queued(s); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("round %d: delivered %v before Close returned, want [1 2 3]", round, got)
		}
	}
}

func head(s []int64) []int64 { return s[:min(len(s), 10)] }

// BenchmarkHubFanout1k publishes b.N events to one room with 1,000 subscribers,
// each drained by its own goroutine as stream writers are, and reports
// deliveries per second. The publisher stays at most two windows ahead of the
// slowest subscriber, so no queue (four windows long) overflows; the timer
// stops only once every subscriber has received every event, in order.
func BenchmarkHubFanout1k(b *testing.B) {
	const (
		subscribers = 1000
		window      = 256
	)
	m := newCountingMetrics()
	h := NewHub(4*window, m, nil)
	defer h.Close()
	defer h.Shutdown() // first: ends the readers if the benchmark fails
	n := int64(b.N)
	events := make([]Event, n)
	frame := encodeFrame(1, EvMessageCreated, []byte(`{"room_id":"r1","message":{"id":"m","body":"hello"}}`))
	for i := range events {
		events[i] = Event{ID: int64(i + 1), RoomID: "r1", Type: EvMessageCreated, Frame: frame}
	}
	// A window is done once every subscriber has received its last event.
	windows := (n + window - 1) / window
	windowAcks := make([]atomic.Int32, windows)
	windowDone := make([]chan struct{}, windows)
	for w := range windowDone {
		windowDone[w] = make(chan struct{})
	}
	counts := make([]int64, subscribers)
	disorder := make([]int64, subscribers)
	var wg sync.WaitGroup
	for i := range subscribers {
		s := h.subscribe(fmt.Sprintf("u%d", i), "", "")
		h.attach(s, "r1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got, last int64
			for {
				select {
				case e := <-s.Events():
					got++
					if e.ID != last+1 {
						disorder[i]++
					}
					last = e.ID
					if e.ID%window == 0 || e.ID == n {
						w := (e.ID - 1) / window
						if windowAcks[w].Add(1) == subscribers {
							close(windowDone[w])
						}
					}
					if e.ID == n {
						counts[i] = got
						return
					}
				case <-s.Done():
					counts[i] = got
					return
				}
			}
		}()
	}
	await := func(w int64) {
		select {
		case <-windowDone[w]:
		case <-m.cutOff:
			b.Fatalf("a subscriber was cut off (queue full): %d drops", m.dropped.Load())
		case <-time.After(time.Minute):
			b.Fatal("subscribers stopped receiving")
		}
	}
	b.ResetTimer()
	for i := range events {
		// Window w is published only once window w-2 has been received by
		// all: no queue ever holds more than two windows.
		if w := int64(i) / window; int64(i)%window == 0 && w >= 2 {
			await(w - 2)
		}
		h.Publish(&events[i])
	}
	for w := max(windows-2, 0); w < windows; w++ {
		await(w)
	}
	b.StopTimer()
	wg.Wait()
	var delivered, outOfOrder int64
	for i := range subscribers {
		delivered += counts[i]
		outOfOrder += disorder[i]
	}
	if delivered != n*subscribers || outOfOrder != 0 || m.dropped.Load() != 0 {
		b.Fatalf("delivered %d of %d, %d out of order, %d dropped", delivered, n*subscribers, outOfOrder, m.dropped.Load())
	}
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
