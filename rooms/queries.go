package rooms

import (
	"context"
	"fmt"
	"strings"

	"parley/auth"
	"parley/files"
	"parley/internal/fault"
	"parley/store"
)

// What access checks read on every request (a room's tenant, visibility and
// archived flag, and the caller's role in it), read through the store's
// cache. Every write of these rows names its key with store.Tx.Invalidate,
// so the cache is never stale; see store.Cache.

// Cache keys of room rows.
func roomKey(roomID string) string           { return "room:" + roomID }
func memberKey(roomID, userID string) string { return "member:" + roomID + "/" + userID }

// roomMeta is the part of a room that access checks need. It leaves out
// last_seq and last_activity_at, which every post changes.
type roomMeta struct {
	ID, TenantID, Visibility, Kind string
	Archived                       bool
}

// roomMetaByID returns the room, if it exists.
func (s *Service) roomMetaByID(ctx context.Context, roomID string) (roomMeta, bool, error) {
	return store.CachedRow(s.st.Cache(), roomKey(roomID), func() (roomMeta, error) {
		var r store.Room
		err := s.st.Read(ctx).Select("id", "tenant_id", "visibility", "kind", "archived").Where("id = ?", roomID).Take(&r).Error
		return roomMeta{ID: r.ID, TenantID: r.TenantID, Visibility: r.Visibility, Kind: r.Kind, Archived: r.Archived}, err
	})
}

// memberRole returns the user's role in the room, "" if not a member. Both
// answers are cached: adding a member invalidates the key as removing does.
func (s *Service) memberRole(ctx context.Context, roomID, userID string) (string, error) {
	return store.Cached(s.st.Cache(), memberKey(roomID, userID), func() (string, bool, error) {
		var roles []string
		err := s.st.Read(ctx).Model(&store.RoomMember{}).Where("room_id = ? AND user_id = ?", roomID, userID).
			Limit(1).Pluck("role", &roles).Error
		if err != nil || len(roles) == 0 {
			return "", err == nil, err
		}
		return roles[0], true, nil
	})
}

// upsertMember adds a member or changes their role.
func upsertMember(tx *store.Tx, m store.RoomMember) error {
	err := tx.Exec(`INSERT INTO room_members(room_id, user_id, tenant_id, role, last_read_seq, joined_at)
		VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT(room_id, user_id) DO UPDATE SET role = excluded.role`,
		m.RoomID, m.UserID, m.TenantID, m.Role, m.JoinedAt).Error
	if err == nil {
		tx.Invalidate(memberKey(m.RoomID, m.UserID))
	}
	return err
}

// deleteMember takes a user out of a room.
func deleteMember(tx *store.Tx, roomID, userID string) error {
	err := tx.Where("room_id = ? AND user_id = ?", roomID, userID).Delete(&store.RoomMember{}).Error
	if err == nil {
		tx.Invalidate(memberKey(roomID, userID))
	}
	return err
}

// The statements of posting, each written for a whole group of messages.

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// findRetries marks drafts whose author already used their client_id in
// this room: in an earlier write (firstID) or earlier in this group (sameAs).
func findRetries(tx *store.Tx, roomID string, drafts []*draft) error {
	var terms []string
	var args []any
	firsts := map[[2]string]*draft{}
	for _, d := range drafts {
		if d.clientID == "" {
			continue
		}
		k := [2]string{d.author.ID, d.clientID}
		if first, ok := firsts[k]; ok {
			d.sameAs = first
			continue
		}
		firsts[k] = d
		// Whole terms, so that SQLite probes the partial unique index per term.
		terms = append(terms, "(room_id = ? AND author_id = ? AND client_id = ? AND client_id <> '')")
		args = append(args, roomID, d.author.ID, d.clientID)
	}
	if len(terms) == 0 {
		return nil
	}
	rows, err := tx.QueryPrepared(`SELECT id, author_id, client_id FROM messages WHERE `+strings.Join(terms, " OR "), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var k [2]string
		if err := rows.Scan(&id, &k[0], &k[1]); err != nil {
			return err
		}
		if d := firsts[k]; d != nil {
			d.firstID = id
		}
	}
	return rows.Err()
}

