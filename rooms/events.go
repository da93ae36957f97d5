package rooms

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"parley/auth"
	"parley/files"
	"parley/store"
)

// Event names, as they appear on the wire.
const (
	EvMessageCreated = "message.created"
	EvMessageUpdated = "message.updated"
	EvMessageDeleted = "message.deleted"
	EvRoomUpdated    = "room.updated"
	EvRoomDeleted    = "room.deleted"
	EvMemberJoined   = "member.joined"
	EvMemberLeft     = "member.left"
	EvRoomLeft       = "room.left"
	EvTokenExpired   = "token.expired"
	EvResync         = "resync"
	EvReactionAdded  = "reaction.added"
	EvReactionGone   = "reaction.removed"

	// Ephemeral events: never stored, never replayed, ID 0.
	EvTyping      = "typing"
	EvPresence    = "presence"
	EvRead        = "read"
	EvUserUpdated = "user.updated" // to the user themself: their role or name changed

	// Revocations: logged, so that every node applies them in commit order
	// even if a bus message is lost, but never sent to a client (they name no
	// room and no target user, so no replay selects them).
	EvSessionRevoked = "session.revoked" // the login's streams end
	EvUserDisabled   = "user.disabled"   // the user's streams end

	// The cache keys a commit changed (PostgreSQL): logged so that every
	// node forgets them in commit order; never sent to a client.
	EvInvalidated = store.EventInvalidated
)

// Event is one committed event, ready to send: its SSE frame is encoded once
// and shared by every subscriber. Every field is plain data, so that a bus can
// carry events between nodes.
type Event struct {
	ID           int64 // the stream cursor; 0 for ephemeral events
	RoomID       string
	Type         string
	TargetUserID string // only this user receives it (room.left; room.deleted in the log); with no RoomID, all their streams
	MemberID     string // member.joined: the user who joined, so live streams can follow
	// RoomIDs sends an ephemeral event once to every stream following any of
	// these rooms (presence: everyone who shares a room with the user).
	RoomIDs    []string
	SkipUserID string   // not to this user's streams (typing: not back to the typist)
	SessionID  string   // session.revoked: the login whose streams end
	UserID     string   // user.disabled: the user whose streams end
	Keys       []string `json:",omitempty"` // cache.invalidated: the cache keys to forget
	Frame      []byte
}

// MessageJSON is a message as the API shows it.
type MessageJSON struct {
	ID        string         `json:"id"`
	RoomID    string         `json:"room_id"`
	Seq       int64          `json:"seq"`
	Author    auth.UserJSON  `json:"author"`
	Body      string         `json:"body"`
	ClientID  string         `json:"client_id"`
	CreatedAt time.Time      `json:"created_at"`
	EditedAt  *time.Time     `json:"edited_at,omitempty"`
	Deleted   bool           `json:"deleted,omitempty"`
	ReplyTo   *ReplyJSON     `json:"reply_to,omitempty"`
	Mentions  []string       `json:"mentions"` // user ids of the room members it names with @username
	Reactions []ReactionJSON `json:"reactions"`
	// Attachments are the message's files (none once it is deleted).
	Attachments []files.AttachmentJSON `json:"attachments"`

	// encoded is this message's JSON when it was just encoded for its event
	// (a new post), so that the answer sends the same bytes; nil otherwise.
	encoded []byte
}

// Encoded returns the message's JSON as its event carries it, if it was
// encoded for one just now (a new post), else nil: the answer to a post
// sends these bytes rather than encoding the message a second time.
func (m MessageJSON) Encoded() []byte { return m.encoded }

// encodeMessage encodes m and keeps the bytes with it (Encoded).
func encodeMessage(m *MessageJSON) []byte {
	m.encoded = mustJSON(m)
	return m.encoded
}

// ViewMessage renders a message with its author.
func ViewMessage(m store.Message, author store.User) MessageJSON {
	out := MessageJSON{ID: m.ID, RoomID: m.RoomID, Seq: m.Seq, Author: auth.ViewUser(author), Body: m.Body,
		ClientID: m.ClientID, CreatedAt: m.CreatedAt.UTC(), Deleted: m.Deleted, Mentions: []string{}, Reactions: []ReactionJSON{},
		Attachments: []files.AttachmentJSON{}}
	if m.EditedAt != nil {
		t := m.EditedAt.UTC()
		out.EditedAt = &t
	}
	return out
}

