package rooms

import (
	"context"
	"strings"
	"unicode/utf8"

	"parley/auth"
	"parley/internal/fault"
	"parley/search"
	"parley/store"
)

// MessageIndex keeps a full-text index of messages in step with them. An
// edit or a deletion changes it inside the write that changes the message;
// new messages may be indexed a moment after their commit, but Find always
// sees every message committed before it started.
type MessageIndex interface {
	Index(tx *store.Tx, m store.Message) error         // a deleted message leaves the index
	IndexNew(tx *store.Tx, msgs []store.Message) error // messages just created
	DropRoom(tx *store.Tx, roomID string) error
	Find(ctx context.Context, q search.Query, s search.Scope) ([]store.Message, bool, error)
}

func (s *Service) indexMessage(tx *store.Tx, m store.Message) error {
	if s.index == nil {
		return nil
	}
	return s.index.Index(tx, m)
}

// readable loads a room whose messages the caller may read: a room they
// belong to, or a public room of their tenant (a preview before joining).
func (s *Service) readable(ctx context.Context, p auth.Principal, roomID string) (roomAccess, error) {
	row, err := s.access(ctx, p, roomID, "room.read")
	if fault.Is(err, fault.Forbidden) && row.Visibility == "public" && !p.IsKey() &&
		s.auth.Can(p, "room.join_public") {
		return row, nil
	}
	return row, err
}

// SearchRequest is a search as the API takes it.
type SearchRequest struct {
	Text, RoomID, Before string
	Limit                int
}

// SearchResult is one message found, with where the query matches its body
// ([start, end) in code points).
type SearchResult struct {
	Message    MessageJSON `json:"message"`
	Highlights [][2]int    `json:"highlights"`
}

const (
	defaultSearchLimit = 20
	maxSearchLimit     = 50
)

// Search finds the messages the caller may read now (rooms they belong to
// and public rooms of their tenant, or the one room asked for), newest
// first. next is the cursor of the following page ("" when there is none).
func (s *Service) Search(ctx context.Context, p auth.Principal, in SearchRequest) (results []SearchResult, more bool, next string, err error) {
	if p.IsKey() {
		return nil, false, "", fault.New(fault.Forbidden, "search is a user's; mint a user token with tokens:write")
	}
	if s.index == nil {
		return nil, false, "", fault.New(fault.Unavailable, "search is not set up on this server")
	}
	text := strings.TrimSpace(in.Text)
	if text == "" || utf8.RuneCountInString(text) > search.MaxQuery {
		return nil, false, "", fault.Field("q", "must be 1..200 characters")
	}
	if in.Limit == 0 {
		in.Limit = defaultSearchLimit
	}
	if in.Limit < 1 || in.Limit > maxSearchLimit {
		return nil, false, "", fault.Field("limit", "must be 1..50")
	}
	q, err := search.ParseQuery(text)
	if err != nil {
		return nil, false, "", fault.Field("q", err.Error())
	}
	if in.RoomID != "" {
		if _, err := s.readable(ctx, p, in.RoomID); err != nil {
			return nil, false, "", err
		}
	}
	msgs, more, err := s.index.Find(ctx, q, search.Scope{TenantID: p.TenantID, UserID: p.UserID, RoomID: in.RoomID,
		Before: in.Before, Limit: in.Limit})
	if err != nil {
		return nil, false, "", err
	}
	shown, err := renderMessages(s.st.Read(ctx), msgs)
	if err != nil {
		return nil, false, "", err
	}
	results = make([]SearchResult, len(shown))
	for i, m := range shown {
		results[i] = SearchResult{Message: m, Highlights: q.Highlights(m.Body)}
	}
	if more {
		next = msgs[len(msgs)-1].ID
	}
	return results, more, next, nil
}
