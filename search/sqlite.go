package search

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"parley/store"
)

// SQLite is the index in SQLite's FTS4 (compiled into the driver; FTS5 is
// not). The index holds terms (see Terms), not text, so FTS4's "simple"
// tokenizer only splits them at spaces. search_docs maps FTS4's integer
// docids to message ids. Every change runs inside the write that changes the
// message, so the index never disagrees with the messages.
type SQLite struct {
	st *store.Store
}

// schema is created by the index itself, not by store's migrations: those are
// portable SQL, and FTS4 is SQLite's own.
const schema = `
CREATE TABLE search_docs (docid INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE search_fts USING fts4(terms, tokenize=simple);
`

// OpenSQLite makes sure the index exists; a new one is filled with the
// messages already stored.
func OpenSQLite(ctx context.Context, st *store.Store) (*SQLite, error) {
	idx := &SQLite{st: st}
	created, err := st.Extend(ctx, "search_fts", schema)
	if err != nil {
		return nil, fmt.Errorf("create the search index: %w", err)
	}
	if created {
		err = backfill(ctx, st, idx.Index)
	}
	return idx, err
}

// Index adds a message to the index, or updates it after an edit; a deleted
// message is taken out, so it is never found again.
func (idx *SQLite) Index(tx *store.Tx, m store.Message) error {
	var docid int64
	err := tx.QueryRowPrepared(`SELECT docid FROM search_docs WHERE message_id = ?`, m.ID).Scan(&docid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if m.Deleted {
			return nil
		}
		res, err := tx.ExecPrepared(`INSERT INTO search_docs(message_id) VALUES (?)`, m.ID)
		if err != nil {
			return err
		}
		if docid, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = tx.ExecPrepared(`INSERT INTO search_fts(docid, terms) VALUES (?, ?)`, docid, Terms(m.Body))
		return err
	case err != nil:
		return err
	case m.Deleted:
		if _, err := tx.ExecPrepared(`DELETE FROM search_fts WHERE docid = ?`, docid); err != nil {
			return err
		}
		_, err = tx.ExecPrepared(`DELETE FROM search_docs WHERE docid = ?`, docid)
		return err
	default:
		_, err = tx.ExecPrepared(`UPDATE search_fts SET terms = ? WHERE docid = ?`, Terms(m.Body), docid)
		return err
	}
}

// IndexNew adds messages just created, which no index holds yet: two
// statements for all of them, where Index costs three for each.
func (idx *SQLite) IndexNew(tx *store.Tx, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]any, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	rows, err := tx.QueryPrepared(`INSERT INTO search_docs(message_id) VALUES `+values(len(msgs), "(?)")+` RETURNING docid`, ids...)
	if err != nil {
		return err
	}
	docids := make([]int64, 0, len(msgs))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		docids = append(docids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(docids) != len(msgs) {
		return fmt.Errorf("indexed %d messages, got %d docids", len(msgs), len(docids))
	}
	slices.Sort(docids) // one statement numbers its rows in order
	args := make([]any, 0, 2*len(msgs))
	for i, m := range msgs {
		args = append(args, docids[i], Terms(m.Body))
	}
	_, err = tx.ExecPrepared(`INSERT INTO search_fts(docid, terms) VALUES `+values(len(msgs), "(?, ?)"), args...)
	return err
}

// values is n copies of row, separated by commas.
func values(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// DropRoom takes a room's messages out of the index (before the room goes).
func (idx *SQLite) DropRoom(tx *store.Tx, roomID string) error {
	const docs = `SELECT d.docid FROM search_docs d JOIN messages m ON m.id = d.message_id WHERE m.room_id = ?`
	if err := tx.Exec(`DELETE FROM search_fts WHERE docid IN (`+docs+`)`, roomID).Error; err != nil {
		return err
	}
	return tx.Exec(`DELETE FROM search_docs WHERE docid IN (`+docs+`)`, roomID).Error
}

// Find returns the messages matching q that the user may read now (the
// rooms they belong to and the tenant's public rooms), newest first, and
// whether there are more.
func (idx *SQLite) Find(ctx context.Context, q Query, s Scope) ([]store.Message, bool, error) {
	return readable(idx.st.Read(ctx).Table("search_fts").
		Joins("JOIN search_docs d ON d.docid = search_fts.docid").
		Joins("JOIN messages ON messages.id = d.message_id").
		Where("search_fts MATCH ?", q.Match), s)
}
