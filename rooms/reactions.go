package rooms

import (
	"context"

	"github.com/rivo/uniseg"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

const (
	maxEmojiBytes        = 64 // the longest emoji sequences (flags of regions, families) are about 30
	maxDistinctReactions = 20 // different emoji on one message
	maxReactionsPerUser  = 10 // emoji one person puts on one message
)

// checkEmoji accepts exactly one emoji: one grapheme cluster (a flag, a
// family, a skin tone or a keycap is one) that starts with an emoji.
func checkEmoji(s string) error {
	bad := fault.Field("emoji", "must be a single emoji")
	if s == "" || len(s) > maxEmojiBytes || uniseg.GraphemeClusterCount(s) != 1 {
		return bad
	}
	r := []rune(s)
	if isEmojiRune(r[0]) || (len(r) > 1 && isKeycap(r)) {
		return nil
	}
	return bad
}

// isEmojiRune reports whether r is in the blocks where emoji live.
func isEmojiRune(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, transport, flags (regional indicators), symbols
		r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
		r >= 0x2300 && r <= 0x23FF, // technical (⌚ ⏰)
		r >= 0x2B00 && r <= 0x2BFF, // arrows (⭐ ⬆)
		r >= 0x2190 && r <= 0x21FF, // arrows (↩)
		r >= 0x25A0 && r <= 0x25FF, // geometric shapes (▶ ◻)
		r == 0x00A9, r == 0x00AE, r == 0x203C, r == 0x2049, r == 0x2122, r == 0x2139,
		r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
		return true
	}
	return false
}

// isKeycap matches 1️⃣, #️⃣ and the like.
func isKeycap(r []rune) bool {
	last := r[len(r)-1]
	return last == 0x20E3 && (r[0] == '#' || r[0] == '*' || (r[0] >= '0' && r[0] <= '9'))
}

// React adds (add=true) or removes the caller's emoji on a message. Both are
// idempotent: only a change is stored and sent as an event.
func (s *Service) React(ctx context.Context, p auth.Principal, roomID, messageID, emoji string, add bool) error {
	if err := checkEmoji(emoji); err != nil {
		return err
	}
	row, err := s.access(ctx, p, roomID, "message.post")
	if err != nil {
		return err
	}
	if row.Archived {
		return fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	userID := p.Subject()
	return s.st.Write(ctx, func(tx *store.Tx) error {
		var m store.Message
		if err := tx.Where("id = ? AND room_id = ? AND tenant_id = ?", messageID, roomID, p.TenantID).Take(&m).Error; err != nil {
			return store.NotFound(err, "message")
		}
		if m.Deleted {
			return fault.New(fault.Conflict, "the message is deleted")
		}
		mine := tx.Where("message_id = ? AND emoji = ? AND user_id = ?", m.ID, emoji, userID)
		var changed int64
		if add {
			res := tx.Exec(`INSERT INTO message_reactions(message_id, emoji, user_id, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, m.ID, emoji, userID, s.now())
			if res.Error != nil {
				return res.Error
			}
			changed = res.RowsAffected
			if changed > 0 {
				if err := checkReactionLimits(tx, m.ID, userID); err != nil {
					return err
				}
			}
		} else {
			res := mine.Delete(&store.Reaction{})
			if res.Error != nil {
				return res.Error
			}
			changed = res.RowsAffected
		}
		if changed == 0 {
			return nil
		}
		name := EvReactionAdded
		if !add {
			name = EvReactionGone
		}
		payload := string(mustJSON(reactionPayload{RoomID: roomID, MessageID: m.ID, Emoji: emoji, UserID: userID}))
		_, err := s.emit(tx, &store.Event{TenantID: p.TenantID, RoomID: roomID, Type: name, Payload: payload}, nil, "")
		return err
	})
}

// checkReactionLimits refuses the reaction just added (the write rolls back)
// when it makes one too many on the message.
func checkReactionLimits(tx *store.Tx, messageID, userID string) error {
	var distinct, mine int64
	if err := tx.Model(&store.Reaction{}).Where("message_id = ?", messageID).Distinct("emoji").Count(&distinct).Error; err != nil {
		return err
	}
	if distinct > maxDistinctReactions {
		return fault.New(fault.Conflict, "this message already has 20 different reactions")
	}
	if err := tx.Model(&store.Reaction{}).Where("message_id = ? AND user_id = ?", messageID, userID).Count(&mine).Error; err != nil {
		return err
	}
	if mine > maxReactionsPerUser {
		return fault.New(fault.Conflict, "you already have 10 reactions on this message")
	}
	return nil
}
