package rooms

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// replayPage is how many logged events one replay query reads. Each page is
// written out before the next is read, so a stream holds one page, never its
// backlog: at most replayPage messages (under 1 MiB even at 4,000 characters
// each), however far behind its client is and however slowly it reads.
const replayPage = 32

// streamRetryAfter is when to try again after too_many_streams: by then a
// stream whose client went away unannounced has usually been noticed (it is
// at its next ping) and its slot freed.
const streamRetryAfter = 15 * time.Second

// Stream is an open event stream: first the events after the client's cursor
// that it may still see (Replay), then live ones (Subscriber).
type Stream struct {
	*Subscriber
	svc    *Service
	cursor int64
	live   bool // no cursor: cursor is the newest event when the stream opened, and nothing is replayed
	closer sync.Once
}

// noCursor marks a stream that starts with live events and replays nothing.
const noCursor = -1

// ParseCursor checks a client's Last-Event-ID ("" means: live events only).
// Only the form this server writes is accepted: a non-negative decimal
// without sign, padding or leading zeros.
func ParseCursor(raw string) (int64, error) {
	if raw == "" {
		return noCursor, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != raw {
		return 0, fault.Field("last_event_id", "is not a cursor this server issued")
	}
	return n, nil
}

// OpenStream subscribes the caller to one room (roomID set) or to all of their
// rooms. The subscriber is registered before the backlog is read, so nothing
// committed meanwhile can fall between replay and live delivery.
func (s *Service) OpenStream(ctx context.Context, p auth.Principal, roomID, cursor string) (*Stream, error) {
	after, err := ParseCursor(cursor)
	if err != nil {
		return nil, err
	}
	if p.IsKey() {
		return nil, fault.New(fault.Forbidden, "event streams are for users; mint a user token with tokens:write")
	}
	sub := s.hub.subscribe(p.UserID, p.SessionID, roomID)
	if sub == nil {
		err := fault.OverLimit(fault.TooManyStreams, "streams_per_user",
			"you have as many event streams open as allowed; close one (another tab or device) and try again")
		err.RetryAfter = streamRetryAfter
		return nil, err
	}
	st := &Stream{Subscriber: sub, svc: s, cursor: after, live: after == noCursor}
	if roomID != "" {
		s.hub.attach(sub, roomID)
		// Checked once attached: a removal committed before the attach would
		// otherwise go unnoticed. Refused, the subscriber is gone unseen.
		if _, err := s.access(ctx, p, roomID, "room.read"); err != nil {
			s.hub.Unsubscribe(sub)
			return nil, err
		}
		if err := st.startLive(ctx); err != nil {
			s.hub.Unsubscribe(sub)
			return nil, err
		}
		s.announce.opened(p.UserID)
		return st, nil
	}
	first, err := s.memberships(ctx, p.UserID)
	if err != nil {
		s.hub.Unsubscribe(sub)
		return nil, err
	}
	for id := range first {
		s.hub.attach(sub, id)
	}
	// A removal committed after the first read but dispatched before its
	// attach would leave the room attached: read again and let go of those.
	again, err := s.memberships(ctx, p.UserID)
	if err != nil {
		s.hub.Unsubscribe(sub)
		return nil, err
	}
	for id := range first {
		if !again[id] {
			s.hub.detach(sub, id)
		}
	}
	if err := st.startLive(ctx); err != nil {
		s.hub.Unsubscribe(sub)
		return nil, err
	}
	s.announce.opened(p.UserID)
	return st, nil
}

// startLive sets a stream without a cursor to start after the newest event
// committed now that it is subscribed: an event committed before it opened
// may still be on its way to the hub (through the bus), and must not reach
// this stream as if it were new. Read before the stream answers, so whatever
// the client does once it sees the answer commits after it.
func (st *Stream) startLive(ctx context.Context) error {
	if !st.live {
		return nil
	}
	return st.svc.st.Read(ctx).Model(&store.Event{}).Select("COALESCE(MAX(id), 0)").Scan(&st.cursor).Error
}

func (s *Service) memberships(ctx context.Context, userID string) (map[string]bool, error) {
	var ids []string
	if err := s.st.Read(ctx).Model(&store.RoomMember{}).Where("user_id = ?", userID).Pluck("room_id", &ids).Error; err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// Close ends the subscription; the user may go offline.
func (st *Stream) Close() {
	st.closer.Do(func() {
		st.svc.hub.Unsubscribe(st.Subscriber)
		st.svc.announce.closedStream(st.UserID)
	})
}

// Replay sends the logged events after the cursor that the caller may still
// see, in order, a page at a time: write must have written a page out before
// it returns, and only then is the next one read. A client more than the
// replay depth behind gets one resync event instead, carrying the newest
// cursor. Replay returns the last id sent (the cursor if none).
func (st *Stream) Replay(ctx context.Context, write func(frames [][]byte) error) (int64, error) {
	last := st.cursor
	if st.live {
		return last, nil
	}
	if depth := st.svc.caps.ReplayDepth; depth > 0 {
		var beyond []int64
		if err := st.backlog(ctx, last).Order("id").Offset(depth).Limit(1).Pluck("id", &beyond).Error; err != nil {
			return last, err
		}
		if len(beyond) > 0 {
			// Everything up to the newest event is committed, so the client's
			// reload sees it; live events after it follow on this stream.
			var newest int64
			if err := st.svc.st.Read(ctx).Model(&store.Event{}).Select("COALESCE(MAX(id), 0)").Scan(&newest).Error; err != nil {
				return last, err
			}
			return newest, write([][]byte{resyncFrame(newest)})
		}
	}
	for {
		var evs []store.Event
		if err := st.backlog(ctx, last).Order("id").Limit(replayPage).Find(&evs).Error; err != nil {
			return last, err
		}
		frames, err := st.svc.frames(ctx, evs)
		if err != nil {
			return last, err
		}
		if len(evs) > 0 {
			if err := write(slices.DeleteFunc(frames, func(f []byte) bool { return f == nil })); err != nil {
				return last, err
			}
			last = evs[len(evs)-1].ID
		}
		if len(evs) < replayPage {
			return last, nil
		}
	}
}

// backlog selects the logged events after the cursor that this stream's
// user may see: of the one room, or of every room they are a member of.
func (st *Stream) backlog(ctx context.Context, after int64) *gorm.DB {
	db := st.svc.st.Read(ctx).Model(&store.Event{}).Where("id > ?", after)
	if st.RoomID != "" {
		return db.Where("room_id = ? AND (target_user_id = '' OR target_user_id = ?)", st.RoomID, st.UserID)
	}
	return db.Where(`(target_user_id = '' AND room_id IN (SELECT room_id FROM room_members WHERE user_id = ?))
		OR target_user_id = ?`, st.UserID, st.UserID)
}

// frames encodes logged events; message events show the message as it is now
// (a deleted message stays erased). A nil frame is an event with nothing left to show.
func (s *Service) frames(ctx context.Context, evs []store.Event) ([][]byte, error) {
	var ids []string
	for _, ev := range evs {
		if ev.MessageID != "" {
			ids = append(ids, ev.MessageID)
		}
	}
	byID := map[string]MessageJSON{}
	if len(ids) > 0 {
		var msgs []store.Message
		if err := s.st.Read(ctx).Where("id IN ?", ids).Find(&msgs).Error; err != nil {
			return nil, err
		}
		rendered, err := renderMessages(s.st.Read(ctx), msgs)
		if err != nil {
			return nil, err
		}
		for _, m := range rendered {
			byID[m.ID] = m
		}
	}
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		payload := []byte(ev.Payload)
		if ev.MessageID != "" {
			m, ok := byID[ev.MessageID]
			if !ok {
				continue
			}
			payload = messagePayload(ev.RoomID, mustJSON(m))
		}
		out[i] = encodeFrame(ev.ID, ev.Type, payload)
	}
	return out, nil
}
