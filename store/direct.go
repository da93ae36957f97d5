package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
)

// Direct runs single statements that each commit on their own, outside the
// writer's batches. It is for counters that the nodes of a cluster share and
// touch on many requests (internal/limit's shared store), which must neither
// wait for a batch of posts nor hold a lock inside one (on PostgreSQL a lock
// held inside a batch could meet another node's batch waiting for it).
// Parley's own data never changes through it: that is Write's.
//
// It uses the read pool's connections. On PostgreSQL they commit without
// waiting for the WAL flush (synchronous_commit off, see openPostgres): a
// counter is not worth an fsync per request, and a crash of the database
// loses at most its last fraction of a second of counts.
type Direct struct {
	db *sql.DB
	s  *Store // for Rebind
}

// Direct returns the handle for statements outside the writer (Open makes
// the read pool a *sql.DB, so DB cannot fail).
func (s *Store) Direct() Direct {
	db, _ := s.read.DB()
	return Direct{db, s}
}

// Exec runs a statement with ? placeholders and returns how many rows it changed.
func (d Direct) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.s.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Query runs a query with ? placeholders.
func (d Direct) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, d.s.Rebind(query), args...)
}

// QueryRow runs a query with ? placeholders that returns one row.
func (d Direct) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.db.QueryRowContext(ctx, d.s.Rebind(query), args...)
}

// withoutCommitWait returns the PostgreSQL URL with synchronous_commit off,
// for the read pool: its queries commit nothing, and Direct's counters need
// no fsync (pgx sends a URL parameter it does not know as a session setting).
func withoutCommitWait(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("database_url: %w", err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String(), nil
}
