package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"parley/store"
)

// Relay defaults: how long a gap may wait for the bus to fill it before it is
// read from the database, and how often the relay checks that nothing
// committed is missing (a lost last message has no later one to reveal it).
const (
	DefaultGapWait       = 50 * time.Millisecond
	DefaultCatchUpPeriod = 500 * time.Millisecond
)

// relayPage is how many logged events one recovery query reads.
const relayPage = 256

// maxPending bounds the events a relay holds behind a gap: past it the gap is
// read from the database at once instead of waiting for the bus.
const maxPending = 1 << 16

// RelayMetrics receives counts from the relay (Prometheus in production).
type RelayMetrics interface {
	Recovered(events int)    // log events read from the database because the bus had not brought them
	Cut(streams int)         // streams ended because a gap could not be read
	Behind(events int64)     // committed events not yet delivered here, at the last check
	Transit(d time.Duration) // how long a bus message took to arrive (0: not measured)
}

func (noMetrics) Recovered(int)         {}
func (noMetrics) Cut(int)               {}
func (noMetrics) Behind(int64)          {}
func (noMetrics) Transit(time.Duration) {}

// RelayOptions tune the relay; zero values take the defaults.
type RelayOptions struct {
	GapWait       time.Duration
	CatchUpPeriod time.Duration
	Metrics       RelayMetrics
	Log           *slog.Logger
}

