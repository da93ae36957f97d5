package audit

import (
	"gorm.io/gorm"

	"parley/store"
)

func insertEntry(tx *store.Tx, e store.AuditEntry) error {
	return tx.Create(&e).Error
}

// pageEntries reads up to n of a tenant's entries older than before (all if
// empty), newest first. Ids are time-ordered, so they page without gaps.
func pageEntries(db *gorm.DB, tenantID, before string, n int) ([]store.AuditEntry, error) {
	db = db.Where("tenant_id = ?", tenantID)
	if before != "" {
		db = db.Where("id < ?", before)
	}
	var rows []store.AuditEntry
	err := db.Order("id DESC").Limit(n).Find(&rows).Error
	return rows, err
}
