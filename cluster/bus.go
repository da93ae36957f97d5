// Package cluster joins several Parley nodes: a bus over NATS that carries
// each node's committed and ephemeral events to every node, and presence
// (who has a live stream on which node) shared the same way.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"parley/rooms"
)

// Subjects. One subject per kind keeps each node's publications in order;
// across nodes NATS gives no order, and the relay restores the log's.
const (
	subjectLog      = "parley.log"
	subjectLive     = "parley.live"
	subjectPresence = "parley.presence"
	subjectApplied  = "parley.applied"
)

// pendingLimit is how many messages (and bytes) a subscription may hold
// before NATS drops them for a slow consumer: generous, because a dropped log
// message costs a database read, and bounded, so a stalled node cannot
// swell without end.
const (
	pendingMsgs  = 1 << 18
	pendingBytes = 256 << 20
)

// Options tune the bus.
type Options struct {
	Name    string // this node, as NATS monitoring shows it
	Log     *slog.Logger
	Transit func(time.Duration) // how long each log message took to arrive (nil: not measured)
}

// Bus is rooms.Bus over NATS. Delivery is at most once: a message lost while
// a node is disconnected or too slow is recovered by its relay from the
// database (log events) or simply missed (ephemeral events).
type Bus struct {
	nc   *nats.Conn
	opts Options
	subs []*nats.Subscription
}

// envelope is one log message: the events of one commit and when they were sent.
type envelope struct {
	Sent   int64          `json:"t"` // Unix nanoseconds
	Events []*rooms.Event `json:"e"`
}

// Connect joins the NATS server at url. It reconnects for ever after a loss.
func Connect(url string, opts Options) (*Bus, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	log := opts.Log
	nc, err := nats.Connect(url, nats.Name(opts.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("bus disconnected", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("bus reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("bus error", "subject", subject, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at nats_url: %w", err)
	}
	return &Bus{nc: nc, opts: opts}, nil
}

// Conn is the NATS connection, for presence to share.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Start subscribes r to every node's events, and returns once the server
// has the subscriptions, so that nothing published after Start is missed
// while connected.
func (b *Bus) Start(r rooms.Receiver) error {
	logSub, err := b.nc.Subscribe(subjectLog, func(m *nats.Msg) {
		var env envelope
		if err := json.Unmarshal(m.Data, &env); err != nil || len(env.Events) == 0 {
			b.opts.Log.Warn("bus: unreadable log message", "err", err)
			return
		}
		if b.opts.Transit != nil {
			b.opts.Transit(time.Since(time.Unix(0, env.Sent)))
		}
		r.Log(env.Events)
	})
	if err != nil {
		return err
	}
	liveSub, err := b.nc.Subscribe(subjectLive, func(m *nats.Msg) {
		var ev rooms.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			b.opts.Log.Warn("bus: unreadable live message", "err", err)
			return
		}
		r.Live(&ev)
	})
	if err != nil {
		_ = logSub.Unsubscribe()
		return err
	}
	appliedSub, err := b.nc.Subscribe(subjectApplied, func(m *nats.Msg) {
		var a applied
		if err := json.Unmarshal(m.Data, &a); err != nil {
			b.opts.Log.Warn("bus: unreadable acknowledgement", "err", err)
			return
		}
		r.Applied(a.Node, a.Applied)
	})
	if err != nil {
		_ = logSub.Unsubscribe()
		_ = liveSub.Unsubscribe()
		return err
	}
	for _, s := range []*nats.Subscription{logSub, liveSub, appliedSub} {
		if err := s.SetPendingLimits(pendingMsgs, pendingBytes); err != nil {
			return err
		}
	}
	b.subs = append(b.subs, logSub, liveSub, appliedSub)
	return b.nc.Flush()
}

// PublishLog sends the events of one commit. If the bus is down the message
// waits in the client's reconnect buffer or is lost; either way each node's
// relay finds the events in the database.
func (b *Bus) PublishLog(evs []*rooms.Event) {
	data, err := json.Marshal(envelope{Sent: time.Now().UnixNano(), Events: evs})
	if err == nil && int64(len(data)) > b.nc.MaxPayload() && len(evs) > 1 {
		// A big commit (a batch of long posts) goes as several messages:
		// the relay puts them back in order.
		b.PublishLog(evs[:len(evs)/2])
		b.PublishLog(evs[len(evs)/2:])
		return
	}
	if err == nil {
		err = b.nc.Publish(subjectLog, data)
	}
	if err != nil {
		b.opts.Log.Warn("bus: publish log events", "err", err, "first_id", evs[0].ID)
	}
}

// applied is a node's acknowledgement: it has applied the log up to Applied.
type applied struct {
	Node    string `json:"n"`
	Applied int64  `json:"a"`
}

// PublishApplied tells the other nodes how far this one has applied the
// log; lost if the bus is down (a write waiting for it then waits out the
// cache's lease).
func (b *Bus) PublishApplied(node string, upTo int64) {
	data, err := json.Marshal(applied{Node: node, Applied: upTo})
	if err == nil {
		err = b.nc.Publish(subjectApplied, data)
	}
	if err != nil {
		b.opts.Log.Debug("bus: publish acknowledgement", "err", err)
	}
}

// PublishLive sends an ephemeral event; it is lost if the bus is down.
func (b *Bus) PublishLive(ev *rooms.Event) {
	data, err := json.Marshal(ev)
	if err == nil {
		err = b.nc.Publish(subjectLive, data)
	}
	if err != nil {
		b.opts.Log.Debug("bus: publish live event", "err", err, "type", ev.Type)
	}
}

// Ready reports whether the bus is connected.
func (b *Bus) Ready() error {
	if s := b.nc.Status(); s != nats.CONNECTED {
		return errors.New("the bus (NATS) is " + s.String())
	}
	return nil
}

// Close leaves the bus.
func (b *Bus) Close() error {
	b.nc.Close()
	return nil
}
