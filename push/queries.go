package push

import (
	"context"
	"time"

	"parley/store"
)

// The push domain's queries.

type memberLevel struct {
	UserID        string
	Notifications string
}

// membersToNotify are a room's enabled members other than the author, with
// their notification level.
func membersToNotify(ctx context.Context, st *store.Store, roomID, authorID string) ([]memberLevel, error) {
	var out []memberLevel
	err := st.Read(ctx).Table("room_members").Select("room_members.user_id, room_members.notifications").
		Joins("JOIN users ON users.id = room_members.user_id").
		Where("room_members.room_id = ? AND room_members.user_id <> ? AND users.disabled = ?", roomID, authorID, false).
		Find(&out).Error
	return out, err
}

// liveSubscriptions are the users' subscriptions whose login is still live.
func liveSubscriptions(ctx context.Context, st *store.Store, userIDs []string, now time.Time) ([]store.PushSubscription, error) {
	var out []store.PushSubscription
	err := st.Read(ctx).Table("push_subscriptions").Select("push_subscriptions.*").
		Joins("JOIN sessions ON sessions.id = push_subscriptions.session_id AND sessions.revoked_at IS NULL AND sessions.expires_at > ?", now).
		Where("push_subscriptions.user_id IN ?", userIDs).Find(&out).Error
	return out, err
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
