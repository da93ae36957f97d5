package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The cache on PostgreSQL, where several nodes write one database
// (docs/CLUSTER.md, "The cache on PostgreSQL"):
//
//   - A write that invalidates keys logs them as one event of the log
//     (EventInvalidated), in its own transaction: event ids are commit order,
//     so every node's relay applies invalidations in commit order, reading
//     from the database what the bus lost.
//   - Inside the same transaction, under the append lock, it reads which
//     nodes are members (cache_nodes), and after the commit it waits until
//     each has acknowledged over the bus that it applied the event, or for
//     the lease (a little more) at most.
//   - A node serves from its cache only while it is trusted: up to a lease
//     after a moment at which it had applied every event committed before
//     (its relay proves one every catch-up period, CacheProven), only as a
//     member that joined before that moment, and only while its bus is up.
//
// So a write that returns has been applied by every node that may serve
// from its cache: either the node acknowledged it, or the write waited
// longer than the node's trust could last without a proof taken after the
// commit, and such a proof comes only once the node has applied it.

// EventInvalidated is the type of the log events that carry the cache keys
// a commit changed. They name no tenant, room or user: no replay selects them.
const EventInvalidated = "cache.invalidated"

// DefaultCacheLease is how long a node's cache serves after a proof that it
// was current; a write waits about this long at most for a silent node.
const DefaultCacheLease = 1500 * time.Millisecond

const (
	nodeTTL    = 10 * time.Second // a member's row lives this long after its last renewal
	renewEvery = time.Second
	// Invalidation events older than this are deleted (every pruneEvery
	// renewals): a relay that far behind has long stopped trusting its
	// cache, and forgets everything before it trusts it again.
	keepInvalidations = time.Hour
	pruneEvery        = 600
)

// CacheSharing lets a PostgreSQL store's cache serve (ShareCache).
type CacheSharing struct {
	Lease time.Duration // 0: DefaultCacheLease
	// Publish tells every node at once of the keys the commit logged under
	// id changed (the bus). It runs after the commit, in commit order.
	Publish func(id int64, keys []string)
	// Ready reports whether the bus carries messages now. A node cut off
	// from it stops serving from its cache and leaves the members, so that
	// writes do not wait for it.
	Ready func() error
}

// InvalidationPayload is the payload of an EventInvalidated event.
type InvalidationPayload struct {
	Keys []string `json:"keys"`
}

// sharing is a member's state.
type sharing struct {
	opts CacheSharing
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	joinedAt time.Time // zero: not a member
	expires  time.Time // the row expires no earlier than this
}

// invalidation is what a committed write logged and whom it waits for.
type invalidation struct {
	id    int64
	keys  []string
	peers []string // other members when it committed
}

// acks are the positions up to which other nodes have applied the log.
type acks struct {
	mu      sync.Mutex
	applied map[string]int64
	changed chan struct{} // closed at each change
}

func newNodeID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Node names this store among the nodes sharing its database.
func (s *Store) Node() string { return s.node }

// ShareCache makes this node a member of the nodes whose caches are kept
// coherent, and lets its cache serve once its relay proves it current
// (CacheProven). It does nothing on SQLite, whose cache one writer keeps.
func (s *Store) ShareCache(ctx context.Context, o CacheSharing) error {
	if !s.pg {
		return nil
	}
	if o.Lease <= 0 {
		o.Lease = DefaultCacheLease
	}
	sh := &sharing{opts: o, stop: make(chan struct{}), done: make(chan struct{})}
	if !s.share.CompareAndSwap(nil, sh) {
		return errors.New("the cache is shared already")
	}
	if err := s.renew(ctx, sh); err != nil {
		return fmt.Errorf("join the nodes sharing the cache: %w", err)
	}
	go s.runSharing(sh)
	return nil
}

func (s *Store) runSharing(sh *sharing) {
	defer close(sh.done)
	tick := time.NewTicker(renewEvery)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-sh.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.renew(ctx, sh); err != nil {
			s.log.Warn("cache: renew this node's membership", "err", err)
		}
		if i%pruneEvery == 0 {
			err := s.Write(ctx, func(tx *Tx) error {
				return tx.Exec(`DELETE FROM events WHERE type = ? AND created_at < ?`, EventInvalidated, Now().Add(-keepInvalidations)).Error
			})
			if err != nil {
				s.log.Warn("cache: delete old invalidation events", "err", err)
			}
		}
		cancel()
	}
}

