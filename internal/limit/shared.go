package limit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Shared is the Store of a cluster: the counts live in the database that the
// nodes share (tables limit_buckets and limit_leases, created by the store's
// migrations), so that a limit counts across nodes, not once per node. Each
// operation is one or two single-row statements that commit on their own,
// outside the node's single writer: a limit never waits for a batch of posts,
// and never holds a lock inside one. The same SQL runs on SQLite and
// PostgreSQL.
//
// Token buckets are one row per key, spent and refilled by one conditional
// upsert. A window cap of N per Per, and a count of at most N in flight, are
// N numbered slots per key, each claimed by one conditional upsert that only
// takes a free or expired slot (the primary key makes two nodes' claims of one
// slot exclusive). A window's slot expires Per after it was taken. An
// in-flight slot is a lease: it carries this node's id and expires unless the
// node renews it, which Run does while the node lives, so what a dead node had
// in flight is given back within the lease time instead of leaking.
//
// Times are the nodes' clocks (Unix microseconds), which must agree within a
// second or so (NTP).
type Shared struct {
	db    SQL
	node  string // this node's id, on its leases
	now   func() time.Time
	lease time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	pending []slotKey     // releases Give queued for Run
	wake    chan struct{} // tells Run that pending has grown
}

// SQL is what Shared needs of the database: statements with ? placeholders
// that each commit on their own (store.Store.Direct).
type SQL interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// DefaultLease is how long an in-flight count outlives the last renewal by
// its node: what a node that died had in flight is free again after at most
// this long.
const DefaultLease = 30 * time.Second

// claimTries bounds how often one Acquire or window Take retries a slot that
// another node claimed between reading the free slots and claiming one.
const claimTries = 8

// NewShared returns the shared Store over db; now may be nil (time.Now),
// lease 0 (DefaultLease).
func NewShared(db SQL, now func() time.Time, lease time.Duration, log *slog.Logger) *Shared {
	if now == nil {
		now = time.Now
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &Shared{db: db, node: hex.EncodeToString(id), now: now, lease: lease, log: log, wake: make(chan struct{}, 1)}
}

func microsOf(t time.Time) int64 { return t.UnixMicro() }

// Take spends a token of the rule's bucket for key, or one place in its window.
func (s *Shared) Take(ctx context.Context, rule Rule, key string) (time.Duration, error) {
	now := s.now()
	if rule.Window {
		ok, wait, err := s.claim(ctx, rule.Name, key, rule.Rate.N, "", now.Add(rule.Rate.Per))
		if err != nil || ok {
			return 0, err
		}
		return wait, nil
	}
	taken, err := spendToken(ctx, s.db, rule.Name, key, rule.Rate, now)
	if err != nil || taken {
		return 0, err
	}
	wait, err := tokenWait(ctx, s.db, rule.Name, key, rule.Rate, now)
	return max(time.Microsecond, wait), err
}

// Refund gives back the last action taken for key under rule.
func (s *Shared) Refund(ctx context.Context, rule Rule, key string) error {
	if rule.Window {
		return dropLatestSlot(ctx, s.db, rule.Name, key)
	}
	return refundToken(ctx, s.db, rule.Name, key, rule.Rate)
}

// Acquire counts one more in flight for key, unless max already are. The
// count is a lease of this node's, renewed by Run.
func (s *Shared) Acquire(ctx context.Context, name, key string, max int) (bool, error) {
	ok, _, err := s.claim(ctx, name, key, max, s.node, s.now().Add(s.lease))
	return ok, err
}

// Release ends one of this node's in-flight counts of key.
func (s *Shared) Release(ctx context.Context, name, key string) error {
	return releaseSlot(ctx, s.db, name, key, s.node)
}

// claim takes a free or expired slot of key among max, for holder (a node's
// id, or "" for a window's slot that nobody renews) until expires. Refused,
// it says how long until the first slot expires. most is the number of slots.
func (s *Shared) claim(ctx context.Context, name, key string, most int, holder string, expires time.Time) (bool, time.Duration, error) {
	if most <= 0 {
		return true, 0, nil
	}
	for range claimTries {
		now := microsOf(s.now())
		live, err := liveSlots(ctx, s.db, name, key, now)
		if err != nil {
			return false, 0, err
		}
		if len(live) >= most {
			first := live[0].expires
			for _, l := range live {
				first = min(first, l.expires)
			}
			return false, max(time.Microsecond, time.Duration(first-now)*time.Microsecond), nil
		}
		taken := make(map[int]bool, len(live))
		for _, l := range live {
			taken[l.n] = true
		}
		slot := 0
		for taken[slot] {
			slot++
		}
		ok, err := claimSlot(ctx, s.db, name, key, slot, holder, microsOf(expires), now)
		if err != nil || ok {
			return ok, 0, err
		}
		// Another node took this slot meanwhile: look again.
	}
	return false, 0, fmt.Errorf("limit %s: no slot claimed in %d tries", name, claimTries)
}

// Run renews this node's leases well before they expire, carries out the
// releases Give queued, and sweeps rows that count for nothing any more,
// until ctx ends; then it gives back every lease the node still holds. Run
// it for as long as the node uses the store, and stop it before closing the
// database.
func (s *Shared) Run(ctx context.Context) {
	renew := time.NewTicker(s.lease / 3)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			// The node stops: whatever it still holds ends with it.
			if err := releaseHolder(context.WithoutCancel(ctx), s.db, s.node); err != nil {
				s.log.Warn("release limit leases", "err", err) // they expire by themselves
			}
			return
		case <-s.wake:
			s.releasePending(ctx)
		case <-renew.C:
			s.releasePending(ctx)
			if err := s.renew(ctx); err != nil {
				s.log.Warn("renew limit leases", "err", err)
			}
		}
	}
}