// relay applies the global event log to this node's hub in id order. Event
// ids are commit order across nodes (the store serialises every append), so
// once an event is committed every lower id is final: committed or never to
// be. The relay hands the hub event applied+1 and nothing later until it has
// it; what arrives ahead of a gap waits, for at most the gap wait, and then
// the gap is read from the database. A periodic check compares the newest id
// committed with what was delivered, so a lost last message is found within
// about two periods. If a gap cannot be read, every stream is cut: each
// resumes exactly with its Last-Event-ID.
type relay struct {
	hub  *Hub
	log  eventLog
	opts RelayOptions

	mu       sync.Mutex
	started  bool
	applied  int64    // every id up to this one is delivered (or was never committed)
	pending  []*Event // received ahead of a gap, in id order
	gapSince time.Time
	seen     int64 // the newest id committed at the last check
	// The store's cache (PostgreSQL): the relay applies other nodes'
	// invalidations, acknowledges them, and proves the cache current.
	coh    coherence
	ackDue bool  // an invalidation was applied and not yet acknowledged
	proof  proof // the last newest-id read not yet reached

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// proof is a read of the newest committed id: once the relay has applied
// the log up to newest, every commit before at is applied here.
type proof struct {
	at     time.Time
	newest int64
	set    bool
}

// coherence is what the relay does for the store's cache; noCoherence in
// tests of the relay alone.
type coherence interface {
	Invalidate(keys []string)               // a commit changed these rows
	Applied(applied int64)                  // every event up to applied is applied here: tell the other nodes
	PeerApplied(node string, applied int64) // another node said so
	Proven(at time.Time)                    // every commit before at is applied here
	Lost()                                  // this node may have missed an invalidation
}

type noCoherence struct{}

func (noCoherence) Invalidate([]string)       {}
func (noCoherence) Applied(int64)             {}
func (noCoherence) PeerApplied(string, int64) {}
func (noCoherence) Proven(time.Time)          {}
func (noCoherence) Lost()                     {}

// eventLog is where the relay reads what the bus did not bring: the
// database (Service), or a fake in tests.
type eventLog interface {
	newestEvent(ctx context.Context) (int64, error)
	loggedEvents(ctx context.Context, from, to int64, limit int) ([]*Event, int64, error)
}

func newRelay(hub *Hub, log eventLog, opts RelayOptions) *relay {
	if opts.GapWait <= 0 {
		opts.GapWait = DefaultGapWait
	}
	if opts.CatchUpPeriod <= 0 {
		opts.CatchUpPeriod = DefaultCatchUpPeriod
	}
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &relay{hub: hub, log: log, opts: opts, coh: noCoherence{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// start begins at the newest committed event. The bus is already delivering:
// what came before is held, and what this read covers is dropped.
func (r *relay) start(ctx context.Context) error {
	at := time.Now()
	newest, err := r.log.newestEvent(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.started, r.applied, r.seen = true, newest, newest
	r.proof = proof{at: at, newest: newest, set: true}
	r.settleLocked()
	r.mu.Unlock()
	go r.run()
	return nil
}

// close stops the relay's checks (its goroutine runs once started).
func (r *relay) close() {
	r.once.Do(func() { close(r.stop) })
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if started {
		<-r.done
	}
}

// Log takes committed events from the bus.
func (r *relay) Log(evs []*Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started && len(r.pending) == 0 {
		// The usual case: the next events, in order.
		i := 0
		for ; i < len(evs) && evs[i].ID <= r.applied+1; i++ {
			if evs[i].ID == r.applied+1 {
				r.applied = evs[i].ID
				r.deliverLocked(evs[i])
			}
		}
		if evs = evs[i:]; len(evs) == 0 {
			r.appliedLocked()
			return
		}
	}
	r.pending = append(r.pending, evs...)
	slices.SortFunc(r.pending, func(a, b *Event) int { return cmp.Compare(a.ID, b.ID) })
	r.pending = slices.CompactFunc(r.pending, func(a, b *Event) bool { return a.ID == b.ID })
	r.settleLocked()
}

// Live takes an ephemeral event from the bus.
func (r *relay) Live(ev *Event) { r.hub.Publish(ev) }

// Applied takes another node's acknowledgement from the bus.
func (r *relay) Applied(node string, applied int64) { r.coh.PeerApplied(node, applied) }

// deliverLocked applies the next event of the log: to the cache, or to the
// hub's streams.
func (r *relay) deliverLocked(ev *Event) {
	if ev.Type == EvInvalidated {
		r.coh.Invalidate(ev.Keys)
		r.ackDue = true
		return
	}
	r.hub.Publish(ev)
}

// appliedLocked runs once the relay has applied the log further: it
// acknowledges the invalidations applied, and proves the cache current once
// the last newest id read is reached.
func (r *relay) appliedLocked() {
	if r.ackDue {
		r.ackDue = false
		r.coh.Applied(r.applied)
	}
	if r.proof.set && r.applied >= r.proof.newest {
		r.proof.set = false
		r.coh.Proven(r.proof.at)
	}
}

// settleLocked delivers what pending holds in order up to the first gap, and
// wakes the recovery when a gap remains.
func (r *relay) settleLocked() {
	if !r.started {
		return
	}
	i := 0
	for ; i < len(r.pending) && r.pending[i].ID <= r.applied+1; i++ {
		if ev := r.pending[i]; ev.ID == r.applied+1 {
			r.applied = ev.ID
			r.deliverLocked(ev)
		}
	}
	r.pending = slices.Delete(r.pending, 0, i)
	r.appliedLocked()
	if len(r.pending) == 0 {
		r.gapSince = time.Time{}
		return
	}
	if r.gapSince.IsZero() {
		r.gapSince = time.Now()
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *relay) run() {
	defer close(r.done)
	tick := time.NewTicker(r.opts.CatchUpPeriod)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
			r.fillGaps()
		case <-tick.C:
			r.fillGaps()
			r.catchUp()
		}
	}
}

// fillGaps reads from the database each gap the bus has not filled within
// the gap wait.
func (r *relay) fillGaps() {
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
		wait := r.opts.GapWait - time.Since(r.gapSince)
		if len(r.pending) >= maxPending {
			wait = 0
		}
		from, to := r.applied, r.pending[0].ID-1
		r.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				return
			}
			continue // the bus may have filled it meanwhile
		}
		if !r.recover(from, to) {
			return
		}
	}
}

// catchUp finds events committed at the last check and still not delivered:
// their bus message was lost, and no later one has revealed the gap.
func (r *relay) catchUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := time.Now()
	newest, err := r.log.newestEvent(ctx)
	if err != nil {
		r.opts.Log.Warn("relay: read the newest event", "err", err)
		return
	}
	r.mu.Lock()
	seen, from := r.seen, r.applied
	r.seen = newest
	r.proof = proof{at: at, newest: newest, set: true}
	r.appliedLocked()
	r.mu.Unlock()
	r.opts.Metrics.Behind(max(newest-from, 0))
	if seen > from {
		r.recover(from, seen)
	}
}

