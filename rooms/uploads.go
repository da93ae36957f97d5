package rooms

import (
	"context"
	"io"

	"parley/auth"
	"parley/files"
	"parley/internal/fault"
)

// Upload takes a file into a room whose member may post there; it waits for
// the message that carries it.
func (s *Service) Upload(ctx context.Context, p auth.Principal, roomID, name string, body io.Reader) (files.AttachmentJSON, error) {
	if s.files == nil {
		return files.AttachmentJSON{}, fault.New(fault.NotFound, "this server takes no files")
	}
	row, err := s.access(ctx, p, roomID, "message.post")
	if err != nil {
		return files.AttachmentJSON{}, err
	}
	if row.Archived {
		return files.AttachmentJSON{}, fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	return s.files.Store(ctx, files.Upload{TenantID: p.TenantID, RoomID: roomID, UploaderID: p.Subject(), Name: name}, body)
}

// File opens an uploaded file (or its thumbnail) for whoever may read its
// room now: a file of a private room is not found for anyone outside it,
// including a member removed since. An upload not yet sent is its
// uploader's only.
func (s *Service) File(ctx context.Context, p auth.Principal, id string, thumb bool) (*files.File, error) {
	if s.files == nil {
		return nil, fault.New(fault.NotFound, "file not found")
	}
	a, err := s.files.Lookup(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	if a.MessageID == "" && a.UploaderID != p.Subject() {
		return nil, fault.New(fault.NotFound, "file not found")
	}
	if _, err := s.readable(ctx, p, a.RoomID); err != nil {
		if fault.Is(err, fault.Forbidden) {
			return nil, fault.New(fault.NotFound, "file not found")
		}
		return nil, err
	}
	return s.files.Open(ctx, a, thumb)
}
