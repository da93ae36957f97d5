package rooms

import "sync"

// StreamSlots counts each user's open event streams against a cap. The hub
// takes a slot as a stream registers and gives it back when the stream ends,
// whatever ends it, so a count can never be read and acted on apart.
//
// LocalStreamSlots counts the streams of this node. With several nodes the
// cap is per user across all of them: internal/app plugs in limit.Slots,
// which counts streams as leases in the shared database, renewed while the
// stream lives, so the streams of a node that dies stop counting once their
// leases expire. Give must not wait: the hub calls it under its lock.
type StreamSlots interface {
	Take(userID string) bool // false: the user already has the most streams allowed
	Give(userID string)
}

// LocalStreamSlots is the in-process StreamSlots.
type LocalStreamSlots struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

// NewLocalStreamSlots allows max streams per user (0: no cap).
func NewLocalStreamSlots(max int) *LocalStreamSlots {
	return &LocalStreamSlots{max: max, open: map[string]int{}}
}

func (l *LocalStreamSlots) Take(userID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open[userID] >= l.max {
		return false
	}
	l.open[userID]++
	return true
}

func (l *LocalStreamSlots) Give(userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[userID] <= 1 {
		delete(l.open, userID)
		return
	}
	l.open[userID]--
}
