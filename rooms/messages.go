package rooms

import (
	"context"
	"strings"
	"unicode/utf8"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// NewMessage is a post. AsUser lets an API key post on behalf of a user;
// ReplyTo names a message of the same room that this one answers;
// Attachments are ids of the author's uploads to the room.
type NewMessage struct {
	Body, ClientID, AsUser, ReplyTo string
	Attachments                     []string
}

// cleanBody trims a body; it may be empty only for a message with files.
func cleanBody(body string, withFiles bool) (string, error) {
	body = strings.TrimSpace(body)
	if body == "" && !withFiles {
		return "", fault.Field("body", "must not be empty")
	}
	if utf8.RuneCountInString(body) > maxBody {
		return "", &fault.Error{Kind: fault.TooLarge, Field: "body", Message: "must be at most 4000 characters"}
	}
	return body, nil
}

// replyTarget loads the message a post answers. Whether the id is another
// room's, another tenant's or nobody's, the answer is the same.
func (s *Service) replyTarget(ctx context.Context, tenantID, roomID, messageID string) (*ReplyJSON, error) {
	var m store.Message
	err := s.st.Read(ctx).Where("id = ? AND room_id = ? AND tenant_id = ?", messageID, roomID, tenantID).Take(&m).Error
	if store.IsNotFound(err) {
		return nil, fault.Field("reply_to", "is not a message of this room")
	}
	if err != nil {
		return nil, err
	}
	var author store.User
	if err := s.st.Read(ctx).Where("id = ?", m.AuthorID).Take(&author).Error; err != nil {
		return nil, err
	}
	return viewReply(m, author), nil
}

// author returns who a post is by, from the cache; posting on behalf of a
// user (as_user) requires them to be an active plain member of the room.
func (s *Service) author(ctx context.Context, p auth.Principal, roomID, userID string, onBehalf bool) (store.User, error) {
	if p.User != nil && p.User.ID == userID {
		return *p.User, nil // authenticated just now
	}
	author, err := s.auth.UserByID(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	if author.TenantID != p.TenantID {
		return store.User{}, fault.New(fault.NotFound, "user not found")
	}
	if !onBehalf {
		return *author, nil
	}
	role, err := s.memberRole(ctx, roomID, userID)
	if err != nil {
		return *author, err
	}
	if role == "" || author.Disabled || author.IsBot {
		return *author, fault.New(fault.Forbidden, "as_user is not an active member of this room")
	}
	return *author, auth.ActsOnlyForMembers(author.Role)
}

func (s *Service) emitMessage(tx *store.Tx, name, tenantID string, m MessageJSON) error {
	payload := messagePayload(m.RoomID, mustJSON(m))
	_, err := s.emit(tx, &store.Event{TenantID: tenantID, RoomID: m.RoomID, Type: name, MessageID: m.ID}, payload, "")
	return err
}

// NoSeq marks an unset after_seq.
const NoSeq = -1

// HistoryQuery pages through a room's messages by seq.
type HistoryQuery struct {
	BeforeSeq int64 // 0: unset
	AfterSeq  int64 // NoSeq: unset; 0 pages from the first message

	Limit int
}

// History returns up to q.Limit messages, oldest first, and whether there are more.
func (s *Service) History(ctx context.Context, p auth.Principal, roomID string, q HistoryQuery) ([]MessageJSON, bool, error) {
	if _, err := s.readable(ctx, p, roomID); err != nil {
		return nil, false, err
	}
	if q.Limit == 0 {
		q.Limit = defaultLimit
	}
	if q.Limit < 1 || q.Limit > maxLimit {
		return nil, false, fault.Field("limit", "must be 1..200")
	}
	if q.BeforeSeq != 0 && q.AfterSeq != NoSeq {
		return nil, false, fault.Field("before_seq", "use before_seq or after_seq, not both")
	}
	db := s.st.Read(ctx).Where("room_id = ?", roomID)
	newestFirst := q.AfterSeq == NoSeq
	switch {
	case q.BeforeSeq != 0:
		db = db.Where("seq < ?", q.BeforeSeq)
	case q.AfterSeq != NoSeq:
		db = db.Where("seq > ?", q.AfterSeq)
	}
	order := "seq ASC"
	if newestFirst {
		order = "seq DESC"
	}
	var msgs []store.Message
	if err := db.Order(order).Limit(q.Limit + 1).Find(&msgs).Error; err != nil {
		return nil, false, err
	}
	hasMore := len(msgs) > q.Limit
	if hasMore {
		msgs = msgs[:q.Limit]
	}
	if newestFirst {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	out, err := renderMessages(s.st.Read(ctx), msgs)
	return out, hasMore, err
}

// Edit changes the body of the caller's own message.
func (s *Service) Edit(ctx context.Context, p auth.Principal, roomID, messageID, body string) (MessageJSON, error) {
	body, err := cleanBody(body, false)
	if err != nil {
		return MessageJSON{}, err
	}
	row, err := s.access(ctx, p, roomID, "room.read")
	if err != nil {
		return MessageJSON{}, err
	}
	if row.Archived {
		return MessageJSON{}, fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	return s.changeMessage(ctx, p, roomID, messageID, func(m *store.Message) error {
		if m.AuthorID != p.Subject() {
			return fault.New(fault.Forbidden, "only the author may edit a message")
		}
		if m.Deleted {
			return fault.New(fault.Conflict, "the message is deleted")
		}
		now := s.now()
		m.Body, m.EditedAt = body, &now
		return nil
	}, EvMessageUpdated)
}

// DeleteMessage erases a message's body, leaving a tombstone. Authors may
// delete their own; moderators, owners and tenant admins any.
func (s *Service) DeleteMessage(ctx context.Context, p auth.Principal, roomID, messageID string) error {
	row, err := s.access(ctx, p, roomID, "room.read")
	if err != nil {
		return err
	}
	mayAny := s.auth.CanInRoom(p, row.MyRole, "message.delete_any")
	_, err = s.changeMessage(ctx, p, roomID, messageID, func(m *store.Message) error {
		if m.AuthorID != p.Subject() && !mayAny {
			return fault.New(fault.Forbidden, "you may delete only your own messages")
		}
		if m.Deleted {
			return errAlreadyDone
		}
		m.Body, m.Deleted = "", true
		return nil
	}, EvMessageDeleted)
	if err == errAlreadyDone {
		return nil
	}
	return err
}

var errAlreadyDone = fault.New(fault.Conflict, "already done")

// changeMessage loads a message of the room, applies change, saves it and logs
// the event, all in one write.
func (s *Service) changeMessage(ctx context.Context, p auth.Principal, roomID, messageID string, change func(*store.Message) error, event string) (MessageJSON, error) {
	var out MessageJSON
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		var m store.Message
		if err := tx.Where("id = ? AND room_id = ? AND tenant_id = ?", messageID, roomID, p.TenantID).Take(&m).Error; err != nil {
			return store.NotFound(err, "message")
		}
		if err := change(&m); err != nil {
			return err
		}
		if err := tx.Model(&store.Message{}).Where("id = ?", m.ID).
			Updates(map[string]any{"body": m.Body, "edited_at": m.EditedAt, "deleted": m.Deleted}).Error; err != nil {
			return err
		}
		if m.Deleted {
			// A tombstone keeps nothing: no reactions, no files, and it mentions nobody.
			if err := tx.Where("message_id = ?", m.ID).Delete(&store.Reaction{}).Error; err != nil {
				return err
			}
			if s.files != nil {
				if err := s.files.TrashMessage(tx, m.ID); err != nil {
					return err
				}
			}
		}
		if err := tx.Where("message_id = ?", m.ID).Delete(&store.Mention{}).Error; err != nil {
			return err
		}
		if _, err := s.storeMentions(tx, m); err != nil {
			return err
		}
		if err := s.indexMessage(tx, m); err != nil {
			return err
		}
		shown, err := renderMessages(tx.DB, []store.Message{m})
		if err != nil {
			return err
		}
		out = shown[0]
		return s.emitMessage(tx, event, p.TenantID, out)
	})
	return out, err
}
