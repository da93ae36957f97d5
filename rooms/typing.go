package rooms

import (
	"context"
	"sync"
	"time"

	"parley/auth"
	"parley/internal/fault"
)

// maxTypingKeys bounds the typing limiter's memory (one entry per person
// typing in a room within the last interval).
const maxTypingKeys = 100_000

// Typing tells the room's other live members that the caller is typing. A
// client sends it every few seconds while the person types; more often than
// the typing interval is refused (429), so a flooding client reaches nobody.
func (s *Service) Typing(ctx context.Context, p auth.Principal, roomID string) error {
	row, err := s.access(ctx, p, roomID, "message.post")
	if err != nil {
		return err
	}
	if p.IsKey() || row.MyRole == "" {
		return fault.New(fault.Forbidden, "you are not a member of this room")
	}
	if row.Archived {
		return fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	if wait := s.typing.Wait(p.UserID+"\x00"+roomID, s.now()); wait > 0 {
		return &fault.Error{Kind: fault.RateLimited, Message: "typing is sent at most every few seconds", RetryAfter: wait}
	}
	ev := ephemeral(EvTyping, typingPayload{RoomID: roomID, User: auth.ViewUser(*p.User)})
	ev.RoomID, ev.SkipUserID = roomID, p.UserID
	s.hub.Publish(ev)
	return nil
}

// intervalLimiter lets one action per key through per interval. It is this
// node's own count; with several nodes a user's requests spread over them,
// which at worst multiplies the rate by the number of nodes.
type intervalLimiter struct {
	interval time.Duration
	maxKeys  int

	mu   sync.Mutex
	last map[string]time.Time
}

func newIntervalLimiter(interval time.Duration, maxKeys int) *intervalLimiter {
	return &intervalLimiter{interval: interval, maxKeys: maxKeys, last: map[string]time.Time{}}
}

// Wait returns 0 and counts the action when key may act now, or how long to wait.
func (l *intervalLimiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.last[key]; ok && now.Sub(prev) < l.interval {
		return l.interval - now.Sub(prev)
	}
	if len(l.last) >= l.maxKeys {
		for k, t := range l.last {
			if now.Sub(t) >= l.interval {
				delete(l.last, k)
			}
		}
		if len(l.last) >= l.maxKeys {
			return l.interval // everyone is typing at once: shed load
		}
	}
	l.last[key] = now
	return 0
}
