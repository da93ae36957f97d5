package rooms

import (
	"context"
	"regexp"
	"strings"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// maxMentionNames bounds how many different @names of one message are looked up.
const maxMentionNames = 50

// mentionPattern finds @username (the username syntax of auth) where the @
// does not continue a word or an address (bob@example.com names nobody).
var mentionPattern = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]{3,32})`)

// mentionNames returns the lower-cased usernames a body names. A name ending
// in "." or "-" is also tried without it: "thanks @bob." names bob.
func mentionNames(body string) []string {
	if !strings.Contains(body, "@") {
		return nil
	}
	var names []string
	for _, m := range mentionPattern.FindAllStringSubmatch(body, -1) {
		name := strings.ToLower(m[1])
		names = append(names, name)
		if trimmed := strings.TrimRight(name, ".-"); trimmed != name && len(trimmed) >= 3 {
			names = append(names, trimmed)
		}
	}
	names = uniq(names)
	if len(names) > maxMentionNames {
		names = names[:maxMentionNames]
	}
	return names
}

// storeMentions records which members of the room the message names, inside
// the write that stores the message, and returns their ids. Names of people
// outside the room match nobody, so a mention reveals nothing about them.
// The author naming themself is no mention.
func (s *Service) storeMentions(tx *store.Tx, m store.Message) ([]string, error) {
	names := mentionNames(m.Body)
	if m.Deleted || len(names) == 0 {
		return []string{}, nil
	}
	var ids []string
	err := tx.Raw(`SELECT users.id FROM room_members JOIN users ON users.id = room_members.user_id
		WHERE room_members.room_id = ? AND LOWER(users.username) IN ? AND users.id <> ? ORDER BY users.id`,
		m.RoomID, names, m.AuthorID).Scan(&ids).Error
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := tx.Create(&store.Mention{MessageID: m.ID, UserID: id, RoomID: m.RoomID, Seq: m.Seq}).Error; err != nil {
			return nil, err
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// Mentions lists the messages that mention the caller in rooms they still
// belong to, newest first: up to limit of them before the message before
// ("" for the newest), and whether there are more.
func (s *Service) Mentions(ctx context.Context, p auth.Principal, before string, limit int) ([]MessageJSON, bool, error) {
	if p.IsKey() {
		return nil, false, fault.New(fault.Forbidden, "mentions are a user's; mint a user token with tokens:write")
	}
	if limit < 1 || limit > maxLimit {
		return nil, false, fault.Field("limit", "must be 1..200")
	}
	db := s.st.Read(ctx).Table("message_mentions mm").Select("messages.*").
		Joins("JOIN messages ON messages.id = mm.message_id").
		Joins("JOIN room_members me ON me.room_id = mm.room_id AND me.user_id = mm.user_id").
		Where("mm.user_id = ? AND messages.tenant_id = ? AND messages.deleted = ?", p.UserID, p.TenantID, false)
	if before != "" {
		// Message ids are UUIDv7: they sort in the order messages were made.
		db = db.Where("messages.id < ?", before)
	}
	var msgs []store.Message
	if err := db.Order("messages.id DESC").Limit(limit + 1).Find(&msgs).Error; err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	out, err := renderMessages(s.st.Read(ctx), msgs)
	return out, more, err
}
