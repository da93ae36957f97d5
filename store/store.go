// Package store owns the database: opening it, its schema, and the single
// writer through which every change goes.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"parley/internal/fault"
)

// maxBatch bounds how many writes share one commit (and one fsync).
const maxBatch = 256

// Store is the database. Reads go through a pool of connections; writes go
// through one connection owned by a single goroutine, which commits queued
// writes in batches so that many posts share one fsync, never meets "database
// is locked", and runs each write's after-commit hooks in commit order.
type Store struct {
	read  *gorm.DB
	write *gorm.DB
	wsql  *sql.DB              // the writer's one connection, for statements prepared once
	stmts map[string]*sql.Stmt // owned by the writer goroutine
	jobs  chan *job
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	log   *slog.Logger
	cache *Cache
	pg    bool // PostgreSQL, else SQLite
	// On PostgreSQL (shared.go): this node among those sharing the
	// database, its membership once it shares its cache, and how far the
	// other members have applied the log.
	node  string
	share atomic.Pointer[sharing]
	acks  acks
}

// Tx is a write in progress. AfterCommit hooks run, in commit order, once the
// transaction is durable, and never if it rolls back.
type Tx struct {
	*gorm.DB
	sqlTx *sql.Tx
	store *Store
	after []func()
	keys  []string // invalidated
}

// AfterCommit schedules f to run after the write is durably committed.
func (t *Tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// Invalidate makes the cache forget the rows with these keys once this write
// has committed, in commit order and before Write returns. Every write of a
// row that is read through the cache must name its key here.
// On PostgreSQL the keys are also logged for the other nodes, and the write
// returns once every node that may serve them from its cache has forgotten
// them (shared.go).
func (t *Tx) Invalidate(keys ...string) {
	cache := t.store.cache
	t.keys = append(t.keys, keys...)
	t.AfterCommit(func() { cache.Invalidate(keys...) })
}

// ExecPrepared runs a statement prepared once on the writer's connection and
// reused by every transaction after: for the hot paths, where preparing each
// time (as GORM does inside transactions) would cost more than the work.
func (t *Tx) ExecPrepared(query string, args ...any) (sql.Result, error) {
	ctx := t.Statement.Context
	if st := t.store.prepared(query); st != nil {
		return t.sqlTx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.sqlTx.ExecContext(ctx, t.store.Rebind(query), args...)
}

// QueryRowPrepared is ExecPrepared for a statement that returns one row.
func (t *Tx) QueryRowPrepared(query string, args ...any) *sql.Row {
	ctx := t.Statement.Context
	if st := t.store.prepared(query); st != nil {
		return t.sqlTx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.sqlTx.QueryRowContext(ctx, t.store.Rebind(query), args...)
}

// QueryPrepared is ExecPrepared for a statement that returns rows.
func (t *Tx) QueryPrepared(query string, args ...any) (*sql.Rows, error) {
	ctx := t.Statement.Context
	if st := t.store.prepared(query); st != nil {
		return t.sqlTx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.sqlTx.QueryContext(ctx, t.store.Rebind(query), args...)
}

// ExecRaw runs a statement without preparing it for later, and without
// GORM: for statements whose shape varies too much to keep prepared (a
// VALUES list of any length).
func (t *Tx) ExecRaw(query string, args ...any) (sql.Result, error) {
	return t.sqlTx.ExecContext(t.Statement.Context, t.store.Rebind(query), args...)
}

// QueryRaw is ExecRaw for a statement that returns rows.
func (t *Tx) QueryRaw(query string, args ...any) (*sql.Rows, error) {
	return t.sqlTx.QueryContext(t.Statement.Context, t.store.Rebind(query), args...)
}

// prepared returns the statement for query if it is ready; a new query is
// prepared after the current commit, when the one connection is free again.
// On PostgreSQL there is none: pgx prepares and keeps every statement of its
// connection itself.
func (s *Store) prepared(query string) *sql.Stmt {
	if s.pg {
		return nil
	}
	st, ok := s.stmts[query]
	if !ok {
		s.stmts[query] = nil
	}
	return st
}

// prepareNew prepares the queries first met in the last batch.
func (s *Store) prepareNew() {
	for query, st := range s.stmts {
		if st != nil {
			continue
		}
		st, err := s.wsql.Prepare(query)
		if err != nil {
			delete(s.stmts, query)
			continue
		}
		s.stmts[query] = st
	}
}

type job struct {
	ctx   context.Context
	fn    func(*Tx) error
	after []func()
	inv   *invalidation // the cache keys it logged (PostgreSQL)
	err   error
	done  chan struct{}
}

// ErrClosed is returned for writes attempted after Close.
var ErrClosed = errors.New("store is closed")

// Open opens the database and migrates it: PostgreSQL when dsn is a
// postgres:// URL, otherwise the SQLite file at dsn (created if needed).
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn, log)
	}
	return openSQLite(ctx, dsn, log)
}

func openSQLite(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	// WAL lets readers run beside the writer; synchronous=FULL makes each commit
	// durable before a post is acknowledged; foreign keys keep rows consistent.
	params := "?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=10000"
	gcfg := &gorm.Config{SkipDefaultTransaction: true, Logger: logger.Discard, PrepareStmt: true}
	// The writer does not use GORM's statement cache: inside a transaction it
	// prepares every statement anew. Hot statements use ExecPrepared instead.
	wdb := sql.OpenDB(writerConnector("file:" + path + params + "&_txlock=immediate"))
	wdb.SetMaxOpenConns(1)
	write, err := gorm.Open(sqlite.New(sqlite.Config{Conn: wdb}),
		&gorm.Config{SkipDefaultTransaction: true, Logger: logger.Discard})
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := newStore(write, wdb, log, false)
	if err := s.migrate(ctx, wdb); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	if err := ownerOnly(path); err != nil { // the -wal and -shm exist now
		_ = wdb.Close()
		return nil, err
	}
	read, err := gorm.Open(sqlite.Open("file:"+path+params), gcfg)
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open database for reading: %w", err)
	}
	rdb, _ := read.DB()
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	s.read = read
	go s.run()
	return s, nil
}