// renew keeps this node a member while its bus is up, and leaves when it
// is not.
func (s *Store) renew(ctx context.Context, sh *sharing) error {
	if sh.opts.Ready != nil && sh.opts.Ready() != nil {
		return s.leave(ctx, sh)
	}
	before := time.Now()
	err := s.Write(ctx, func(tx *Tx) error {
		return tx.Exec(`INSERT INTO cache_nodes(id, expires_at) VALUES (?, now() + make_interval(secs => ?))
			ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, s.node, nodeTTL.Seconds()).Error
	})
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err != nil {
		// Its row may expire before the next renewal: writes may stop
		// waiting for this node, which must then prove itself anew.
		sh.joinedAt = time.Time{}
		return err
	}
	if sh.joinedAt.IsZero() {
		sh.joinedAt = time.Now()
	}
	sh.expires = before.Add(nodeTTL)
	return nil
}

// leave stops the cache serving, then takes this node off the members.
func (s *Store) leave(ctx context.Context, sh *sharing) error {
	sh.mu.Lock()
	sh.joinedAt = time.Time{}
	sh.mu.Unlock()
	s.cache.Distrust()
	return s.Write(ctx, func(tx *Tx) error {
		return tx.Exec(`DELETE FROM cache_nodes WHERE id = ? OR expires_at < now() - interval '1 hour'`, s.node).Error
	})
}

// stopSharing leaves the members (Close).
func (s *Store) stopSharing() {
	sh := s.share.Load()
	if sh == nil {
		return
	}
	close(sh.stop)
	<-sh.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.leave(ctx, sh); err != nil {
		s.log.Warn("cache: leave the members", "err", err)
	}
}

// CacheProven tells the store that at the moment at, this node had applied
// every invalidation committed before (its relay read the newest event id
// after at and has applied the log up to it). The cache then serves for a
// lease after at, if the node was a member by then.
func (s *Store) CacheProven(at time.Time) {
	sh := s.share.Load()
	if sh == nil {
		return
	}
	if sh.opts.Ready != nil && sh.opts.Ready() != nil {
		s.cache.Distrust()
		return
	}
	sh.mu.Lock()
	joined, expires := sh.joinedAt, sh.expires
	sh.mu.Unlock()
	if joined.IsZero() || at.Before(joined) {
		return
	}
	s.cache.Trust(minTime(at.Add(sh.opts.Lease), expires))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// PeerApplied records that node has applied the log up to applied (an
// acknowledgement from the bus).
func (s *Store) PeerApplied(node string, applied int64) {
	a := &s.acks
	a.mu.Lock()
	defer a.mu.Unlock()
	if applied <= a.applied[node] {
		return
	}
	a.applied[node] = applied
	close(a.changed)
	a.changed = make(chan struct{})
}

// logInvalidation logs the keys a write changed, at the end of the write,
// and reads whom its commit must wait for.
func (s *Store) logInvalidation(t *Tx) (*invalidation, error) {
	payload, err := json.Marshal(InvalidationPayload{Keys: t.keys})
	if err != nil {
		return nil, err
	}
	inv := &invalidation{keys: t.keys}
	err = t.QueryRowPrepared(`INSERT INTO events(tenant_id, room_id, type, message_id, target_user_id, payload, created_at)
		VALUES ('', '', ?, '', '', ?, ?) RETURNING id`, EventInvalidated, string(payload), Now()).Scan(&inv.id)
	if err != nil {
		return nil, fmt.Errorf("log the cache keys changed: %w", err)
	}
	rows, err := t.QueryPrepared(`SELECT id FROM cache_nodes WHERE expires_at > now() AND id <> ?`, s.node)
	if err != nil {
		return nil, fmt.Errorf("read the nodes sharing the cache: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		inv.peers = append(inv.peers, id)
	}
	return inv, rows.Err()
}

// published runs after the commit, in commit order.
func (s *Store) published(inv *invalidation) {
	if sh := s.share.Load(); sh != nil && sh.opts.Publish != nil {
		sh.opts.Publish(inv.id, inv.keys)
	}
}

// awaitPeers returns once every other member has applied inv, or after the
// lease and an eighth (so that a node that has not, and has no proof taken
// after the commit, has stopped serving from its cache by then, whatever
// small difference between the nodes' clock rates).
func (s *Store) awaitPeers(inv *invalidation) {
	if len(inv.peers) == 0 {
		return
	}
	lease := DefaultCacheLease
	if sh := s.share.Load(); sh != nil {
		lease = sh.opts.Lease
	}
	timeout := time.NewTimer(lease + lease/8)
	defer timeout.Stop()
	a := &s.acks
	for {
		a.mu.Lock()
		all := true
		for _, p := range inv.peers {
			if a.applied[p] < inv.id {
				all = false
				break
			}
		}
		changed := a.changed
		a.mu.Unlock()
		if all {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			s.log.Debug("cache: a node did not acknowledge an invalidation in time", "event", inv.id)
			return
		}
	}
}
