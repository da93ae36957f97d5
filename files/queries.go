package files

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"parley/store"
)

// The package's queries: small typed functions, portable across SQLite and
// PostgreSQL (GORM writes the placeholders each one takes).

// attachmentsOf loads the uploads of these messages, each message's in order.
func attachmentsOf(db *gorm.DB, messageIDs []string) ([]store.Attachment, error) {
	var rows []store.Attachment
	err := db.Where("message_id IN ?", messageIDs).Order("message_id, position").Find(&rows).Error
	return rows, err
}

// countWaiting counts which of ids are uploads of uploaderID to roomID that
// no message carries yet.
func countWaiting(db *gorm.DB, roomID, uploaderID string, ids []string) (int64, error) {
	var n int64
	err := db.Model(&store.Attachment{}).
		Where("id IN ? AND room_id = ? AND uploader_id = ? AND message_id = ''", ids, roomID, uploaderID).Count(&n).Error
	return n, err
}

// attachTo gives a waiting upload to a message at a place; false if it was
// no longer waiting.
func attachTo(tx *store.Tx, id, messageID string, position int) (bool, error) {
	res := tx.Model(&store.Attachment{}).Where("id = ? AND message_id = ''", id).
		Updates(map[string]any{"message_id": messageID, "position": position})
	return res.RowsAffected == 1, res.Error
}

// attachmentByID finds an upload of a tenant.
func attachmentByID(db *gorm.DB, tenantID, id string) (store.Attachment, error) {
	var a store.Attachment
	err := db.Where("id = ? AND tenant_id = ?", id, tenantID).Take(&a).Error
	return a, err
}

// usedBytes is what a tenant's uploads take, thumbnails included.
func usedBytes(db *gorm.DB, tenantID string) (int64, error) {
	var used int64
	err := db.Model(&store.Attachment{}).Where("tenant_id = ?", tenantID).
		Select("COALESCE(SUM(size + thumb_size), 0)").Scan(&used).Error
	return used, err
}

// discardAttachments moves the blobs of the uploads matching where to the
// trash, due at due, and deletes the uploads; it says how many there were.
// (INSERT … SELECT … ON CONFLICT needs the SELECT's WHERE on SQLite.)
func discardAttachments(tx *store.Tx, due time.Time, where string, args ...any) (int64, error) {
	for _, col := range []string{"blob_key", "thumb_key"} {
		q := `INSERT INTO blob_trash(blob_key, not_before, attempts) SELECT ` + col + `, ?, 0 FROM attachments
			WHERE ` + where + ` AND ` + col + ` <> '' ON CONFLICT (blob_key) DO NOTHING`
		if err := tx.Exec(q, append([]any{due}, args...)...).Error; err != nil {
			return 0, fmt.Errorf("trash blobs: %w", err)
		}
	}
	res := tx.Where(where, args...).Delete(&store.Attachment{})
	return res.RowsAffected, res.Error
}

// trashBlobs queues blobs for deletion at due.
func trashBlobs(tx *store.Tx, due time.Time, keys []string) error {
	for _, k := range keys {
		if err := tx.Create(&store.BlobTrash{BlobKey: k, NotBefore: due}).Error; err != nil {
			return err
		}
	}
	return nil
}

// untrashBlobs takes blobs off the queue (deleted, or kept after all).
func untrashBlobs(tx *store.Tx, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return tx.Where("blob_key IN ?", keys).Delete(&store.BlobTrash{}).Error
}

// dueBlobs lists up to n queued blobs due by now, the longest due first.
func dueBlobs(db *gorm.DB, now time.Time, n int) ([]store.BlobTrash, error) {
	var due []store.BlobTrash
	err := db.Where("not_before <= ?", now).Order("not_before").Limit(n).Find(&due).Error
	return due, err
}

// postponeBlobs puts queued blobs off until until, counting the attempt.
func postponeBlobs(tx *store.Tx, keys []string, until time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	return tx.Model(&store.BlobTrash{}).Where("blob_key IN ?", keys).
		Updates(map[string]any{"not_before": until, "attempts": gorm.Expr("attempts + 1")}).Error
}
