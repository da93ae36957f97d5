package rooms

import (
	"slices"
	"unicode/utf8"

	"gorm.io/gorm"

	"parley/auth"
	"parley/files"
	"parley/store"
)

// replyExcerpt is how much of the answered message a reply quotes.
const replyExcerpt = 200

// ReplyJSON is the message a reply answers, as the reply quotes it.
type ReplyJSON struct {
	ID      string        `json:"id"`
	Seq     int64         `json:"seq"`
	Author  auth.UserJSON `json:"author"`
	Body    string        `json:"body"` // at most 200 characters; empty once deleted
	Deleted bool          `json:"deleted,omitempty"`
}

// ReactionJSON is one emoji on a message and who chose it, first first.
type ReactionJSON struct {
	Emoji   string   `json:"emoji"`
	UserIDs []string `json:"user_ids"`
}

func viewReply(m store.Message, author store.User) *ReplyJSON {
	body := m.Body
	if m.Deleted {
		body = ""
	}
	if utf8.RuneCountInString(body) > replyExcerpt {
		body = string([]rune(body)[:replyExcerpt])
	}
	return &ReplyJSON{ID: m.ID, Seq: m.Seq, Author: auth.ViewUser(author), Body: body, Deleted: m.Deleted}
}

// renderMessages shows messages as the API does: with their authors, the
// messages they answer, their reactions and mentions. db is a read handle or
// the write in progress, so a write renders what it is about to commit.
func renderMessages(db *gorm.DB, msgs []store.Message) ([]MessageJSON, error) {
	if len(msgs) == 0 {
		return []MessageJSON{}, nil
	}
	ids := make([]string, 0, len(msgs))
	userIDs := make([]string, 0, len(msgs))
	var replyIDs []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
		userIDs = append(userIDs, m.AuthorID)
		if m.ReplyToID != "" {
			replyIDs = append(replyIDs, m.ReplyToID)
		}
	}
	replies := map[string]store.Message{}
	if len(replyIDs) > 0 {
		var answered []store.Message
		if err := db.Where("id IN ?", replyIDs).Find(&answered).Error; err != nil {
			return nil, err
		}
		for _, m := range answered {
			replies[m.ID] = m
			userIDs = append(userIDs, m.AuthorID)
		}
	}
	var users []store.User
	if err := db.Where("id IN ?", uniq(userIDs)).Find(&users).Error; err != nil {
		return nil, err
	}
	byID := make(map[string]store.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	reactions, err := loadReactions(db, ids)
	if err != nil {
		return nil, err
	}
	mentions, err := loadMentions(db, ids)
	if err != nil {
		return nil, err
	}
	attached, err := files.ForMessages(db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]MessageJSON, len(msgs))
	for i, m := range msgs {
		v := ViewMessage(m, byID[m.AuthorID])
		if r, ok := replies[m.ReplyToID]; ok {
			v.ReplyTo = viewReply(r, byID[r.AuthorID])
		}
		if rs := reactions[m.ID]; rs != nil {
			v.Reactions = rs
		}
		if ms := mentions[m.ID]; ms != nil {
			v.Mentions = ms
		}
		if as := attached[m.ID]; as != nil {
			v.Attachments = as
		}
		out[i] = v
	}
	return out, nil
}

// loadReactions groups the messages' reactions by emoji, in the order each
// emoji was first chosen.
func loadReactions(db *gorm.DB, messageIDs []string) (map[string][]ReactionJSON, error) {
	var rows []store.Reaction
	if err := db.Where("message_id IN ?", messageIDs).Order("created_at, user_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string][]ReactionJSON{}
	for _, r := range rows {
		list := out[r.MessageID]
		i := slices.IndexFunc(list, func(x ReactionJSON) bool { return x.Emoji == r.Emoji })
		if i < 0 {
			list = append(list, ReactionJSON{Emoji: r.Emoji})
			i = len(list) - 1
		}
		list[i].UserIDs = append(list[i].UserIDs, r.UserID)
		out[r.MessageID] = list
	}
	return out, nil
}

func loadMentions(db *gorm.DB, messageIDs []string) (map[string][]string, error) {
	var rows []store.Mention
	if err := db.Where("message_id IN ?", messageIDs).Order("user_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.MessageID] = append(out[r.MessageID], r.UserID)
	}
	return out, nil
}

func uniq(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}