// RoomJSON is a room as the API shows it; MyRole, Unread, Notifications and,
// for a direct message, Name and Peer are the caller's.
type RoomJSON struct {
	ID             string       `json:"id"`
	Kind           string       `json:"kind"`
	Name           string       `json:"name"`
	Topic          string       `json:"topic"`
	Visibility     string       `json:"visibility"`
	Archived       bool         `json:"archived"`
	CreatedAt      time.Time    `json:"created_at"`
	MemberCount    int64        `json:"member_count"`
	MyRole         string       `json:"my_role"`
	LastSeq        int64        `json:"last_seq"`
	Unread         int64        `json:"unread"`
	MentionCount   int64        `json:"mention_count"` // unread messages that mention me
	LastActivityAt time.Time    `json:"last_activity_at"`
	Peer           *PeerJSON    `json:"peer,omitempty"`
	LastMessage    *MessageJSON `json:"last_message"`
	Notifications  string       `json:"notifications,omitempty"`
}

// PeerJSON is the other person of a direct message, and whether they are online.
type PeerJSON struct {
	auth.UserJSON
	Online bool `json:"online"`
}

// messagePayload is the data of a message event, {"room_id":…,"message":…},
// put together around the message's own JSON (msg), which a post's answer
// then reuses: a new message is encoded once.
func messagePayload(roomID string, msg []byte) []byte {
	b := make([]byte, 0, len(`{"room_id":"","message":}`)+len(roomID)+len(msg))
	b = append(b, `{"room_id":`...)
	b = appendJSONString(b, roomID)
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes it: a plain id as it
// is, in quotes; anything to escape through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return append(b, mustJSON(s)...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

type reactionPayload struct {
	RoomID    string `json:"room_id"`
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
	UserID    string `json:"user_id"`
}

type roomPayload struct {
	Room RoomJSON `json:"room"`
}

type gonePayload struct {
	RoomID string `json:"room_id"`
	Reason string `json:"reason"`
}

type typingPayload struct {
	RoomID string        `json:"room_id"`
	User   auth.UserJSON `json:"user"`
}

type presencePayload struct {
	UserID string `json:"user_id"`
	Online bool   `json:"online"`
}

type readPayload struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
	Seq    int64  `json:"seq"`
}

type revokedPayload struct {
	UserID    string `json:"user_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

type userPayload struct {
	User auth.UserJSON `json:"user"`
}

// ephemeral builds an event that is sent once to live streams and never stored.
func ephemeral(name string, payload any) *Event {
	return &Event{Type: name, Frame: encodeFrame(0, name, mustJSON(payload))}
}

type memberPayload struct {
	RoomID string        `json:"room_id"`
	User   auth.UserJSON `json:"user"`
	Role   string        `json:"role"`
}

// encodeFrame writes one SSE event. Whatever it is given, the frame parses
// back as exactly this one event: a line break in the name is dropped, and
// each line of the payload gets its own data: line (a client joins them with
// "\n"), so no input can end the frame early or start a forged one. Our JSON
// payloads hold no raw line break and take the single-line path.
func encodeFrame(id int64, name string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payload) + len(name) + 40)
	if id > 0 {
		b.WriteString("id: ")
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('\n')
	}
	b.WriteString("event: ")
	if strings.ContainsAny(name, "\r\n") {
		name = strings.NewReplacer("\r", "", "\n", "").Replace(name)
	}
	b.WriteString(name)
	b.WriteByte('\n')
	for {
		line, rest, found := cutLine(payload)
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
		if !found {
			break
		}
		payload = rest
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// cutLine splits p at its first line break, which SSE spells CRLF, LF or CR.
func cutLine(p []byte) (line, rest []byte, found bool) {
	i := bytes.IndexAny(p, "\r\n")
	if i < 0 {
		return p, nil, false
	}
	if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
		return p[:i], p[i+2:], true
	}
	return p[:i], p[i+1:], true
}

// TokenExpiredFrame returns the frame that ends a stream whose token expired.
func TokenExpiredFrame() []byte { return encodeFrame(0, EvTokenExpired, []byte("{}")) }

// resyncFrame tells a client too far behind to reload its rooms and history
// instead of receiving every missed event; it continues from cursor.
func resyncFrame(cursor int64) []byte {
	return encodeFrame(cursor, EvResync, []byte(`{"reason":"backlog"}`))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are encoded
	}
	return b
}