// checkAuthors refuses the drafts whose author may no longer post here,
// as the write sees it: a member removed meanwhile, an as_user disabled or
// promoted meanwhile.
func checkAuthors(tx *store.Tx, roomID string, drafts []*draft) error {
	var members, behalf []any
	for _, d := range drafts {
		if d.asMember {
			members = append(members, d.author.ID)
		}
		if d.onBehalf {
			behalf = append(behalf, d.author.ID)
		}
	}
	stillMember, err := idSet(tx, `SELECT user_id FROM room_members WHERE room_id = ? AND user_id IN (%s)`, []any{roomID}, members)
	if err != nil {
		return err
	}
	stillActive, err := idSet(tx, `SELECT id FROM users WHERE NOT disabled AND role = ? AND id IN (%s)`, []any{auth.RoleMember}, behalf)
	if err != nil {
		return err
	}
	for _, d := range drafts {
		switch {
		case d.onBehalf && (!stillMember[d.author.ID] || !stillActive[d.author.ID]):
			d.refused = &fault.Error{Kind: fault.Forbidden, Field: "as_user",
				Message: "as_user is not an active member of this room, or no longer a plain member"}
		case d.asMember && !stillMember[d.author.ID]:
			d.refused = fault.New(fault.Forbidden, "you are no longer a member of this room")
		}
	}
	return nil
}

// idSet runs query (with %s for the ids' placeholders) and returns the ids it
// selects; nothing when ids is empty.
func idSet(tx *store.Tx, query string, args, ids []any) (map[string]bool, error) {
	set := map[string]bool{}
	if len(ids) == 0 {
		return set, nil
	}
	rows, err := tx.QueryPrepared(fmt.Sprintf(query, placeholders(len(ids))), append(args, ids...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		set[id] = true
	}
	return set, rows.Err()
}

// insertMessages stores new messages with one statement.
func insertMessages(tx *store.Tx, msgs []store.Message) error {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?)"
	args := make([]any, 0, 9*len(msgs))
	for _, m := range msgs {
		args = append(args, m.ID, m.TenantID, m.RoomID, m.Seq, m.AuthorID, m.Body, m.ClientID, m.CreatedAt, m.ReplyToID)
	}
	_, err := tx.ExecPrepared(`INSERT INTO messages(id, tenant_id, room_id, seq, author_id, body, client_id, created_at, deleted, reply_to_id)
		VALUES `+strings.TrimSuffix(strings.Repeat(row+", ", len(msgs)), ", "), args...)
	return err
}

// markPostsRead moves each author's read marker to the last message they
// posted (what you post, you have read), with one statement.
func markPostsRead(tx *store.Tx, roomID string, msgs []store.Message) error {
	last := map[string]int64{}
	var order []string
	for _, m := range msgs {
		if _, ok := last[m.AuthorID]; !ok {
			order = append(order, m.AuthorID)
		}
		last[m.AuthorID] = m.Seq
	}
	var cases strings.Builder
	args := make([]any, 0, 3*len(order)+1)
	for _, id := range order {
		cases.WriteString(" WHEN ? THEN ?")
		args = append(args, id, last[id])
	}
	args = append(args, roomID)
	for _, id := range order {
		args = append(args, id)
	}
	_, err := tx.ExecPrepared(`UPDATE room_members SET last_read_seq = CASE user_id`+cases.String()+` ELSE last_read_seq END
		WHERE room_id = ? AND user_id IN (`+placeholders(len(order))+`)`, args...)
	return err
}

// roomInWrite reads a room of the tenant inside a write (for what the cached
// roomMeta leaves out, such as its name).
func roomInWrite(tx *store.Tx, tenantID, roomID string) (store.Room, error) {
	var r store.Room
	err := tx.Where("id = ? AND tenant_id = ?", roomID, tenantID).Take(&r).Error
	return r, store.NotFound(err, "room")
}

// checkFiles refuses the drafts whose uploads are no longer waiting for a
// message, as the write sees them (sent meanwhile, expired), or that name
// an upload another draft of this write takes.
func checkFiles(tx *store.Tx, roomID string, drafts []*draft) error {
	taken := map[string]bool{}
	for _, d := range drafts {
		if len(d.files) == 0 || d.refused != nil || d.firstID != "" || d.sameAs != nil {
			continue
		}
		ok, err := files.Waiting(tx.DB, roomID, d.uploader, d.files)
		if err != nil {
			return err
		}
		for _, id := range d.files {
			ok = ok && !taken[id]
		}
		if !ok {
			d.refused = files.NotWaiting()
			continue
		}
		for _, id := range d.files {
			taken[id] = true
		}
	}
	return nil
}
