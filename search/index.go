package search

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"parley/store"
)

// Index is the full-text index of messages, in the database's own dialect
// (rooms.MessageIndex). Its writes run inside the write that changes the
// message, so the index never disagrees with the messages.
type Index interface {
	Index(tx *store.Tx, m store.Message) error
	IndexNew(tx *store.Tx, msgs []store.Message) error
	DropRoom(tx *store.Tx, roomID string) error
	Find(ctx context.Context, q Query, s Scope) ([]store.Message, bool, error)
	Close(ctx context.Context) error // before the store closes
}

// Open opens the index of the store's database, creating it (and filling it
// with the messages already stored) on first use.
func Open(ctx context.Context, st *store.Store) (Index, error) {
	if st.Postgres() {
		return OpenPostgres(ctx, st)
	}
	return OpenSQLite(ctx, st)
}

// Scope is whose messages a search may find.
type Scope struct {
	TenantID, UserID string
	RoomID           string // "": every room the user may read
	Before           string // only messages older than this one (ids are time-ordered)
	Limit            int
}

// readable narrows matches (a query that joins "messages") to the messages
// the user may read now: the rooms they belong to and the tenant's public
// rooms, never another tenant's. It returns them newest first, and whether
// there are more.
func readable(db *gorm.DB, s Scope) ([]store.Message, bool, error) {
	db = db.Select("messages.*").
		Joins("JOIN rooms ON rooms.id = messages.room_id").
		Joins("LEFT JOIN room_members me ON me.room_id = messages.room_id AND me.user_id = ?", s.UserID).
		Where("messages.tenant_id = ? AND messages.deleted = ?", s.TenantID, false).
		Where("(me.user_id IS NOT NULL OR rooms.visibility = 'public')")
	if s.RoomID != "" {
		db = db.Where("messages.room_id = ?", s.RoomID)
	}
	if s.Before != "" {
		db = db.Where("messages.id < ?", s.Before)
	}
	var msgs []store.Message
	if err := db.Order("messages.id DESC").Limit(s.Limit + 1).Find(&msgs).Error; err != nil {
		return nil, false, err
	}
	more := len(msgs) > s.Limit
	if more {
		msgs = msgs[:s.Limit]
	}
	return msgs, more, nil
}

// backfill indexes the messages stored before the index existed.
func backfill(ctx context.Context, st *store.Store, index func(*store.Tx, store.Message) error) error {
	for after := ""; ; {
		var page []store.Message
		if err := st.Read(ctx).Where("id > ? AND deleted = ?", after, false).Order("id").Limit(backfillPage).Find(&page).Error; err != nil {
			return fmt.Errorf("read messages to index: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		err := st.Write(ctx, func(tx *store.Tx) error {
			for _, m := range page {
				if err := index(tx, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("index messages: %w", err)
		}
		after = page[len(page)-1].ID
	}
}
