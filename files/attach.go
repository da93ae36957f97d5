package files

import (
	"fmt"

	"gorm.io/gorm"

	"parley/internal/fault"
	"parley/store"
)

// MaxPerMessage bounds how many files one message carries.
const MaxPerMessage = 10

// AttachmentJSON is a file of a message, as the API shows it.
type AttachmentJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	URL          string `json:"url"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

// View renders an upload for the API. Its URLs take the caller's token
// (Authorization, or ?token= where a header cannot be sent, as in <img>).
func View(a store.Attachment) AttachmentJSON {
	out := AttachmentJSON{ID: a.ID, Name: a.Name, ContentType: a.ContentType, Size: a.Size, Width: a.Width, Height: a.Height,
		URL: "/api/v1/files/" + a.ID}
	if a.ThumbKey != "" {
		out.ThumbnailURL = out.URL + "/thumbnail"
	}
	return out
}

// ForMessages loads the files of these messages, each message's in order.
func ForMessages(db *gorm.DB, messageIDs []string) (map[string][]AttachmentJSON, error) {
	rows, err := attachmentsOf(db, messageIDs)
	if err != nil {
		return nil, err
	}
	out := map[string][]AttachmentJSON{}
	for _, a := range rows {
		out[a.MessageID] = append(out[a.MessageID], View(a))
	}
	return out, nil
}

// CheckIDs validates a post's list of upload ids (no repeats, not too many).
func CheckIDs(ids []string) error {
	if len(ids) > MaxPerMessage {
		return fault.Field("attachments", fmt.Sprintf("at most %d files per message", MaxPerMessage))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			return fault.Field("attachments", "must be distinct upload ids")
		}
		seen[id] = true
	}
	return nil
}

// Waiting reports whether every id is an upload of uploaderID to this room
// that no message carries yet. db is a read handle, or the write that will
// attach them (so that it sees them as they are then).
func Waiting(db *gorm.DB, roomID, uploaderID string, ids []string) (bool, error) {
	if len(ids) == 0 {
		return true, nil
	}
	n, err := countWaiting(db, roomID, uploaderID, ids)
	return n == int64(len(ids)), err
}

// NotWaiting is the refusal of a post naming uploads it may not attach.
func NotWaiting() error {
	return fault.Field("attachments", "must be your uploads to this room, not yet sent")
}

// Attach gives the uploads (checked with Waiting in the same write) to a
// message, in this order.
func Attach(tx *store.Tx, messageID string, ids []string) error {
	for i, id := range ids {
		ok, err := attachTo(tx, id, messageID, i)
		if err != nil {
			return err
		}
		if !ok {
			return fault.New(fault.Conflict, "an upload was attached to another message meanwhile")
		}
	}
	return nil
}

// TrashMessage deletes the files of a deleted message: their rows now, in
// the message's write, and their blobs once it has committed (and until the
// blob store has done it, by the sweeper).
func (s *Service) TrashMessage(tx *store.Tx, messageID string) error {
	return s.trash(tx, "message_id = ?", messageID)
}

// TrashRoom deletes the files of a deleted room, as TrashMessage does.
func (s *Service) TrashRoom(tx *store.Tx, roomID string) error {
	return s.trash(tx, "room_id = ?", roomID)
}

// trash moves the blobs of the uploads matching where to the trash, due
// now, deletes the uploads, and has the sweeper run once the write commits.
func (s *Service) trash(tx *store.Tx, where string, args ...any) error {
	n, err := discardAttachments(tx, s.now(), where, args...)
	if n > 0 {
		tx.AfterCommit(s.Nudge)
	}
	return err
}

// withinQuota refuses adding bytes to a tenant whose uploads would then
// exceed QuotaPerTenant.
func (s *Service) withinQuota(db *gorm.DB, tenantID string, adding int64) error {
	if s.opts.QuotaPerTenant <= 0 {
		return nil
	}
	used, err := usedBytes(db, tenantID)
	if err != nil {
		return fmt.Errorf("sum uploads: %w", err)
	}
	if used+adding > s.opts.QuotaPerTenant {
		return fault.OverLimit(fault.QuotaExceeded, "max_upload_bytes_per_tenant",
			fmt.Sprintf("this workspace has used its storage for files (%s)", humanBytes(s.opts.QuotaPerTenant)))
	}
	return nil
}
