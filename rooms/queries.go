package rooms

import (
	"context"

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

// markPostRead moves the author's read marker to the message they posted. It
// reports whether the author is (still) a member: inside the write, so a
// removal committed meanwhile is seen.
func markPostRead(tx *store.Tx, roomID, authorID string, seq int64) (bool, error) {
	res, err := tx.ExecPrepared(`UPDATE room_members SET last_read_seq = ? WHERE room_id = ? AND user_id = ?`,
		seq, roomID, authorID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// roomInWrite reads a room of the tenant inside a write (for what the cached
// roomMeta leaves out, such as its name).
func roomInWrite(tx *store.Tx, tenantID, roomID string) (store.Room, error) {
	var r store.Room
	err := tx.Where("id = ? AND tenant_id = ?", roomID, tenantID).Take(&r).Error
	return r, store.NotFound(err, "room")
}
