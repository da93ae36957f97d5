// Package push sends Web Push notifications (RFC 8030, payloads encrypted per
// RFC 8291, VAPID per RFC 8292) to the devices of room members who have no
// live event stream, for the new messages they would want to hear of.
//
// A device registers its push subscription (endpoint and keys, from the
// browser's PushManager) with its login. Sending happens after commit, from
// a bounded queue worked by a fixed pool: posting never waits for a push
// service, and a flood of posts drops pushes rather than piling them up.
package push

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"parley/rooms"
	"parley/store"
)

// Presence says who has a live event stream (on any node): they are shown
// new messages by their open app and get no push.
type Presence interface {
	Online(userID string) bool
}

// Options are the push settings.
type Options struct {
	VAPID        Keys   // the server's key pair (LoadOrCreateKeys)
	Subject      string // a mailto: or https: contact for push services (VAPID "sub")
	AllowPrivate bool   // allow endpoints on private addresses and plain http (tests, private push services)
	Workers      int    // pushes sent at once
	Queue        int    // new messages waiting to be pushed; more are dropped
	MaxPerUser   int    // subscriptions per user; a new one replaces the oldest
	TTL          time.Duration
	Timeout      time.Duration // one request to a push service
}

// Service registers subscriptions and sends pushes.
//
// New messages wait in pending (at most Options.Queue) for one router
// goroutine, which takes them all at once: a tenant without push
// subscriptions costs it one lookup in memory per group, a room's messages
// one query for the group. The pushes it finds go to the sending workers
// through a bounded queue.
type Service struct {
	st       *store.Store
	presence Presence
	opts     Options
	log      *slog.Logger
	client   *client
	mu       sync.Mutex
	pending  []job // new messages not yet routed, at most opts.Queue
	wake     chan struct{}
	sends    chan delivery
	stop     chan struct{}
	workers  sync.WaitGroup
	closer   sync.Once
	now      func() time.Time
}

type job struct {
	tenantID string
	message  rooms.MessageJSON
}

// delivery is one push to send: a device and its encrypted-to-be payload.
type delivery struct {
	sub  store.PushSubscription
	body []byte
}

// New returns the push service; Start runs its workers.
func New(st *store.Store, presence Presence, opts Options, log *slog.Logger) *Service {
	return &Service{
		st: st, presence: presence, opts: opts, log: log,
		client: newClient(opts.AllowPrivate, opts.Timeout),
		wake:   make(chan struct{}, 1),
		sends:  make(chan delivery, max(1, opts.Queue)),
		stop:   make(chan struct{}),
		now:    store.Now,
	}
}

// Start runs the router and the sending workers until Close.
func (s *Service) Start() {
	s.workers.Go(func() {
		var spare []job
		for {
			select {
			case <-s.wake:
				jobs := s.take(spare)
				s.route(jobs)
				clear(jobs)
				spare = jobs
			case <-s.stop:
				return
			}
		}
	})
	for range max(1, s.opts.Workers) {
		s.workers.Go(func() {
			for {
				select {
				case d := <-s.sends:
					s.deliver(d.sub, d.body)
				case <-s.stop:
					return
				}
			}
		})
	}
}

// Close stops the workers; pushes still queued are dropped (they are a
// courtesy: the messages themselves are stored).
func (s *Service) Close() {
	s.closer.Do(func() { close(s.stop) })
	s.workers.Wait()
}

// PublicKey is the VAPID public key a browser subscribes with.
func (s *Service) PublicKey() string { return s.opts.VAPID.Public }