// recover reads the events in (from, to] from the database and delivers
// them, then whatever pending holds after them. It reports false when the
// database could not be read: every stream is then cut, and the relay goes on
// from to.
func (r *relay) recover(from, to int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for from < to {
		evs, last, err := r.log.loggedEvents(ctx, from, to, relayPage)
		if err != nil {
			r.cut(to, err)
			return false
		}
		r.mu.Lock()
		n := 0
		for _, ev := range evs {
			if ev.ID > r.applied {
				r.applied = ev.ID
				r.deliverLocked(ev)
				n++
			}
		}
		if n > 0 {
			r.opts.Metrics.Recovered(n)
		}
		r.applied = max(r.applied, last)
		r.settleLocked()
		r.mu.Unlock()
		from = last
	}
	return true
}

// cut ends every stream: this node cannot tell them what they missed.
func (r *relay) cut(to int64, err error) {
	r.mu.Lock()
	r.coh.Lost() // the gap may hold invalidations
	streams := r.hub.cutAll(EndLagging)
	r.applied = max(r.applied, to)
	r.settleLocked()
	r.mu.Unlock()
	r.opts.Metrics.Cut(streams)
	r.opts.Log.Error("relay: missed events could not be read; streams cut, they resume with Last-Event-ID",
		"err", err, "streams", streams)
}

// newestEvent is the id of the newest logged event (0 for none).
func (s *Service) newestEvent(ctx context.Context) (int64, error) {
	var newest int64
	err := s.st.Read(ctx).Model(&store.Event{}).Select("COALESCE(MAX(id), 0)").Scan(&newest).Error
	return newest, err
}

// loggedEvents reads up to limit logged events in (from, to] as live events,
// and the id up to which it read (to once nothing more is there).
func (s *Service) loggedEvents(ctx context.Context, from, to int64, limit int) ([]*Event, int64, error) {
	var rows []store.Event
	if err := s.st.Read(ctx).Where("id > ? AND id <= ?", from, to).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, from, err
	}
	frames, err := s.frames(ctx, rows)
	if err != nil {
		return nil, from, err
	}
	last := to
	if len(rows) == limit {
		last = rows[len(rows)-1].ID
	}
	out := make([]*Event, 0, len(rows))
	for i, row := range rows {
		if frames[i] == nil {
			continue // a message deleted since: nothing left to show
		}
		ev := &Event{ID: row.ID, RoomID: row.RoomID, Type: row.Type, TargetUserID: row.TargetUserID, Frame: frames[i]}
		switch row.Type {
		case EvMemberJoined:
			var p memberPayload
			if json.Unmarshal([]byte(row.Payload), &p) == nil {
				ev.MemberID = p.User.ID
			}
		case EvSessionRevoked, EvUserDisabled:
			var p revokedPayload
			if json.Unmarshal([]byte(row.Payload), &p) == nil {
				ev.SessionID, ev.UserID = p.SessionID, p.UserID
			}
		case EvInvalidated:
			var p store.InvalidationPayload
			if err := json.Unmarshal([]byte(row.Payload), &p); err != nil {
				return nil, from, fmt.Errorf("read the cache keys of event %d: %w", row.ID, err)
			}
			ev.Keys, ev.Frame = p.Keys, nil
		}
		out = append(out, ev)
	}
	return out, last, nil
}
