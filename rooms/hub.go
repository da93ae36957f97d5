package rooms

import "sync"

// Why a subscription ended.
const (
	EndSlow     = "slow"      // it could not keep up: resume with Last-Event-ID
	EndRevoked  = "revoked"   // the login was revoked or the user disabled
	EndRoomGone = "room_gone" // a one-room stream whose room is deleted or left
	EndShutdown = "shutdown"  // the server is stopping
	EndLagging  = "lagging"   // this node could not read events it missed: resume with Last-Event-ID
)

// Hub fans committed events out to live subscribers: one broadcaster per room,
// each holding the subscribers allowed to see that room. Membership changes
// pass through the hub in commit order, so a removed member receives nothing
// after its room.left, and a new member's open all-rooms streams start
// receiving the room from its member.joined on.
//
// Publish only queues the event: a dispatcher goroutine fans it out, so a
// room with 10,000 subscribers never holds up the writer or the poster.
type Hub struct {
	mu      sync.Mutex
	rooms   map[string]*broadcaster
	users   map[string]map[*Subscriber]struct{}
	queue   int
	metrics HubMetrics
	slots   StreamSlots

	inMu   sync.Mutex
	inbox  []*Event
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closer sync.Once
}

// HubMetrics receives counts from the hub (Prometheus in production).
type HubMetrics interface {
	Delivered(n int)
	Dropped()
}

type noMetrics struct{}

func (noMetrics) Delivered(int) {}
func (noMetrics) Dropped()      {}

type broadcaster struct {
	mu   sync.RWMutex
	subs map[*Subscriber]struct{}
}

// Subscriber is one open stream. Events queue up in a bounded channel; when it
// is full the subscriber is cut off instead of slowing anyone else down.
type Subscriber struct {
	UserID    string
	SessionID string
	RoomID    string // set for a one-room stream; empty follows all the user's rooms
	queue     chan *Event
	done      chan struct{}
	once      sync.Once
	reason    string
	rooms     map[string]struct{} // guarded by Hub.mu
}