// MessageCreated queues a new message for pushing (rooms.MessageNotifier). It
// runs on the writer's goroutine after commit, so it never waits: with the
// queue full, the push is dropped.
func (s *Service) MessageCreated(tenantID string, m rooms.MessageJSON) {
	s.mu.Lock()
	full := len(s.pending) >= max(1, s.opts.Queue)
	if !full {
		s.pending = append(s.pending, job{tenantID: tenantID, message: m})
	}
	s.mu.Unlock()
	if full {
		s.log.Warn("push queue full: a message is not pushed", "room", m.RoomID)
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the messages waiting, in commit order, and collects the next
// ones in spare (emptied), so that the two lists are reused rather than grown
// anew for every group.
func (s *Service) take(spare []job) []job {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := s.pending
	s.pending = spare[:0]
	return jobs
}

// route finds who should hear of each message and queues their pushes. The
// messages of a tenant with no push subscription cost nothing more; those
// of one room are matched against one read of its members' subscriptions.
func (s *Service) route(jobs []job) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	byRoom := map[string][]rooms.MessageJSON{}
	var order []string
	known := map[string]bool{}
	for _, j := range jobs {
		has, ok := known[j.tenantID]
		if !ok {
			var err error
			if has, err = s.tenantSubscribed(ctx, j.tenantID); err != nil {
				s.log.Error("push: find subscriptions", "tenant", j.tenantID, "err", err)
				has = false
			}
			known[j.tenantID] = has
		}
		if !has {
			continue
		}
		if _, ok := byRoom[j.message.RoomID]; !ok {
			order = append(order, j.message.RoomID)
		}
		byRoom[j.message.RoomID] = append(byRoom[j.message.RoomID], j.message)
	}
	for _, roomID := range order {
		if err := s.routeRoom(ctx, roomID, byRoom[roomID]); err != nil {
			s.log.Error("push: find recipients", "room", roomID, "err", err)
		}
	}
}

// tenantSubscribed says whether any device of the tenant may be pushed to,
// from the cache: registering a subscription invalidates it (on every node).
// A subscription removed since may leave it true, which costs a query, never a push.
func (s *Service) tenantSubscribed(ctx context.Context, tenantID string) (bool, error) {
	return store.Cached(s.st.Cache(), tenantKey(tenantID), func() (bool, bool, error) {
		has, err := anySubscription(ctx, s.st, tenantID)
		return has, err == nil, err
	})
}

// routeRoom queues the pushes for a room's new messages.
func (s *Service) routeRoom(ctx context.Context, roomID string, msgs []rooms.MessageJSON) error {
	found, err := candidates(ctx, s.st, roomID, s.now())
	if err != nil || len(found) == 0 {
		return err
	}
	var room *roomInfo
	for _, m := range msgs {
		for _, sub := range s.recipients(found, m) {
			if room == nil {
				r, err := roomOf(ctx, s.st, roomID)
				if err != nil {
					return fmt.Errorf("read room: %w", err)
				}
				room = &r
			}
			select {
			case s.sends <- delivery{sub: sub, body: newPayload(*room, m, sub.UserID)}:
			default:
				s.log.Warn("push queue full: a push is not sent", "room", roomID)
			}
		}
	}
	return nil
}

// recipients are the subscriptions among the room's candidates of members
// who should hear of m: not its author, with no live stream, and whose
// notification level for the room lets it through (a mention of them
// always does).
func (s *Service) recipients(found []candidate, m rooms.MessageJSON) []store.PushSubscription {
	var out []store.PushSubscription
	for _, c := range found {
		if c.UserID == m.Author.ID || s.presence.Online(c.UserID) {
			continue
		}
		if c.Notifications == rooms.NotifyAll || slices.Contains(m.Mentions, c.UserID) {
			out = append(out, c.PushSubscription)
		}
	}
	return out
}

// deliver sends one encrypted push. A subscription the push service no
// longer knows (404, 410) is removed.
func (s *Service) deliver(sub store.PushSubscription, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth},
	}, &webpush.Options{
		HTTPClient:      s.client,
		Subscriber:      s.opts.Subject,
		VAPIDPublicKey:  s.opts.VAPID.Public,
		VAPIDPrivateKey: s.opts.VAPID.Private,
		TTL:             int(s.opts.TTL.Seconds()),
		Urgency:         webpush.UrgencyHigh,
		RecordSize:      recordSize,
	})
	if err != nil {
		s.log.Warn("push: send", "subscription", sub.ID, "err", err)
		return
	}
	res.Body.Close()
	switch {
	case res.StatusCode == 404 || res.StatusCode == 410:
		if err := s.st.Write(ctx, func(tx *store.Tx) error { return deleteSubscription(tx, sub.ID) }); err != nil {
			s.log.Error("push: remove a gone subscription", "subscription", sub.ID, "err", err)
		}
	case res.StatusCode >= 300:
		s.log.Warn("push: refused", "subscription", sub.ID, "status", res.StatusCode)
	}
}
