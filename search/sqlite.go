package search

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"parley/store"
)

// SQLite is the index in SQLite's FTS4 (compiled into the driver; FTS5 is
// not). The index holds terms (see Terms), not text, so FTS4's "simple"
// tokenizer only splits them at spaces. search_docs maps FTS4's integer
// docids to message ids.
//
// Edits and deletions change the index inside the write that changes the
// message. New messages are indexed a moment after their commit, many in one
// write: FTS4 writes a segment per transaction, which cost a single post a
// sixth of its CPU when every post wrote its own. Find first indexes
// everything committed before it started, so a search never misses a message
// it could see. A crash can only lose the pending list, which lives in
// memory; search_state remembers whether the index was closed cleanly, and an
// unclean start indexes every message the index lacks.
type SQLite struct {
	st    *store.Store
	stems stemCache

	mu      sync.Mutex
	pending []string   // ids of committed messages not indexed yet
	flushMu sync.Mutex // one flush at a time; Find waits for a running one

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// schema is created by the index itself, not by store's migrations: those are
// portable SQL, and FTS4 is SQLite's own.
const schema = `
CREATE TABLE search_docs (docid INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE search_fts USING fts4(terms, tokenize=simple);
`

// stateSchema is a one-row table: clean is 1 only between a clean Close and
// the next open. (Indexes made before it existed get it on their next open,
// and are checked as after a crash once.)
const stateSchema = `CREATE TABLE IF NOT EXISTS search_state (id INTEGER PRIMARY KEY CHECK (id = 1), clean INTEGER NOT NULL)`

const (
	backfillPage = 500
	// lazyDelay lets a burst of posts gather into one indexing write.
	lazyDelay = 100 * time.Millisecond
)

// OpenSQLite makes sure the index exists and holds every message: a new index
// is filled with the messages already stored, and one that was not closed
// cleanly gets the messages it missed.
func OpenSQLite(ctx context.Context, st *store.Store) (*SQLite, error) {
	idx := &SQLite{st: st, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	var n int64
	if err := st.Read(ctx).Raw(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'search_fts'`).Scan(&n).Error; err != nil {
		return nil, fmt.Errorf("look for the search index: %w", err)
	}
	clean := int64(0)
	err := st.Write(ctx, func(tx *store.Tx) error {
		if n == 0 {
			if err := tx.Exec(schema).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec(stateSchema).Error; err != nil {
			return err
		}
		if err := tx.Raw(`SELECT COALESCE(MAX(clean), 0) FROM search_state`).Scan(&clean).Error; err != nil {
			return err
		}
		// From now until Close, a crash leaves clean = 0.
		return tx.Exec(`INSERT INTO search_state (id, clean) VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET clean = 0`).Error
	})
	if err != nil {
		return nil, fmt.Errorf("open the search index: %w", err)
	}
	if clean == 0 {
		if err := idx.indexMissing(ctx); err != nil {
			return nil, err
		}
	}
	go idx.run()
	return idx, nil
}

// indexMissing indexes every live message the index lacks, a page per write.
func (idx *SQLite) indexMissing(ctx context.Context) error {
	for after := ""; ; {
		var page []store.Message
		err := idx.st.Read(ctx).Raw(`SELECT m.id, m.body FROM messages m LEFT JOIN search_docs d ON d.message_id = m.id
			WHERE d.docid IS NULL AND m.deleted = ? AND m.id > ? ORDER BY m.id LIMIT ?`, false, after, backfillPage).Scan(&page).Error
		if err != nil {
			return fmt.Errorf("read messages to index: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		ids := make([]string, len(page))
		for i, m := range page {
			ids[i] = m.ID
		}
		if err := idx.st.Write(ctx, func(tx *store.Tx) error { return idx.indexIDs(tx, ids) }); err != nil {
			return fmt.Errorf("index messages: %w", err)
		}
		after = page[len(page)-1].ID
	}
}

// run indexes new messages a moment after they are committed, until Close.
func (idx *SQLite) run() {
	defer close(idx.done)
	for {
		select {
		case <-idx.stop:
			return
		case <-idx.wake:
		}
		gather := time.NewTimer(lazyDelay)
		select {
		case <-idx.stop:
			gather.Stop()
			return
		case <-gather.C:
		}
		if err := idx.flush(context.Background()); err != nil {
			idx.signal() // kept pending: try again after the next delay
		}
	}
}

func (idx *SQLite) signal() {
	select {
	case idx.wake <- struct{}{}:
	default:
	}
}

// flush indexes every message pending when it starts. On failure the ids stay
// pending.
func (idx *SQLite) flush(ctx context.Context) error {
	idx.flushMu.Lock()
	defer idx.flushMu.Unlock()
	idx.mu.Lock()
	ids := idx.pending
	idx.pending = nil
	idx.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	err := idx.st.Write(ctx, func(tx *store.Tx) error {
		for chunk := range slices.Chunk(ids, backfillPage) {
			if err := idx.indexIDs(tx, chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		idx.mu.Lock()
		idx.pending = append(ids, idx.pending...)
		idx.mu.Unlock()
		return fmt.Errorf("index new messages: %w", err)
	}
	return nil
}

// Close indexes what is pending and marks the index clean. It must run
// before the store closes.
func (idx *SQLite) Close(ctx context.Context) error {
	var err error
	idx.closeOnce.Do(func() {
		close(idx.stop)
		<-idx.done
		if err = idx.flush(ctx); err != nil {
			return
		}
		err = idx.st.Write(ctx, func(tx *store.Tx) error {
			return tx.Exec(`UPDATE search_state SET clean = 1 WHERE id = 1`).Error
		})
	})
	return err
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
		_, err = tx.ExecPrepared(`INSERT INTO search_fts(docid, terms) VALUES (?, ?)`, docid, idx.stems.Terms(m.Body))
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
		_, err = tx.ExecPrepared(`UPDATE search_fts SET terms = ? WHERE docid = ?`, idx.stems.Terms(m.Body), docid)
		return err
	}
}

// IndexNew queues messages just created for the next indexing write, once
// their write has committed.
func (idx *SQLite) IndexNew(tx *store.Tx, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	tx.AfterCommit(func() {
		idx.mu.Lock()
		idx.pending = append(idx.pending, ids...)
		idx.mu.Unlock()
		idx.signal()
	})
	return nil
}

// indexIDs indexes those of these messages that are live and not indexed yet
// (an edit may have indexed one already; a deletion may have come first):
// three statements for all of them, where Index costs three for each, run
// on database/sql directly: with hundreds of values, GORM's statement
// building cost as much as SQLite's work.
func (idx *SQLite) indexIDs(tx *store.Tx, ids []string) error {
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryRaw(`SELECT m.id, m.body FROM messages m LEFT JOIN search_docs d ON d.message_id = m.id
		WHERE m.id IN (`+values(len(ids), "?")+`) AND m.deleted = FALSE AND d.docid IS NULL ORDER BY m.id`, args...)
	if err != nil {
		return err
	}
	var msgIDs, bodies []string
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return err
		}
		msgIDs, bodies = append(msgIDs, id), append(bodies, body)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(msgIDs) == 0 {
		return err
	}
	args = args[:0]
	for _, id := range msgIDs {
		args = append(args, id)
	}
	// Not prepared: the statements' shapes vary with the count, and one write
	// now carries many messages.
	rows, err = tx.QueryRaw(`INSERT INTO search_docs(message_id) VALUES `+values(len(msgIDs), "(?)")+` RETURNING docid`, args...)
	if err != nil {
		return err
	}
	docids := make([]int64, 0, len(msgIDs))
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
	if len(docids) != len(msgIDs) {
		return fmt.Errorf("indexed %d messages, got %d docids", len(msgIDs), len(docids))
	}
	slices.Sort(docids) // one statement numbers its rows in order
	args = args[:0]
	for i, body := range bodies {
		args = append(args, docids[i], idx.stems.Terms(body))
	}
	_, err = tx.ExecRaw(`INSERT INTO search_fts(docid, terms) VALUES `+values(len(msgIDs), "(?, ?)"), args...)
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
	if err := idx.flush(ctx); err != nil {
		return nil, false, err
	}
	return readable(idx.st.Read(ctx).Table("search_fts").
		Joins("JOIN search_docs d ON d.docid = search_fts.docid").
		Joins("JOIN messages ON messages.id = d.message_id").
		Where("search_fts MATCH ?", q.Match), s)
}