// NewHub returns a hub whose subscribers queue up to queue events each, and
// whose streams per user slots caps (nil: no cap).
func NewHub(queue int, metrics HubMetrics, slots StreamSlots) *Hub {
	if metrics == nil {
		metrics = noMetrics{}
	}
	if slots == nil {
		slots = NewLocalStreamSlots(0)
	}
	h := &Hub{rooms: map[string]*broadcaster{}, users: map[string]map[*Subscriber]struct{}{}, queue: queue, metrics: metrics, slots: slots,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go h.dispatch()
	return h
}

// Close stops the dispatcher after it has sent what was published.
func (h *Hub) Close() {
	h.closer.Do(func() { close(h.stop) })
	<-h.done
}

// Publish queues a committed event for delivery. Callers publish in commit
// order; the dispatcher keeps that order.
func (h *Hub) Publish(ev *Event) {
	h.inMu.Lock()
	h.inbox = append(h.inbox, ev)
	h.inMu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) dispatch() {
	defer close(h.done)
	for {
		select {
		case <-h.wake:
		case <-h.stop:
			h.drainInbox()
			return
		}
		h.drainInbox()
	}
}

func (h *Hub) drainInbox() {
	for {
		h.inMu.Lock()
		batch := h.inbox
		h.inbox = nil
		h.inMu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, ev := range batch {
			h.apply(ev)
		}
	}
}

// Events delivers the subscriber's live events in commit order.
func (s *Subscriber) Events() <-chan *Event { return s.queue }

// Done is closed when the subscription ends; Reason then says why.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// Reason says why the subscription ended.
func (s *Subscriber) Reason() string {
	<-s.done
	return s.reason
}

// subscribe registers a stream of userID before its rooms are known, so that
// no membership change between now and attach can be missed. It returns nil
// when the user already has as many streams open as allowed.
func (h *Hub) subscribe(userID, sessionID, roomID string) *Subscriber {
	if !h.slots.Take(userID) {
		return nil
	}
	s := &Subscriber{UserID: userID, SessionID: sessionID, RoomID: roomID,
		queue: make(chan *Event, h.queue), done: make(chan struct{}), rooms: map[string]struct{}{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[userID]
	if set == nil {
		set = map[*Subscriber]struct{}{}
		h.users[userID] = set
	}
	set[s] = struct{}{}
	return s
}

// attach makes s receive roomID's events (idempotent).
func (h *Hub) attach(s *Subscriber, roomID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attachLocked(s, roomID)
}

func (h *Hub) attachLocked(s *Subscriber, roomID string) {
	if _, ok := h.users[s.UserID][s]; !ok {
		return // already ended
	}
	if _, ok := s.rooms[roomID]; ok {
		return
	}
	b := h.rooms[roomID]
	if b == nil {
		b = &broadcaster{subs: map[*Subscriber]struct{}{}}
		h.rooms[roomID] = b
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	s.rooms[roomID] = struct{}{}
}

// detach stops s receiving roomID's events.
func (h *Hub) detach(s *Subscriber, roomID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.detachLocked(s, roomID)
}

func (h *Hub) detachLocked(s *Subscriber, roomID string) {
	if _, ok := s.rooms[roomID]; !ok {
		return
	}
	delete(s.rooms, roomID)
	if b := h.rooms[roomID]; b != nil {
		b.mu.Lock()
		delete(b.subs, s)
		empty := len(b.subs) == 0
		b.mu.Unlock()
		if empty {
			delete(h.rooms, roomID)
		}
	}
}

// end stops a subscriber and forgets it.
func (h *Hub) end(s *Subscriber, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(s, reason)
}

func (h *Hub) endLocked(s *Subscriber, reason string) {
	for roomID := range s.rooms {
		h.detachLocked(s, roomID)
	}
	if set := h.users[s.UserID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.users, s.UserID)
		}
	}
	s.once.Do(func() {
		s.reason = reason
		close(s.done)
		h.slots.Give(s.UserID) // taken in subscribe
	})
}

// Unsubscribe ends a stream that its client closed.
func (h *Hub) Unsubscribe(s *Subscriber) { h.end(s, "closed") }

// apply delivers one event and carries out the membership change it records.
func (h *Hub) apply(ev *Event) {
	switch ev.Type {
	case EvMemberJoined:
		h.mu.Lock()
		for s := range h.users[ev.MemberID] {
			if s.RoomID == "" {
				h.attachLocked(s, ev.RoomID)
			}
		}
		h.mu.Unlock()
		h.deliver(ev)
	case EvRoomLeft:
		h.deliver(ev)
		h.mu.Lock()
		for s := range h.users[ev.TargetUserID] {
			h.detachLocked(s, ev.RoomID)
			if s.RoomID == ev.RoomID {
				h.endLocked(s, EndRoomGone)
			}
		}
		h.mu.Unlock()
	case EvRoomDeleted:
		h.deliver(ev)
		h.mu.Lock()
		var subs []*Subscriber
		if ev.TargetUserID != "" {
			// The log holds one room.deleted per member: this one's streams let go.
			for s := range h.users[ev.TargetUserID] {
				subs = append(subs, s)
			}
		} else if b := h.rooms[ev.RoomID]; b != nil {
			b.mu.RLock()
			for s := range b.subs {
				subs = append(subs, s)
			}
			b.mu.RUnlock()
		}
		for _, s := range subs {
			if _, ok := s.rooms[ev.RoomID]; !ok {
				continue
			}
			h.detachLocked(s, ev.RoomID)
			if s.RoomID == ev.RoomID {
				h.endLocked(s, EndRoomGone)
			}
		}
		h.mu.Unlock()
	case EvSessionRevoked:
		h.SessionRevoked(ev.SessionID)
	case EvUserDisabled:
		h.UserDisabled(ev.UserID)
	default:
		h.deliver(ev)
	}
}

// deliver hands ev to its subscribers without ever blocking: a full queue
// ends that subscriber.
func (h *Hub) deliver(ev *Event) {
	switch {
	case len(ev.RoomIDs) > 0:
		h.deliverToRooms(ev)
		return
	case ev.TargetUserID != "":
		// One user's streams: all of them, or those following the room.
		h.mu.Lock()
		subs := make([]*Subscriber, 0, len(h.users[ev.TargetUserID]))
		for s := range h.users[ev.TargetUserID] {
			if _, ok := s.rooms[ev.RoomID]; ok || ev.RoomID == "" {
				subs = append(subs, s)
			}
		}
		h.mu.Unlock()
		h.queueTo(ev, subs)
		return
	}
	h.mu.Lock()
	b := h.rooms[ev.RoomID]
	h.mu.Unlock()
	if b == nil {
		return
	}
	var slow []*Subscriber
	n := 0
	b.mu.RLock()
	for s := range b.subs {
		if s.UserID == ev.SkipUserID {
			continue
		}
		select {
		case s.queue <- ev:
			n++
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	h.settle(n, slow)
}

// deliverToRooms sends ev once to each stream that follows any of its rooms.
func (h *Hub) deliverToRooms(ev *Event) {
	seen := map[*Subscriber]struct{}{}
	h.mu.Lock()
	for _, roomID := range ev.RoomIDs {
		b := h.rooms[roomID]
		if b == nil {
			continue
		}
		b.mu.RLock()
		for s := range b.subs {
			if s.UserID != ev.SkipUserID {
				seen[s] = struct{}{}
			}
		}
		b.mu.RUnlock()
	}
	h.mu.Unlock()
	subs := make([]*Subscriber, 0, len(seen))
	for s := range seen {
		subs = append(subs, s)
	}
	h.queueTo(ev, subs)
}

func (h *Hub) queueTo(ev *Event, subs []*Subscriber) {
	var slow []*Subscriber
	n := 0
	for _, s := range subs {
		select {
		case s.queue <- ev:
			n++
		default:
			slow = append(slow, s)
		}
	}
	h.settle(n, slow)
}

// settle counts a delivery and cuts off the subscribers that were too slow for it.
func (h *Hub) settle(delivered int, slow []*Subscriber) {
	h.metrics.Delivered(delivered)
	for _, s := range slow {
		h.metrics.Dropped()
		h.end(s, EndSlow)
	}
}

// UserDisabled ends every stream of the user (applied from user.disabled).
func (h *Hub) UserDisabled(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.users[userID] {
		h.endLocked(s, EndRevoked)
	}
}

// SessionRevoked ends every stream opened with that login (applied from session.revoked).
func (h *Hub) SessionRevoked(sessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.users {
		for s := range set {
			if s.SessionID == sessionID {
				h.endLocked(s, EndRevoked)
			}
		}
	}
}

// Shutdown ends every stream.
func (h *Hub) Shutdown() { h.cutAll(EndShutdown) }

// cutAll ends every stream for reason and says how many there were.
func (h *Hub) cutAll(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.users {
		for s := range set {
			h.endLocked(s, reason)
			n++
		}
	}
	return n
}

// Subscribers counts open streams (for metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.users {
		n += len(set)
	}
	return n
}
