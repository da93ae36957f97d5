package search

import (
	"context"
	"fmt"
	"strings"

	"parley/store"
)

// Postgres is the index in PostgreSQL: each message's terms (see Terms) as a
// tsvector under a GIN index. The terms are made in Go, as for SQLite, and
// given to PostgreSQL as they are (no parser, no dictionary), so both
// databases find the same messages: Chinese by any part of a word, English
// regardless of case and simple endings. Every change runs inside the write
// that changes the message: a GIN index takes one more row cheaply (it
// gathers new entries in its pending list), unlike FTS4, which writes a
// segment per transaction and so indexes new messages a moment later.
type Postgres struct {
	st *store.Store
}

const pgSchema = `
CREATE TABLE search_terms (
	message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	terms TSVECTOR NOT NULL
);
CREATE INDEX search_terms_gin ON search_terms USING GIN (terms);
`

// OpenPostgres makes sure the index exists; a new one is filled with the
// messages already stored.
func OpenPostgres(ctx context.Context, st *store.Store) (*Postgres, error) {
	idx := &Postgres{st: st}
	created, err := st.Extend(ctx, "search_terms", pgSchema)
	if err != nil {
		return nil, fmt.Errorf("create the search index: %w", err)
	}
	if created {
		err = backfill(ctx, st, idx.Index)
	}
	return idx, err
}

// Close has nothing to do: every change was written with its message.
func (idx *Postgres) Close(context.Context) error { return nil }

// Index adds a message to the index, or updates it after an edit; a deleted
// message is taken out, so it is never found again.
func (idx *Postgres) Index(tx *store.Tx, m store.Message) error {
	if m.Deleted {
		_, err := tx.ExecPrepared(`DELETE FROM search_terms WHERE message_id = ?`, m.ID)
		return err
	}
	_, err := tx.ExecPrepared(`INSERT INTO search_terms(message_id, terms) VALUES (?, CAST(? AS TSVECTOR))
		ON CONFLICT (message_id) DO UPDATE SET terms = excluded.terms`, m.ID, TSVector(m.Body))
	return err
}

// IndexNew adds messages just created: one statement for all of them.
func (idx *Postgres) IndexNew(tx *store.Tx, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(msgs))
	for _, m := range msgs {
		args = append(args, m.ID, TSVector(m.Body))
	}
	_, err := tx.ExecPrepared(`INSERT INTO search_terms(message_id, terms) VALUES `+
		values(len(msgs), "(?, CAST(? AS TSVECTOR))"), args...)
	return err
}

// DropRoom takes a room's messages out of the index (before the room goes).
func (idx *Postgres) DropRoom(tx *store.Tx, roomID string) error {
	return tx.Exec(`DELETE FROM search_terms WHERE message_id IN (SELECT id FROM messages WHERE room_id = ?)`, roomID).Error
}

// Find returns the messages matching q that the user may read now, newest
// first, and whether there are more.
func (idx *Postgres) Find(ctx context.Context, q Query, s Scope) ([]store.Message, bool, error) {
	return readable(idx.st.Read(ctx).Table("search_terms").
		Joins("JOIN messages ON messages.id = search_terms.message_id").
		Where("search_terms.terms @@ CAST(? AS TSQUERY)", q.TSQuery), s)
}

// values is n copies of row, separated by commas.
func values(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}