// openPostgres connects to PostgreSQL: a pool for reads and one connection
// for the writer, as on SQLite. Several nodes may share the database; the
// writer's batches then serialise on an advisory lock (see commit).
func openPostgres(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	// pgx caches each connection's prepared statements itself: no GORM cache.
	gcfg := &gorm.Config{SkipDefaultTransaction: true, Logger: logger.Discard}
	write, err := gorm.Open(postgres.Open(url), gcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	wdb, err := write.DB()
	if err != nil {
		return nil, err
	}
	// The writer keeps one connection; migrations take a second one for the
	// schema lock's session, closed when they are done.
	wdb.SetMaxOpenConns(2)
	wdb.SetMaxIdleConns(1)
	s := newStore(write, wdb, log, true)
	if err := s.migrate(ctx, wdb); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	readURL, err := withoutCommitWait(url)
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	read, err := gorm.Open(postgres.Open(readURL), gcfg)
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("connect to PostgreSQL for reading: %w", err)
	}
	rdb, _ := read.DB()
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(4)
	rdb.SetConnMaxIdleTime(time.Minute)
	s.read = read
	go s.run()
	return s, nil
}

func newStore(write *gorm.DB, wdb *sql.DB, log *slog.Logger, pg bool) *Store {
	// One node owns a SQLite file: every change passes its writer, so a cache
	// invalidated by the writer is never stale. PostgreSQL may be shared by
	// several nodes: there the cache serves only while it is proven current
	// (shared.go).
	s := &Store{write: write, wsql: wdb, stmts: map[string]*sql.Stmt{}, pg: pg,
		jobs: make(chan *job, maxBatch), quit: make(chan struct{}), done: make(chan struct{}), log: log,
		cache: NewCache(true), acks: acks{applied: map[string]int64{}, changed: make(chan struct{})}}
	if pg {
		s.cache, s.node = newSharedCache(), newNodeID()
	}
	return s
}

// Postgres reports whether the store runs on PostgreSQL (else SQLite).
func (s *Store) Postgres() bool { return s.pg }

// Cache holds rows read outside the writer until a commit changes them.
func (s *Store) Cache() *Cache { return s.cache }

// Read returns a handle for queries. Never write through it.
func (s *Store) Read(ctx context.Context) *gorm.DB { return s.read.WithContext(ctx) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	db, err := s.read.DB()
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}

// Write runs fn in a transaction on the writer and returns once it is durably
// committed (nil) or rolled back (fn's error). Once queued, a write runs to the
// end even if ctx is cancelled meanwhile, so the caller always learns its fate.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	case s.jobs <- j:
	}
	select {
	case <-j.done:
		if j.err == nil && j.inv != nil {
			s.awaitPeers(j.inv)
		}
		return j.err
	case <-s.done:
		// The writer has stopped; it finishes every job it took before that.
		select {
		case <-j.done:
			return j.err
		default:
			return ErrClosed
		}
	}
}

