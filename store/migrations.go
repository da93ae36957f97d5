package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each once, each in its own transaction, and
// recorded in schema_migrations. Never edit a released migration: append one.
var migrations = []string{
	// 1: identity, rooms, messages and the event log.
	`
CREATE TABLE tenants (
	id TEXT PRIMARY KEY,
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	signup_policy TEXT NOT NULL DEFAULT 'open',
	created_at DATETIME NOT NULL
);
CREATE TABLE users (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	username TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	role TEXT NOT NULL,
	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	is_bot BOOLEAN NOT NULL DEFAULT FALSE,
	created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_tenant_username ON users(tenant_id, username COLLATE NOCASE);
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	revoked_at DATETIME
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE refresh_tokens (
	hash TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	used_at DATETIME
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE invites (
	hash TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	created_by TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL
);
CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	prefix TEXT NOT NULL UNIQUE,
	hash TEXT NOT NULL,
	scopes TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	last_used_at DATETIME,
	revoked_at DATETIME
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);
CREATE TABLE rooms (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	topic TEXT NOT NULL DEFAULT '',
	visibility TEXT NOT NULL,
	archived BOOLEAN NOT NULL DEFAULT FALSE,
	last_seq INTEGER NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	last_activity_at DATETIME NOT NULL
);
CREATE INDEX rooms_tenant ON rooms(tenant_id, visibility);
CREATE TABLE room_members (
	room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	tenant_id TEXT NOT NULL,
	role TEXT NOT NULL,
	last_read_seq INTEGER NOT NULL DEFAULT 0,
	joined_at DATETIME NOT NULL,
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members(user_id);
CREATE TABLE messages (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	author_id TEXT NOT NULL,
	body TEXT NOT NULL,
	client_id TEXT NOT NULL DEFAULT '',
	created_at DATETIME NOT NULL,
	edited_at DATETIME,
	deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX messages_room_seq ON messages(room_id, seq);
CREATE UNIQUE INDEX messages_client_id ON messages(room_id, author_id, client_id) WHERE client_id <> '';
CREATE TABLE events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	type TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	target_user_id TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '',
	created_at DATETIME NOT NULL
);
CREATE INDEX events_room ON events(room_id, id);
CREATE INDEX events_target ON events(target_user_id, id) WHERE target_user_id <> '';
`,
	// 2: replies, reactions and @mentions.
	`
ALTER TABLE messages ADD COLUMN reply_to_id TEXT NOT NULL DEFAULT '';
CREATE TABLE message_reactions (
	message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	emoji TEXT NOT NULL,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (message_id, emoji, user_id)
);
CREATE TABLE message_mentions (
	message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	room_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user ON message_mentions(user_id, room_id, seq);
`,
	// 3: invites are single use unless made for more, and listed by a public
	// prefix. Invites made before have no known prefix: they get a stand-in
	// from their hash ("~" marks it), so that they can be listed and revoked.
	`
ALTER TABLE invites ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE invites ADD COLUMN max_uses INTEGER NOT NULL DEFAULT 1;
ALTER TABLE invites ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
UPDATE invites SET prefix = '~' || SUBSTR(hash, 1, 11);
CREATE UNIQUE INDEX invites_tenant_prefix ON invites(tenant_id, prefix);
`,
	// 4: the audit log of admin and API key actions.
	`
CREATE TABLE audit_log (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	actor_type TEXT NOT NULL,
	actor_id TEXT NOT NULL DEFAULT '',
	actor_name TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id TEXT NOT NULL DEFAULT '',
	target_name TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	ip TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
`,
	// 5: direct messages (a two-member room found by its pair of users) and
	// each member's notification level.
	`
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'room';
ALTER TABLE rooms ADD COLUMN dm_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX rooms_dm_key ON rooms(tenant_id, dm_key) WHERE dm_key <> '';
ALTER TABLE room_members ADD COLUMN notifications TEXT NOT NULL DEFAULT 'all';
`,
	// 6: Web Push subscriptions of devices, by login.
	`
CREATE TABLE push_subscriptions (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	session_id TEXT NOT NULL,
	endpoint TEXT NOT NULL UNIQUE,
	p256dh TEXT NOT NULL,
	auth TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);
CREATE INDEX push_subscriptions_session ON push_subscriptions(session_id);
`,
	// 7: rate limits and caps shared by the nodes of a cluster (internal/limit's
	// Shared store; times in Unix microseconds). A token bucket is its
	// theoretical arrival time; a window's actions and what is in flight are
	// numbered slots of a key, each held until it expires (renewed by its
	// holder node while in flight).
	`
CREATE TABLE limit_buckets (
	name TEXT NOT NULL,
	subject TEXT NOT NULL,
	tat BIGINT NOT NULL,
	PRIMARY KEY (name, subject)
);
CREATE TABLE limit_leases (
	name TEXT NOT NULL,
	subject TEXT NOT NULL,
	slot INTEGER NOT NULL,
	holder TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (name, subject, slot)
);
CREATE INDEX limit_leases_holder ON limit_leases(holder);
`,
	// 8: uploaded files and the blobs waiting to be deleted. The bytes are
	// in the blob store (blob_url); a row here is what may be served.
	`
CREATE TABLE attachments (
	id TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	room_id TEXT NOT NULL,
	uploader_id TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	position INTEGER NOT NULL DEFAULT 0,
	name TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size BIGINT NOT NULL,
	width INTEGER NOT NULL DEFAULT 0,
	height INTEGER NOT NULL DEFAULT 0,
	blob_key TEXT NOT NULL,
	thumb_key TEXT NOT NULL DEFAULT '',
	thumb_size BIGINT NOT NULL DEFAULT 0,
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id, position);
CREATE INDEX attachments_room ON attachments(room_id);
CREATE INDEX attachments_tenant ON attachments(tenant_id);
CREATE INDEX attachments_waiting ON attachments(created_at) WHERE message_id = '';
CREATE TABLE blob_trash (
	blob_key TEXT PRIMARY KEY,
	not_before TIMESTAMP NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blob_trash_due ON blob_trash(not_before);
`,
	// 9: the nodes whose caches a write on PostgreSQL waits for (shared.go).
	// Unused on SQLite.
	`
CREATE TABLE cache_nodes (
	id TEXT PRIMARY KEY,
	expires_at DATETIME NOT NULL
);
CREATE INDEX events_invalidated ON events(created_at) WHERE type = 'cache.invalidated';
`,
	// 10: the client_id index keyed (room, client_id, author): a commit's
	// posts by many authors with time-ordered or counter client_ids then
	// share one or two leaf pages instead of one page per author
	// (docs/PERFORMANCE.md, "Night: the writer's pages"). The idempotency
	// lookup is an equality on all three columns either way.
	`
DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages(room_id, client_id, author_id) WHERE client_id <> '';
`,
}

// migrate brings the schema up to date; it is safe to run on every start,
// and on PostgreSQL by several nodes at once (withSchemaLock). It uses
// database/sql directly: a migration is several statements in one Exec.
func (s *Store) migrate(ctx context.Context, db *sql.DB) error {
	return s.withSchemaLock(ctx, db, func(conn *sql.Conn) error {
		if s.pg {
			if _, err := conn.ExecContext(ctx, pgPrelude); err != nil {
				return fmt.Errorf("create the nocase collation: %w", err)
			}
		}
		if _, err := conn.ExecContext(ctx, s.ddl(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, applied_at DATETIME NOT NULL)`)); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", current, len(migrations))
		}
		for version := current + 1; version <= len(migrations); version++ {
			if err := s.applyMigration(ctx, conn, version); err != nil {
				return fmt.Errorf("apply migration %d: %w", version, err)
			}
		}
		return nil
	})
}

// beginner is a database or one of its connections.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (s *Store) applyMigration(ctx context.Context, db beginner, version int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, s.ddl(migrations[version-1])); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`), version, time.Now().UTC()); err != nil {
		return err
	}
	return tx.Commit()
}