// renew extends this node's leases by a whole lease time from now, and
// deletes what counts for nothing any more (expired slots, full buckets).
func (s *Shared) renew(ctx context.Context) error {
	now := s.now()
	if err := renewLeases(ctx, s.db, s.node, microsOf(now.Add(s.lease))); err != nil {
		return err
	}
	return sweep(ctx, s.db, microsOf(now))
}

type slotKey struct{ name, key string }

func (s *Shared) releasePending(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, k := range pending {
		if err := s.Release(ctx, k.name, k.key); err != nil {
			s.log.Warn("release a limit lease", "limit", k.name, "err", err) // it expires by itself
		}
	}
}

// Slots returns a cap of max per key on what is open across the cluster
// (event streams per user, rooms.StreamSlots), counted as leases that Run
// renews while they are held. max <= 0 caps nothing.
func (s *Shared) Slots(name string, max int) *Slots {
	return &Slots{shared: s, name: name, max: max}
}

// Slots counts what is open per key against a cap shared by every node.
type Slots struct {
	shared *Shared
	name   string
	max    int
}

// slotTimeout bounds how long a stream waits for its place to be counted.
const slotTimeout = 5 * time.Second

// Take counts one more open for key, unless max are open across the
// cluster. If the database cannot be asked, the stream is let through: the
// cap guards against abuse, and a database that is down fails the stream
// anyway. (Its Give then ends another of the key's counts on this node, so
// the key's count stays one short until its streams have all ended.)
func (sl *Slots) Take(key string) bool {
	if sl.max <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), slotTimeout)
	defer cancel()
	ok, err := sl.shared.Acquire(ctx, sl.name, key, sl.max)
	if err != nil {
		sl.shared.log.Warn("count an open stream", "limit", sl.name, "err", err)
		return true
	}
	return ok
}

// Give ends one count of key. It never waits for the database (the hub
// calls it under its lock): Run carries the release out at once, and the
// lease would expire by itself.
func (sl *Slots) Give(key string) {
	if sl.max <= 0 {
		return
	}
	s := sl.shared
	s.mu.Lock()
	s.pending = append(s.pending, slotKey{sl.name, key})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
