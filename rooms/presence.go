package rooms

import (
	"context"
	"sync"
	"time"
)

// Presence knows who has a live event stream. The single binary counts its
// own streams (MemoryPresence); a cluster plugs in an implementation that
// also hears, over the bus, which users each other node has online, so that
// "online" and its transitions are cluster-wide.
type Presence interface {
	// StreamOpened records a live stream of userID on this node and reports
	// whether the user has just come online (no live stream anywhere before).
	StreamOpened(userID string) bool
	// StreamClosed records the end of one such stream and reports whether it
	// was the user's last on this node. Whether they are offline everywhere is
	// asked with Online once the grace period has passed.
	StreamClosed(userID string) bool
	// Online reports whether userID has a live stream on any node.
	Online(userID string) bool
}

// MemoryPresence is Presence for one node: a count of live streams per user.
type MemoryPresence struct {
	mu      sync.Mutex
	streams map[string]int
}

// NewMemoryPresence returns an empty in-process presence.
func NewMemoryPresence() *MemoryPresence { return &MemoryPresence{streams: map[string]int{}} }

func (m *MemoryPresence) StreamOpened(userID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams[userID]++
	return m.streams[userID] == 1
}

func (m *MemoryPresence) StreamClosed(userID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[userID] <= 1 {
		delete(m.streams, userID)
		return true
	}
	m.streams[userID]--
	return false
}

func (m *MemoryPresence) Online(userID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams[userID] > 0
}

// announcer tells the people who share a room with a user when the user
// comes online or goes offline. Going offline is announced only after a grace
// period, so a phone that reconnects (a network change, a token renewal) does
// not flicker for everyone; and each user's state is announced only when it
// differs from what this node last said.
type announcer struct {
	svc   *Service
	grace time.Duration

	mu        sync.Mutex
	announced map[string]bool // users this node last announced online
	timers    map[string]*pendingOffline
	closed    bool
}

// pendingOffline is a user's offline announcement waiting out the grace period.
type pendingOffline struct{ timer *time.Timer }

func newAnnouncer(svc *Service, grace time.Duration) *announcer {
	return &announcer{svc: svc, grace: grace, announced: map[string]bool{}, timers: map[string]*pendingOffline{}}
}

// opened and settleOffline announce while holding mu, so that announcements of
// one user leave this node in the order their changes happened.
func (a *announcer) opened(userID string) {
	if !a.svc.presence.StreamOpened(userID) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.timers[userID]; p != nil {
		p.timer.Stop()
		delete(a.timers, userID)
	}
	if !a.announced[userID] && !a.closed {
		a.announced[userID] = true
		a.svc.announcePresence(userID, true)
	}
}

func (a *announcer) closedStream(userID string) {
	if !a.svc.presence.StreamClosed(userID) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.timers[userID] != nil {
		return
	}
	p := &pendingOffline{}
	a.timers[userID] = p
	p.timer = time.AfterFunc(a.grace, func() { a.settleOffline(userID, p) })
}

func (a *announcer) settleOffline(userID string, p *pendingOffline) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timers[userID] != p {
		return // cancelled by a new stream
	}
	delete(a.timers, userID)
	// Whichever node saw the user's last stream close says they went
	// offline, whether or not it was the one that said they came online.
	delete(a.announced, userID)
	if a.closed || a.svc.presence.Online(userID) {
		return
	}
	a.svc.announcePresence(userID, false)
}

// stop cancels pending announcements (the node is shutting down).
func (a *announcer) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for id, p := range a.timers {
		p.timer.Stop()
		delete(a.timers, id)
	}
}

// UserGone announces that userID is offline, if no node has a stream of
// theirs: the node that held their streams stopped without saying so.
func (s *Service) UserGone(userID string) {
	if !s.presence.Online(userID) {
		s.announcePresence(userID, false)
	}
}

// announcePresence sends presence to every live stream that shares a room with
// the user, through the hub (and so, in a cluster, the bus).
func (s *Service) announcePresence(userID string, online bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rooms, err := s.memberships(ctx, userID)
	if err != nil || len(rooms) == 0 {
		return
	}
	ev := ephemeral(EvPresence, presencePayload{UserID: userID, Online: online})
	ev.SkipUserID = userID
	for id := range rooms {
		ev.RoomIDs = append(ev.RoomIDs, id)
	}
	s.bus.PublishLive(ev)
}
