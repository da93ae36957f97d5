package rooms

import "sync"

// Bus carries events from the node that commits them to every node's hub,
// this one included. It is the seam between one binary and a cluster (as
// Mercure's Transport is): LocalBus hands events over in process; package
// cluster carries them over NATS. A bus may lose log events, or deliver them
// late and out of order: the relay that receives them puts them back in id
// order and reads what is missing from the database, so no stream ever
// misses one. Ephemeral events have no such guarantee.
type Bus interface {
	// Start delivers to r whatever any node publishes from now on.
	Start(r Receiver) error
	// PublishLog sends events committed together, in id order, once committed.
	PublishLog(evs []*Event)
	// PublishLive sends an ephemeral event (typing, presence, read, an
	// account change): never stored, never replayed, lost if the bus is down.
	PublishLive(ev *Event)
	// PublishApplied tells every node that node has applied the log up to
	// applied (PostgreSQL: a write waits for this from every node whose
	// cache may hold what it changed). Lost if the bus is down.
	PublishApplied(node string, applied int64)
	// Ready reports whether the bus carries events now.
	Ready() error
	// Close stops delivering and publishing.
	Close() error
}

// Receiver is where a bus delivers: one node's relay.
type Receiver interface {
	Log(evs []*Event)
	Live(ev *Event)
	Applied(node string, applied int64)
}

// LocalBus is the bus of a single node: publishing is delivering, at once,
// on the publisher's goroutine (the writer's, in commit order).
type LocalBus struct{ r Receiver }

// NewLocalBus returns the in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

func (b *LocalBus) Start(r Receiver) error  { b.r = r; return nil }
func (b *LocalBus) PublishLog(evs []*Event) { b.r.Log(evs) }
func (b *LocalBus) PublishLive(ev *Event)   { b.r.Live(ev) }
func (b *LocalBus) Ready() error            { return nil }

func (b *LocalBus) PublishApplied(node string, applied int64) { b.r.Applied(node, applied) }
func (b *LocalBus) Close() error                              { return nil }

// Lossy wraps a bus so that the log deliveries to this node for which drop
// returns true are lost, as a NATS message may be: the test hook for gap
// recovery. drop may be called from several goroutines.
func Lossy(b Bus, drop func(evs []*Event) bool) Bus { return &lossyBus{Bus: b, drop: drop} }

type lossyBus struct {
	Bus
	drop func(evs []*Event) bool
}

func (l *lossyBus) Start(r Receiver) error {
	return l.Bus.Start(&lossyReceiver{Receiver: r, drop: l.drop})
}

type lossyReceiver struct {
	Receiver
	mu   sync.Mutex
	drop func(evs []*Event) bool
}

func (l *lossyReceiver) Log(evs []*Event) {
	l.mu.Lock()
	lost := l.drop(evs)
	l.mu.Unlock()
	if !lost {
		l.Receiver.Log(evs)
	}
}
