package rooms

import (
	"context"

	"parley/auth"
	"parley/internal/fault"
)

// Typing tells the room's other live members that the caller is typing. A
// client sends it every few seconds while the person types (the api's limit
// refuses a client that floods).
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
	ev := ephemeral(EvTyping, typingPayload{RoomID: roomID, User: auth.ViewUser(*p.User)})
	ev.RoomID, ev.SkipUserID = roomID, p.UserID
	s.bus.PublishLive(ev)
	return nil
}
