package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
// write, from the bodies they were posted with (kept pending in memory, their
// terms made off the writer): FTS4 writes a segment per transaction, which
// cost a single post a sixth of its CPU when every post wrote its own. Find
// first indexes everything committed before it started, so a search never
// misses a message it could see. A crash can only lose the pending list,
// which lives in memory; search_state remembers whether the index was closed
// cleanly, and an unclean start indexes every message the index lacks.
type SQLite struct {
	st *store.Store

	mu      sync.Mutex
	pending []newDoc   // committed messages not indexed yet
	flushMu sync.Mutex // one flush at a time; Find waits for a running one
	stems   *stemmer   // the flush's, under flushMu
	gather  gathering

	wake      chan struct{}
	full      chan struct{} // gather.most are pending
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

const backfillPage = 500

// gathering is when new messages are indexed: delay after the first is
// pending, or as soon as most are.
type gathering struct {
	delay time.Duration
	most  int
}

// New messages gather into one indexing write for gatherDelay, or until
// gatherMost wait. Per message, a write of 100 costs half as much again as
// one of 500, and larger ones no less (BenchmarkFlush), but they hold the
// writer longer. A search indexes what is pending first, so the delay never
// hides a message from it.
const (
	gatherDelay = time.Second
	gatherMost  = 500
)

// OpenSQLite makes sure the index exists and holds every message: a new index
// is filled with the messages already stored, and one that was not closed
// cleanly gets the messages it missed.
func OpenSQLite(ctx context.Context, st *store.Store) (*SQLite, error) {
	return openSQLite(ctx, st, gathering{delay: gatherDelay, most: gatherMost})
}

func openSQLite(ctx context.Context, st *store.Store, g gathering) (*SQLite, error) {
	idx := &SQLite{st: st, stems: newStemmer(), gather: g, wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
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
	// A new index is empty, whatever search_state says of one dropped before.
	if clean == 0 || n == 0 {
		if err := idx.indexMissing(ctx); err != nil {
			return nil, err
		}
	}
	go idx.run()
	return idx, nil
}

// indexMissing indexes every live message the index lacks, a page per write.
func (idx *SQLite) indexMissing(ctx context.Context) error {
	idx.flushMu.Lock()
	defer idx.flushMu.Unlock()
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
		docs := make([]newDoc, len(page))
		for i, m := range page {
			docs[i] = newDoc{id: m.ID, body: m.Body}
		}
		if err := idx.write(ctx, docs); err != nil {
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
		delay := time.NewTimer(idx.gather.delay)
		select {
		case <-idx.stop:
			delay.Stop()
			return
		case <-delay.C:
		case <-idx.full:
			delay.Stop()
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

// flush indexes every message pending when it starts. On failure they stay
// pending.
func (idx *SQLite) flush(ctx context.Context) error {
	idx.flushMu.Lock()
	defer idx.flushMu.Unlock()
	idx.mu.Lock()
	docs := idx.pending
	idx.pending = nil
	idx.mu.Unlock()
	if len(docs) == 0 {
		return nil
	}
	if err := idx.write(ctx, docs); err != nil {
		idx.mu.Lock()
		idx.pending = append(docs, idx.pending...)
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

// IndexNew queues messages just created for the next indexing write, once
// their write has committed.
func (idx *SQLite) IndexNew(tx *store.Tx, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	docs := make([]newDoc, len(msgs))
	for i, m := range msgs {
		docs[i] = newDoc{id: m.ID, body: m.Body}
	}
	tx.AfterCommit(func() {
		idx.mu.Lock()
		idx.pending = append(idx.pending, docs...)
		full := len(idx.pending) >= idx.gather.most
		idx.mu.Unlock()
		idx.signal()
		if full {
			select {
			case idx.full <- struct{}{}:
			default:
			}
		}
	})
	return nil
}

// newDoc is a message to index, with the body it was written with: an edit
// indexes the message itself (Index), so the flush never needs a newer one.
type newDoc struct{ id, body string }

// write indexes those of docs that are live and not indexed yet (an edit may
// have indexed one already, a deletion or the room's may have come first),
// in one write; the caller holds flushMu. Their terms are made before it, off
// the writer; inside it, three statements prepared once serve any number of
// messages, which come as one JSON array of [id, terms].
func (idx *SQLite) write(ctx context.Context, docs []newDoc) error {
	rows := make([][2]string, len(docs))
	for i, d := range docs {
		rows[i] = [2]string{d.id, idx.stems.terms(d.body)}
	}
	js, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	batch := string(js) // text: SQLite takes a blob for its binary JSON
	return idx.st.Write(ctx, func(tx *store.Tx) error {
		// The docids given now are all above the highest one before.
		var before int64
		if err := tx.QueryRowPrepared(`SELECT COALESCE(MAX(docid), 0) FROM search_docs`).Scan(&before); err != nil {
			return err
		}
		if _, err := tx.ExecPrepared(`INSERT OR IGNORE INTO search_docs(message_id)
			SELECT m.id FROM messages m WHERE m.id IN (SELECT value->>0 FROM json_each(?)) AND m.deleted = FALSE`, batch); err != nil {
			return err
		}
		_, err := tx.ExecPrepared(`INSERT INTO search_fts(docid, terms)
			SELECT d.docid, j.value->>1 FROM json_each(?) j JOIN search_docs d ON d.message_id = j.value->>0 WHERE d.docid > ?`, batch, before)
		return err
	})
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
