package files

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // s3:// URLs: AWS S3 and S3-compatible stores
	"gocloud.dev/gcerrors"

	"parley/store"
)

// OpenBucket opens the blob store named by blobURL: "" for the folder
// "uploads" in dataDir, file:///path for another (shared) folder, or
// s3://bucket?region=…&endpoint=… for an S3-compatible store. Folders are
// created readable by the server's user only.
func OpenBucket(ctx context.Context, blobURL, dataDir string) (*blob.Bucket, error) {
	dir := filepath.Join(dataDir, "uploads")
	if blobURL != "" {
		u, err := url.Parse(blobURL)
		if err != nil {
			return nil, fmt.Errorf("blob_url: %w", err)
		}
		if u.Scheme != "file" {
			b, err := blob.OpenBucket(ctx, blobURL)
			if err != nil {
				return nil, fmt.Errorf("open blob store: %w", err)
			}
			return b, nil
		}
		dir = u.Path
		if u.Host == "." { // file://./relative
			dir = "." + u.Path
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	// NoTempDir: a file is written beside its final name and renamed, which
	// works whatever disk the folder is on.
	return fileblob.OpenBucket(dir, &fileblob.Options{DirFileMode: 0o700, NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
}

// Nudge asks the sweeper to run soon (after files were trashed).
func (s *Service) Nudge() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// Run sweeps every SweepEvery, and when nudged, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(s.opts.SweepEvery)
	defer tick.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping uploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.nudge:
		}
	}
}

// sweepBatch bounds the blobs one sweep deletes.
const sweepBatch = 200

// Sweep deletes the uploads never attached within PendingTTL, and the blobs
// in the trash that are due. A blob the store fails to delete stays in the
// trash and is tried again later; several nodes may sweep at once (a blob
// already gone counts as deleted).
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	if err := s.st.Write(ctx, func(tx *store.Tx) error {
		return s.trash(tx, "message_id = '' AND created_at < ?", now.Add(-s.opts.PendingTTL))
	}); err != nil {
		return fmt.Errorf("expire uploads: %w", err)
	}
	due, err := dueBlobs(s.st.Read(ctx), now, sweepBatch)
	if err != nil {
		return fmt.Errorf("read blob trash: %w", err)
	}
	if len(due) == 0 {
		return nil
	}
	var gone, failed []string
	var lastErr error
	for _, t := range due {
		err := s.bucket.Delete(ctx, t.BlobKey)
		if err == nil || gcerrors.Code(err) == gcerrors.NotFound {
			gone = append(gone, t.BlobKey)
			continue
		}
		failed, lastErr = append(failed, t.BlobKey), err
		if s.opts.Metrics != nil {
			s.opts.Metrics.BlobDeleteFailed()
		}
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if err := untrashBlobs(tx, gone); err != nil {
			return err
		}
		return postponeBlobs(tx, failed, now.Add(retryAfter))
	})
	if err != nil {
		return fmt.Errorf("update blob trash: %w", err)
	}
	if lastErr != nil {
		return fmt.Errorf("delete %d blobs (tried again in %s): %w", len(failed), retryAfter, lastErr)
	}
	return nil
}

// retryAfter is how long a blob that failed to delete waits for its next try.
const retryAfter = 5 * time.Minute

// TrashBacklog counts the blobs waiting to be deleted (for /metrics: one
// that keeps growing means the blob store refuses deletes).
func (s *Service) TrashBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := s.st.Read(ctx).Model(&store.BlobTrash{}).Count(&n).Error
	return n, err
}
