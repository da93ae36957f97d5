package push

import (
	"context"
	"time"

	"parley/store"
)

// The push domain's queries.

// candidate is a live push subscription of a room member, with the member's
// notification level for the room.
type candidate struct {
	store.PushSubscription
	Notifications string
}

// tenantKey is the cache key of whether a tenant has push subscriptions.
func tenantKey(tenantID string) string { return "push:" + tenantID }

// anySubscription says whether the tenant has a push subscription at all.
func anySubscription(ctx context.Context, st *store.Store, tenantID string) (bool, error) {
	rows, err := st.Read(ctx).Raw(`SELECT 1 FROM push_subscriptions WHERE tenant_id = ? LIMIT 1`, tenantID).Rows()
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
}

// candidates are the live subscriptions (their login not revoked or expired)
// of the room's enabled members. One query, driven by the subscriptions,
// which are few: it runs for each group of messages posted to the room
// (read through rows: gorm's Scan would trace and explain every call).
func candidates(ctx context.Context, st *store.Store, roomID string, now time.Time) ([]candidate, error) {
	rows, err := st.Read(ctx).Raw(`SELECT ps.id, ps.tenant_id, ps.user_id, ps.session_id, ps.endpoint, ps.p256dh, ps.auth,
		ps.created_at, rm.notifications FROM push_subscriptions ps
		JOIN room_members rm ON rm.user_id = ps.user_id AND rm.room_id = ?
		JOIN sessions s ON s.id = ps.session_id AND s.revoked_at IS NULL AND s.expires_at > ?
		JOIN users u ON u.id = ps.user_id AND u.disabled = ?`, roomID, now, false).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.ID, &c.TenantID, &c.UserID, &c.SessionID, &c.Endpoint, &c.P256dh, &c.Auth,
			&c.CreatedAt, &c.Notifications); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type roomInfo struct {
	Name, Kind string
}

func roomOf(ctx context.Context, st *store.Store, roomID string) (roomInfo, error) {
	var r store.Room
	err := st.Read(ctx).Select("name", "kind").Where("id = ?", roomID).Take(&r).Error
	return roomInfo{Name: r.Name, Kind: r.Kind}, err
}

// insertSubscription stores a subscription, taking its endpoint over from any
// earlier registration and keeping the user within max (oldest go first).
func insertSubscription(tx *store.Tx, sub store.PushSubscription, max int) error {
	if err := tx.Where("endpoint = ?", sub.Endpoint).Delete(&store.PushSubscription{}).Error; err != nil {
		return err
	}
	if max > 0 {
		var old []string
		if err := tx.Model(&store.PushSubscription{}).Where("user_id = ?", sub.UserID).
			Order("created_at DESC, id DESC").Limit(1000).Offset(max-1).Pluck("id", &old).Error; err != nil {
			return err
		}
		if len(old) > 0 {
			if err := tx.Where("id IN ?", old).Delete(&store.PushSubscription{}).Error; err != nil {
				return err
			}
		}
	}
	tx.Invalidate(tenantKey(sub.TenantID))
	return tx.Create(&sub).Error
}

func deleteSubscription(tx *store.Tx, id string) error {
	return tx.Where("id = ?", id).Delete(&store.PushSubscription{}).Error
}

func deleteUsersSubscription(tx *store.Tx, userID, id string) (int64, error) {
	res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&store.PushSubscription{})
	return res.RowsAffected, res.Error
}

func deleteSessionsSubscriptions(tx *store.Tx, userID string, sessionIDs []string) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	return tx.Where("user_id = ? AND session_id IN ?", userID, sessionIDs).Delete(&store.PushSubscription{}).Error
}
