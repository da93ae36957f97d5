package rooms

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// NewMessage is a post. AsUser lets an API key post on behalf of a user;
// ReplyTo names a message of the same room that this one answers.
type NewMessage struct {
	Body, ClientID, AsUser, ReplyTo string
}

func cleanBody(body string) (string, error) {
	body = strings.TrimSpace(body)
	if body == "" {
		return "", fault.Field("body", "must not be empty")
	}
	if utf8.RuneCountInString(body) > maxBody {
		return "", &fault.Error{Kind: fault.TooLarge, Field: "body", Message: "must be at most 4000 characters"}
	}
	return body, nil
}

// Post stores a message and broadcasts it once it is durable. A repeated
// client_id from the same author returns the first message (created=false).
func (s *Service) Post(ctx context.Context, p auth.Principal, roomID string, in NewMessage) (MessageJSON, bool, error) {
	body, err := cleanBody(in.Body)
	if err != nil {
		return MessageJSON{}, false, err
	}
	if utf8.RuneCountInString(in.ClientID) > maxClientID {
		return MessageJSON{}, false, fault.Field("client_id", "must be at most 64 characters")
	}
	row, err := s.access(ctx, p, roomID, "message.post")
	if err != nil {
		return MessageJSON{}, false, err
	}
	authorID := p.UserID
	switch {
	case in.AsUser != "" && !p.IsKey():
		return MessageJSON{}, false, fault.Field("as_user", "only an API key may post as another user")
	case in.AsUser != "":
		authorID = in.AsUser
	case p.IsKey():
		authorID = p.KeyID // the key's bot user
	}
	if row.Archived {
		return MessageJSON{}, false, fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	author, err := s.author(ctx, p, roomID, authorID, in.AsUser != "")
	if err != nil {
		return MessageJSON{}, false, err
	}
	// A plain member posts because of their membership: the write checks it
	// again, so no post of theirs commits after their removal has.
	asMember := in.AsUser != "" || (!p.IsKey() && row.MyRole != "" && p.Role == auth.RoleMember)
	var reply *ReplyJSON
	if in.ReplyTo != "" {
		if reply, err = s.replyTarget(ctx, p.TenantID, roomID, in.ReplyTo); err != nil {
			return MessageJSON{}, false, err
		}
	}
	var out MessageJSON
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if in.AsUser != "" {
			// Checked again in the write: the user may have been disabled or
			// promoted since.
			var active int
			err := tx.QueryRowPrepared(`SELECT COUNT(*) FROM users WHERE id = ? AND NOT disabled AND role = ?`,
				authorID, auth.RoleMember).Scan(&active)
			if err != nil {
				return err
			}
			if active == 0 {
				return fault.New(fault.Forbidden, "as_user is not an active member of this room, or no longer a plain member")
			}
		}
		now := s.now()
		var seq int64
		err := tx.QueryRowPrepared(`UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = ?
			WHERE id = ? AND archived = FALSE RETURNING last_seq`, now, roomID).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.New(fault.Forbidden, "this room is archived or gone")
		}
		if err != nil {
			return err
		}
		// What you post, you have read.
		member, err := markPostRead(tx, roomID, authorID, seq)
		if err != nil {
			return err
		}
		if asMember && !member {
			return fault.New(fault.Forbidden, "you are no longer a member of this room")
		}
		msg := store.Message{ID: newID(), TenantID: p.TenantID, RoomID: roomID, Seq: seq, AuthorID: authorID,
			Body: body, ClientID: in.ClientID, CreatedAt: now, ReplyToID: in.ReplyTo}
		if _, err := tx.ExecPrepared(`INSERT INTO messages(id, tenant_id, room_id, seq, author_id, body, client_id, created_at, deleted, reply_to_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?)`, msg.ID, msg.TenantID, msg.RoomID, msg.Seq, msg.AuthorID, msg.Body, msg.ClientID, msg.CreatedAt, msg.ReplyToID); err != nil {
			if in.ClientID != "" && store.IsUniqueViolation(err) {
				// A retry: the unique index finds the first message, so a new post
				// costs no lookup. This job's changes roll back with its savepoint.
				return errSameClientID
			}
			return err
		}
		out = ViewMessage(msg, author)
		out.ReplyTo = reply
		if out.Mentions, err = s.storeMentions(tx, msg); err != nil {
			return err
		}
		if err := s.indexMessage(tx, msg); err != nil {
			return err
		}
		if s.notifier != nil {
			posted := out
			tx.AfterCommit(func() { s.notifier.MessageCreated(p.TenantID, posted) })
		}
		return s.emitMessage(tx, EvMessageCreated, p.TenantID, out)
	})
	if errors.Is(err, errSameClientID) {
		first, _, err := s.byClientID(ctx, roomID, authorID, in.ClientID)
		if err != nil {
			return MessageJSON{}, false, err
		}
		shown, err := renderMessages(s.st.Read(ctx), []store.Message{first})
		if err != nil {
			return MessageJSON{}, false, err
		}
		return shown[0], false, nil
	}
	return out, err == nil, err
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

var errSameClientID = errors.New("a message with this client_id exists")

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

// byClientID finds the author's message with this client_id, if any.
func (s *Service) byClientID(ctx context.Context, roomID, authorID, clientID string) (store.Message, bool, error) {
	var m store.Message
	if clientID == "" {
		return m, false, nil
	}
	// "client_id <> ''" lets SQLite use the partial index messages_client_id.
	err := s.st.Read(ctx).Where("room_id = ? AND author_id = ? AND client_id = ? AND client_id <> ''", roomID, authorID, clientID).Take(&m).Error
	if store.IsNotFound(err) {
		return m, false, nil
	}
	return m, err == nil, err
}

func (s *Service) emitMessage(tx *store.Tx, name, tenantID string, m MessageJSON) error {
	payload := mustJSON(messagePayload{RoomID: m.RoomID, Message: m})
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
	body, err := cleanBody(body)
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
	if _, err := s.access(ctx, p, roomID, "room.read"); err != nil {
		return err
	}
	mayAny := s.auth.Can(p, auth.RoomObject(roomID), "message.delete_any")
	_, err := s.changeMessage(ctx, p, roomID, messageID, func(m *store.Message) error {
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
			// A tombstone keeps nothing: no reactions, and it mentions nobody.
			if err := tx.Where("message_id = ?", m.ID).Delete(&store.Reaction{}).Error; err != nil {
				return err
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