// Close finishes queued writes and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.stopSharing()
		close(s.quit)
	})
	<-s.done
	var errs []error
	for _, st := range s.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*gorm.DB{s.read, s.write} {
		if sqlDB, err := db.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *Store) run() {
	defer close(s.done)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.quit:
			// Drain what was queued before Close so no caller waits forever.
			for {
				select {
				case j := <-s.jobs:
					s.commit([]*job{j})
				default:
					return
				}
			}
		}
		batch := []*job{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch in one transaction, each job inside its own savepoint so
// that one failing job rolls back only its own changes.
func (s *Store) commit(batch []*job) {
	defer func() {
		for _, j := range batch {
			close(j.done)
		}
		s.prepareNew()
	}()
	tx := s.write.Begin()
	sqlTx, _ := tx.Statement.ConnPool.(*sql.Tx)
	if tx.Error == nil && sqlTx == nil {
		tx.Error = errors.New("writer transaction is not a *sql.Tx")
	}
	if tx.Error != nil {
		for _, j := range batch {
			j.err = fmt.Errorf("begin: %w", tx.Error)
		}
		return
	}
	if s.pg {
		// Every batch of every node holds this lock from before its first
		// event row until it commits: event ids, drawn from the sequence
		// inside the lock, are therefore in commit order across nodes, and a
		// stream that has seen id n can never later meet a smaller id
		// committing (docs/CLUSTER.md, "Cursors"). Taking it first, before
		// any row lock, means two nodes' batches cannot deadlock.
		if _, err := sqlTx.Exec(`SELECT pg_advisory_xact_lock($1)`, int64(appendLockKey)); err != nil {
			_ = tx.Rollback()
			for _, j := range batch {
				j.err = fmt.Errorf("take the append lock: %w", err)
			}
			return
		}
	}
	// A job alone in its batch needs no savepoint: if it fails, the whole
	// transaction rolls back, and nothing else was in it.
	alone := len(batch) == 1
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		t := &Tx{DB: tx.WithContext(context.WithoutCancel(j.ctx)), sqlTx: sqlTx, store: s}
		sp := "w" + strconv.Itoa(i)
		if !alone {
			if _, err := t.ExecPrepared("SAVEPOINT " + sp); err != nil {
				j.err = fmt.Errorf("savepoint: %w", err)
				continue
			}
		}
		err := runJob(j.fn, t)
		if err == nil && s.pg && len(t.keys) > 0 {
			j.inv, err = s.logInvalidation(t)
		}
		if err != nil {
			j.inv = nil
			j.err = err
			if alone {
				if rbErr := tx.Rollback().Error; rbErr != nil {
					j.err = errors.Join(err, rbErr)
				}
				return
			}
			if _, rbErr := t.ExecPrepared("ROLLBACK TO SAVEPOINT " + sp); rbErr != nil {
				j.err = errors.Join(err, rbErr)
			}
			continue
		}
		// On PostgreSQL each statement is a round trip: the savepoint is left
		// open (the next one nests in it, the commit ends them all), which
		// changes nothing for a later job's rollback to its own savepoint.
		if !s.pg && !alone {
			if _, err := t.ExecPrepared("RELEASE SAVEPOINT " + sp); err != nil {
				j.err = err
				continue
			}
		}
		j.after = t.after
	}
	if err := tx.Commit().Error; err != nil {
		s.log.Error("commit failed", "err", err, "batch", len(batch))
		for _, j := range batch {
			if j.err == nil {
				j.err = fmt.Errorf("commit: %w", err)
			}
		}
		return
	}
	for _, j := range batch {
		if j.err == nil {
			for _, f := range j.after {
				f()
			}
			if j.inv != nil {
				s.published(j.inv)
			}
		}
	}
}

func runJob(fn func(*Tx) error, t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write panicked: %v", r)
		}
	}()
	return fn(t)
}

// Quota caps how many rows of one kind an owner (a tenant, a room, a user)
// may have.
type Quota struct {
	Limit   string // which cap, as named in metrics (e.g. "rooms_per_tenant")
	Max     int    // 0: no cap
	Message string // what the client is told when the cap is reached
}

// WithinQuota refuses (fault.QuotaExceeded) when the rows of model matching
// where already number q.Max. It runs inside the write that adds one more,
// and the single writer runs one write at a time, so parallel requests cannot
// both take the last place. (Several writers, as on PostgreSQL with several
// nodes, are serialised too: each batch holds the append lock, see commit.)
func (t *Tx) WithinQuota(q Quota, model any, where string, args ...any) error {
	if q.Max <= 0 {
		return nil
	}
	var n int64
	if err := t.Model(model).Where(where, args...).Count(&n).Error; err != nil {
		return fmt.Errorf("count for %s: %w", q.Limit, err)
	}
	if n >= int64(q.Max) {
		return fault.OverLimit(fault.QuotaExceeded, q.Limit, fmt.Sprintf("%s (%d)", q.Message, q.Max))
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint failure.
func IsUniqueViolation(err error) bool {
	return err != nil && (errors.Is(err, gorm.ErrDuplicatedKey) || isUniqueViolation(err))
}

// IsNotFound reports whether err means no row matched.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

// NotFound turns "no row matched" into a NotFound fault about what, and passes
// other errors (and nil) on.
func NotFound(err error, what string) error {
	if IsNotFound(err) {
		return fault.New(fault.NotFound, what+" not found")
	}
	return err
}
