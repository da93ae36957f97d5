package cluster

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// Presence defaults: how often a node tells the others every user it has
// online, and how long a node that stopped telling is still believed.
const (
	DefaultHeartbeat = 2 * time.Second
	expiryBeats      = 3
)

// Presence is rooms.Presence for a cluster: each node counts its own
// streams, tells the others when a user comes online or goes offline here,
// and repeats its whole list every heartbeat. What a node that stops
// (crashes, loses the bus) had online expires after three missed heartbeats.
type Presence struct {
	nc        *nats.Conn
	node      string
	heartbeat time.Duration
	log       *slog.Logger

	mu     sync.Mutex
	local  map[string]int                 // user -> live streams on this node
	remote map[string]map[string]struct{} // node -> users online there
	heard  map[string]time.Time           // node -> when it last spoke

	gone func(userID string) // told of users offline everywhere once their node expired

	sub  *nats.Subscription
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// presenceMsg is what nodes tell each other. All replaces what the sender
// had online; On and Off change it; Sync asks every node for its All.
type presenceMsg struct {
	Node string   `json:"n"`
	All  []string `json:"all,omitempty"`
	Full bool     `json:"full,omitempty"` // All is the whole list (possibly empty)
	On   []string `json:"on,omitempty"`
	Off  []string `json:"off,omitempty"`
	Sync bool     `json:"sync,omitempty"`
}

// NewPresence shares presence over nc, telling the others every heartbeat (0: the default).
func NewPresence(nc *nats.Conn, heartbeat time.Duration, log *slog.Logger) (*Presence, error) {
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Presence{nc: nc, node: uuid.NewString(), heartbeat: heartbeat, log: log,
		local: map[string]int{}, remote: map[string]map[string]struct{}{}, heard: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	sub, err := nc.Subscribe(subjectPresence, p.hear)
	if err != nil {
		return nil, err
	}
	p.sub = sub
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	p.mu.Lock()
	p.sendLocked(presenceMsg{Sync: true, Full: true}) // and the others answer with theirs
	p.mu.Unlock()
	go p.beat()
	return p, nil
}

// OnGone makes f hear of each user who was online only on a node that
// stopped speaking: they are offline now. One node (the lowest id still
// speaking) tells, so the cluster announces it once. Set it before streams open.
func (p *Presence) OnGone(f func(userID string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = f
}

// Close stops telling; the others forget this node's users after the expiry.
func (p *Presence) Close() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		_ = p.sub.Unsubscribe()
	})
}

func (p *Presence) StreamOpened(userID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.local[userID]++
	first := p.local[userID] == 1
	if first {
		p.sendLocked(presenceMsg{On: []string{userID}})
	}
	return first && !p.remoteLocked(userID)
}

func (p *Presence) StreamClosed(userID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.local[userID] <= 1
	if last {
		delete(p.local, userID)
		p.sendLocked(presenceMsg{Off: []string{userID}})
	} else {
		p.local[userID]--
	}
	return last
}

func (p *Presence) Online(userID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.local[userID] > 0 || p.remoteLocked(userID)
}

// remoteLocked reports whether a node that still speaks has userID online.
func (p *Presence) remoteLocked(userID string) bool {
	cutoff := time.Now().Add(-expiryBeats * p.heartbeat)
	for node, users := range p.remote {
		if _, ok := users[userID]; ok && p.heard[node].After(cutoff) {
			return true
		}
	}
	return false
}

func (p *Presence) hear(m *nats.Msg) {
	var msg presenceMsg
	if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Node == "" || msg.Node == p.node {
		return
	}
	p.mu.Lock()
	p.heard[msg.Node] = time.Now()
	users := p.remote[msg.Node]
	if users == nil || msg.Full {
		users = map[string]struct{}{}
		p.remote[msg.Node] = users
	}
	for _, id := range msg.All {
		users[id] = struct{}{}
	}
	for _, id := range msg.On {
		users[id] = struct{}{}
	}
	for _, id := range msg.Off {
		delete(users, id)
	}
	p.mu.Unlock()
	if msg.Sync {
		p.sendAll()
	}
}

// beat tells the others this node's whole list, and forgets nodes gone quiet.
func (p *Presence) beat() {
	defer close(p.done)
	t := time.NewTicker(p.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.sendAll()
			gone, offline := p.expire()
			for _, id := range offline {
				gone(id)
			}
		}
	}
}

// expire forgets the nodes gone quiet and returns the users now offline
// everywhere, if this node is the one to tell.
func (p *Presence) expire() (func(string), []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := time.Now().Add(-expiryBeats * p.heartbeat)
	var lost []string
	leader := true
	for node, at := range p.heard {
		if at.Before(cutoff) {
			for id := range p.remote[node] {
				lost = append(lost, id)
			}
			delete(p.heard, node)
			delete(p.remote, node)
		} else if node < p.node {
			leader = false
		}
	}
	if !leader || p.gone == nil {
		return nil, nil
	}
	var offline []string
	for _, id := range lost {
		if p.local[id] == 0 && !p.remoteLocked(id) {
			offline = append(offline, id)
		}
	}
	return p.gone, offline
}

func (p *Presence) sendAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	all := make([]string, 0, len(p.local))
	for id := range p.local {
		all = append(all, id)
	}
	p.sendLocked(presenceMsg{All: all, Full: true})
}

// sendLocked publishes under p.mu, so that what this node says leaves in the
// order its streams changed (publishing only queues the message).
func (p *Presence) sendLocked(msg presenceMsg) {
	msg.Node = p.node
	data, err := json.Marshal(msg)
	if err == nil {
		err = p.nc.Publish(subjectPresence, data)
	}
	if err != nil {
		p.log.Debug("presence: publish", "err", err)
	}
}
