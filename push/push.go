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
type Service struct {
	st       *store.Store
	presence Presence
	opts     Options
	log      *slog.Logger
	client   *client
	jobs     chan job
	stop     chan struct{}
	workers  sync.WaitGroup
	closer   sync.Once
	now      func() time.Time
}

type job struct {
	tenantID string
	message  rooms.MessageJSON
}

// New returns the push service; Start runs its workers.
func New(st *store.Store, presence Presence, opts Options, log *slog.Logger) *Service {
	return &Service{
		st: st, presence: presence, opts: opts, log: log,
		client: newClient(opts.AllowPrivate, opts.Timeout),
		jobs:   make(chan job, opts.Queue),
		stop:   make(chan struct{}),
		now:    store.Now,
	}
}

// Start runs the sending workers until Close.
func (s *Service) Start() {
	for range max(1, s.opts.Workers) {
		s.workers.Add(1)
		go func() {
			defer s.workers.Done()
			for {
				select {
				case j := <-s.jobs:
					s.send(j)
				case <-s.stop:
					return
				}
			}
		}()
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
	select {
	case s.jobs <- job{tenantID: tenantID, message: m}:
	default:
		s.log.Warn("push queue full: a message is not pushed", "room", m.RoomID)
	}
}

// send pushes one message to the devices of every member who should hear of it.
func (s *Service) send(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	targets, err := s.recipients(ctx, j.message)
	if err != nil {
		s.log.Error("push: find recipients", "room", j.message.RoomID, "err", err)
		return
	}
	if len(targets) == 0 {
		return
	}
	room, err := roomOf(ctx, s.st, j.message.RoomID)
	if err != nil {
		s.log.Error("push: read room", "room", j.message.RoomID, "err", err)
		return
	}
	for _, sub := range targets {
		s.deliver(ctx, sub, newPayload(room, j.message, sub.UserID))
	}
}

// recipients are the live subscriptions of members who should hear of m: not
// its author, not disabled, with no live stream, and whose notification level
// for the room lets it through (a mention of them always does).
func (s *Service) recipients(ctx context.Context, m rooms.MessageJSON) ([]store.PushSubscription, error) {
	found, err := candidates(ctx, s.st, m.RoomID, m.Author.ID, s.now())
	if err != nil || len(found) == 0 {
		return nil, err
	}
	var out []store.PushSubscription
	for _, c := range found {
		if s.presence.Online(c.UserID) {
			continue
		}
		if c.Notifications == rooms.NotifyAll || slices.Contains(m.Mentions, c.UserID) {
			out = append(out, c.PushSubscription)
		}
	}
	return out, nil
}

// deliver sends one encrypted push. A subscription the push service no
// longer knows (404, 410) is removed.
func (s *Service) deliver(ctx context.Context, sub store.PushSubscription, body []byte) {
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
