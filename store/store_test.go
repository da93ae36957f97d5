package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/testkit/pgtest"
)

// storeWait bounds every wait on the writer: a deadlock guard, never a timing
// assertion.
const storeWait = 10 * time.Second

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return s
}

// openTemp opens a fresh database (a file, or PostgreSQL when the suite runs
// on it) with a scratch table kv(k, v).
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := pgtest.Database(t)
	s := openAt(t, path)
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Write(context.Background(), func(tx *Tx) error {
		return tx.Exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`).Error
	}); err != nil {
		t.Fatalf("create kv: %v", err)
	}
	return s, path
}

func insertKV(tx *Tx, k int, v string) error {
	return tx.Exec(`INSERT INTO kv(k, v) VALUES (?, ?)`, k, v).Error
}

func readKV(t testing.TB, s *Store) map[int]string {
	t.Helper()
	var rows []struct {
		K int
		V string
	}
	if err := s.Read(context.Background()).Raw(`SELECT k, v FROM kv ORDER BY k`).Scan(&rows).Error; err != nil {
		t.Fatalf("read kv: %v", err)
	}
	out := make(map[int]string, len(rows))
	for _, r := range rows {
		out[r.K] = r.V
	}
	return out
}

// holdWriter occupies the writer with a job that waits until release is
// called, so that the writes queued meanwhile are committed as one batch.
func holdWriter(t testing.TB, s *Store) (release func()) {
	t.Helper()
	started, gate, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Write(context.Background(), func(*Tx) error {
			close(started)
			<-gate
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(storeWait):
		t.Fatal("the writer did not start the holding job")
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Errorf("holding job: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// awaitQueued waits until n writes are queued behind the writer.
func awaitQueued(t testing.TB, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(storeWait)
	for len(s.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued within %s", len(s.jobs), n, storeWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// trace records, on the writer goroutine, when jobs run and when their
// after-commit hooks run.
type trace struct {
	mu  sync.Mutex
	log []string
}

func (tr *trace) add(format string, args ...any) {
	tr.mu.Lock()
	tr.log = append(tr.log, fmt.Sprintf(format, args...))
	tr.mu.Unlock()
}

func (tr *trace) entries(prefix string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, e := range tr.log {
		if strings.HasPrefix(e, prefix) {
			out = append(out, strings.TrimPrefix(e, prefix))
		}
	}
	return out
}

var errJob = errors.New("job refuses")

// Jobs of one batch share a transaction, each in its own savepoint: a failing
// job (its own error, an SQL error, a panic) undoes only its own changes.
func TestBatchRollsBackOnlyTheFailingJob(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx *Tx) error { return insertKV(tx, 0, "original") }); err != nil {
		t.Fatal(err)
	}
	n := min(120, maxBatch) // at most one batch, so the queued jobs commit together
	kind := func(i int) string {
		switch i % 4 {
		case 1:
			return "error"
		case 2:
			return "sql-error"
		case 3:
			if i%8 == 3 {
				return "panic"
			}
		}
		return "ok"
	}
	var tr trace
	release := holdWriter(t, s)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			errs[i] = s.Write(ctx, func(tx *Tx) error {
				tr.add("run %d", i)
				tx.AfterCommit(func() { tr.add("after %d", i) })
				if err := insertKV(tx, i, "new"); err != nil {
					return err
				}
				// Every job also updates the shared row; a failed job's update must not stick.
				if err := tx.Exec(`UPDATE kv SET v = ? WHERE k = 0`, fmt.Sprintf("by %d", i)).Error; err != nil {
					return err
				}
				switch kind(i) {
				case "error":
					return errJob
				case "sql-error":
					return insertKV(tx, 0, "duplicate") // UNIQUE constraint failed
				case "panic":
					panic(fmt.Sprintf("job %d panics", i))
				}
				return nil
			})
		})
	}
	awaitQueued(t, s, n)
	release()
	wg.Wait()

	// All n ran in one transaction: none's hook ran before the last one ran.
	runs := tr.entries("run ")
	if len(runs) != n {
		t.Fatalf("%d jobs ran, want %d", len(runs), n)
	}
	if first := slices.IndexFunc(tr.log, func(e string) bool { return strings.HasPrefix(e, "after ") }); first >= 0 && first < n {
		t.Fatalf("the queued writes were not committed as one batch: %v", tr.log)
	}

	rows := readKV(t, s)
	var lastOK string
	succeeded := 0
	for _, r := range runs {
		var i int
		fmt.Sscan(r, &i)
		err := errs[i]
		switch kind(i) {
		case "ok":
			if err != nil {
				t.Errorf("job %d: %v, want success", i, err)
			}
			if rows[i] != "new" {
				t.Errorf("job %d succeeded but its row is %q", i, rows[i])
			}
			lastOK = fmt.Sprintf("by %d", i)
			succeeded++
		default:
			if _, ok := rows[i]; ok {
				t.Errorf("job %d (%s) failed but its row was committed", i, kind(i))
			}
		}
		switch kind(i) {
		case "error":
			if !errors.Is(err, errJob) {
				t.Errorf("job %d: error %v, want errJob", i, err)
			}
		case "sql-error":
			if !IsUniqueViolation(err) {
				t.Errorf("job %d: error %v, want a unique violation", i, err)
			}
		case "panic":
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Errorf("job %d: error %v, want a panic error", i, err)
			}
		}
	}
	if rows[0] != lastOK {
		t.Errorf("shared row is %q, want %q (the last successful job's update)", rows[0], lastOK)
	}
	if want := 1 + succeeded; len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
	for _, k := range []string{"ok", "error", "sql-error", "panic"} {
		if !slices.ContainsFunc(runs, func(r string) bool { var i int; fmt.Sscan(r, &i); return kind(i) == k }) {
			t.Errorf("no %s job in the batch", k)
		}
	}
}

// A job alone in its batch runs without a savepoint: when it fails, the
// whole transaction rolls back, its hooks never run, and the writer goes on.
func TestLoneFailingJobLeavesNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx *Tx) error { return insertKV(tx, 1, "original") }); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name string
		fail func(tx *Tx) error
		is   func(error) bool
	}{
		{"error", func(*Tx) error { return errJob }, func(err error) bool { return errors.Is(err, errJob) }},
		{"sql-error", func(tx *Tx) error { return insertKV(tx, 1, "duplicate") }, IsUniqueViolation},
		{"panic", func(*Tx) error { panic("job panics") }, func(err error) bool { return err != nil && strings.Contains(err.Error(), "panic") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := 10 + i
			hooked := false
			err := s.Write(ctx, func(tx *Tx) error {
				tx.AfterCommit(func() { hooked = true })
				if err := insertKV(tx, k, "lost"); err != nil {
					return err
				}
				return tc.fail(tx)
			})
			if !tc.is(err) {
				t.Fatalf("error %v, want %s", err, tc.name)
			}
			if hooked {
				t.Error("the failed job's after-commit hook ran")
			}
			if v, ok := readKV(t, s)[k]; ok {
				t.Errorf("row %d = %q was committed by a failed job", k, v)
			}
			if err := s.Write(ctx, func(tx *Tx) error { return insertKV(tx, 100+k, "next") }); err != nil {
				t.Fatalf("the next write: %v", err)
			}
			if v := readKV(t, s)[100+k]; v != "next" {
				t.Errorf("the next write's row is %q", v)
			}
		})
	}
}

// After-commit hooks run in commit order, only for jobs that committed, after
// the data is visible to readers and before Write returns.
func TestAfterCommitHooks(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var tr trace
	var readable atomic.Int64 // hooks that could read their own row

	job := func(i int, fail bool) func(*Tx) error {
		return func(tx *Tx) error {
			tr.add("run %d", i)
			if err := insertKV(tx, i, "v"); err != nil {
				return err
			}
			tx.AfterCommit(func() { tr.add("after %d.a", i) })
			tx.AfterCommit(func() {
				var n int64
				if s.Read(ctx).Raw(`SELECT COUNT(*) FROM kv WHERE k = ?`, i).Scan(&n).Error == nil && n == 1 {
					readable.Add(1)
				}
				tr.add("after %d.b", i)
			})
			if fail {
				return errJob
			}
			return nil
		}
	}

	// One at a time: each hook has run by the time its Write returns.
	for i := 1; i <= 5; i++ {
		fail := i == 3
		err := s.Write(ctx, job(i, fail))
		if fail != (err != nil) {
			t.Fatalf("write %d: %v", i, err)
		}
		hooks := tr.entries("after ")
		if !fail && (len(hooks) < 2 || hooks[len(hooks)-1] != fmt.Sprintf("%d.b", i)) {
			t.Fatalf("write %d returned before its hooks ran: %v", i, hooks)
		}
	}

	// Batched: hooks follow the order the jobs ran (committed) in.
	release := holdWriter(t, s)
	const n = 50
	var wg sync.WaitGroup
	for i := 100; i < 100+n; i++ {
		wg.Go(func() { _ = s.Write(ctx, job(i, i%5 == 0)) })
	}
	awaitQueued(t, s, n)
	release()
	wg.Wait()

	var want []string
	for _, r := range tr.entries("run ") {
		var i int
		fmt.Sscan(r, &i)
		if i != 3 && !(i >= 100 && i%5 == 0) {
			want = append(want, fmt.Sprintf("%d.a", i), fmt.Sprintf("%d.b", i))
		}
	}
	if got := tr.entries("after "); !slices.Equal(got, want) {
		t.Errorf("hooks ran as\n%v\nwant (commit order, committed jobs only)\n%v", got, want)
	}
	if got, want := readable.Load(), int64(len(want)/2); got != want {
		t.Errorf("%d of %d hooks could read their committed row", got, want)
	}
}

// A panicking job fails alone; the writer keeps going.
func TestPanickingJobDoesNotKillTheWriter(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	err := s.Write(ctx, func(tx *Tx) error {
		if err := insertKV(tx, 1, "doomed"); err != nil {
			return err
		}
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("panicking write returned %v, want a panic error", err)
	}
	if err := s.Write(ctx, func(tx *Tx) error { return insertKV(tx, 2, "after") }); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
	if got, want := readKV(t, s), map[int]string{2: "after"}; !mapsEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[int]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A write whose context is already cancelled is not run.
func TestWriteWithCancelledContext(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 { // Write may see the cancellation before or after queueing
		ran := false
		err := s.Write(ctx, func(tx *Tx) error { ran = true; return insertKV(tx, 1, "x") })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("Write with a cancelled context: err %v, ran %v", err, ran)
		}
	}
	if rows := readKV(t, s); len(rows) != 0 {
		t.Errorf("rows %v, want none", rows)
	}
}

// Close commits what was queued before it; Write after Close returns ErrClosed
// and never hangs. Once Close is called the writer either takes the queued
// writes as a batch or drains them one by one: several rounds exercise both.
func TestClose(t *testing.T) {
	for round := range 6 {
		t.Run(fmt.Sprint(round), testClose)
	}
}

func testClose(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	release := holdWriter(t, s)
	const n = 10
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() { errs <- s.Write(ctx, func(tx *Tx) error { return insertKV(tx, i, "queued") }) }()
	}
	awaitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	<-s.quit // Close has begun
	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(storeWait):
		t.Fatalf("Close did not return within %s", storeWait)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("write queued before Close: %v", err)
		}
	}

	for range 3 {
		res := make(chan error, 1)
		go func() { res <- s.Write(ctx, func(tx *Tx) error { return insertKV(tx, 99, "late") }) }()
		select {
		case err := <-res:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after Close: %v, want ErrClosed", err)
			}
		case <-time.After(storeWait):
			t.Fatalf("Write after Close did not return within %s", storeWait)
		}
	}

	s2 := openAt(t, path)
	defer s2.Close()
	rows := readKV(t, s2)
	if len(rows) != n {
		t.Errorf("after reopening, %d rows, want the %d queued before Close", len(rows), n)
	}
	if _, ok := rows[99]; ok {
		t.Error("a write after Close was committed")
	}
}

// Writes racing Close either commit or get ErrClosed, and all return.
func TestWritesRacingClose(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	const n = 64
	var committed atomic.Int64
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			err := s.Write(ctx, func(tx *Tx) error { return insertKV(tx, i, "x") })
			switch {
			case err == nil:
				committed.Add(1)
			case !errors.Is(err, ErrClosed):
				t.Errorf("write %d: %v, want nil or ErrClosed", i, err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(storeWait):
		t.Fatalf("writes racing Close did not all return within %s", storeWait)
	}
	s2 := openAt(t, path)
	defer s2.Close()
	if got := len(readKV(t, s2)); int64(got) != committed.Load() {
		t.Errorf("%d rows on disk, but %d writes reported success", got, committed.Load())
	}
}

// ExecPrepared and QueryRowPrepared give the same results the first time a
// query is met (before it is prepared) and every time after; a failing
// statement fails only its own job.
func TestPreparedStatements(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const ins = `INSERT INTO kv(k, v) VALUES (?, ?)`
	const bump = `UPDATE kv SET v = v || '!' WHERE k = ? RETURNING v`
	for i := 1; i <= 4; i++ {
		var got string
		err := s.Write(ctx, func(tx *Tx) error {
			if _, err := tx.ExecPrepared(ins, i, "v"); err != nil {
				return err
			}
			// (On PostgreSQL a failed statement ends the job: see TestUniqueViolationEndsTheJob.)
			if !s.Postgres() {
				if _, err := tx.ExecPrepared(ins, i, "again"); !IsUniqueViolation(err) {
					return fmt.Errorf("duplicate insert: %v, want a unique violation", err)
				}
			}
			if err := tx.QueryRowPrepared(bump, i).Scan(&got); err != nil {
				return err
			}
			var none string
			if err := tx.QueryRowPrepared(bump, -1).Scan(&none); !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("no row: %v, want sql.ErrNoRows", err)
			}
			res, err := tx.ExecPrepared(`UPDATE kv SET v = v || '?' WHERE k = ?`, i)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("updated %d rows, want 1", n)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if got != "v!" {
			t.Errorf("write %d: RETURNING gave %q, want %q", i, got, "v!")
		}
		// A job that fails after a prepared statement leaves nothing behind.
		if err := s.Write(ctx, func(tx *Tx) error {
			if _, err := tx.ExecPrepared(ins, 100+i, "doomed"); err != nil {
				return err
			}
			return errJob
		}); !errors.Is(err, errJob) {
			t.Fatalf("failing write %d: %v", i, err)
		}
		// A statement that cannot be prepared fails its job, every time.
		if _, err := writeExec(s, `INSERT INTO no_such_table VALUES (?)`, i); err == nil {
			t.Fatalf("write %d to a missing table succeeded", i)
		}
	}
	want := map[int]string{1: "v!?", 2: "v!?", 3: "v!?", 4: "v!?"}
	if got := readKV(t, s); !mapsEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

func writeExec(s *Store, query string, args ...any) (n int64, err error) {
	err = s.Write(context.Background(), func(tx *Tx) error {
		res, err := tx.ExecPrepared(query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

type migrationRow struct {
	Version   int
	AppliedAt time.Time
}

func appliedMigrations(t testing.TB, s *Store) []migrationRow {
	t.Helper()
	var rows []migrationRow
	if err := s.Read(context.Background()).Raw(`SELECT version, applied_at FROM schema_migrations ORDER BY version`).
		Scan(&rows).Error; err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return rows
}

// Every migration is recorded once; opening the same file again changes nothing.
func TestMigrationsRecordedOnce(t *testing.T) {
	path := pgtest.Database(t)
	s := openAt(t, path)
	first := appliedMigrations(t, s)
	if len(first) != len(migrations) {
		t.Fatalf("%d migrations recorded, want %d", len(first), len(migrations))
	}
	for i, r := range first {
		if r.Version != i+1 || r.AppliedAt.IsZero() {
			t.Errorf("schema_migrations row %d: %+v", i, r)
		}
	}
	for _, table := range []string{"tenants", "users", "sessions", "refresh_tokens", "invites", "api_keys",
		"rooms", "room_members", "messages", "events"} {
		var n int64
		if err := s.Read(context.Background()).Raw(`SELECT COUNT(*) FROM ` + table).Scan(&n).Error; err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s = openAt(t, path)
		again := appliedMigrations(t, s)
		if len(again) != len(first) {
			t.Fatalf("after reopening, %d migrations recorded, want %d", len(again), len(first))
		}
		for i := range again {
			if again[i].Version != first[i].Version || !again[i].AppliedAt.Equal(first[i].AppliedAt) {
				t.Errorf("migration %d re-applied: %+v, was %+v", i+1, again[i], first[i])
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A database migrated by a newer binary is refused, not mangled.
func TestOpenRefusesNewerSchema(t *testing.T) {
	path := pgtest.Database(t)
	s := openAt(t, path)
	future := len(migrations) + 1
	if err := s.Write(context.Background(), func(tx *Tx) error {
		return tx.Exec(`INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`, future, time.Now().UTC()).Error
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err == nil {
		s2.Close()
		t.Fatal("opening a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

// Committed data survives closing and reopening the file.
func TestDataSurvivesReopen(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.Write(ctx, func(tx *Tx) error {
		if err := tx.Create(&Tenant{ID: "t1", Slug: "acme", Name: "Acme", SignupPolicy: "open", CreatedAt: now}).Error; err != nil {
			return err
		}
		if _, err := tx.ExecPrepared(`INSERT INTO kv(k, v) VALUES (?, ?)`, 7, "prepared"); err != nil {
			return err
		}
		return insertKV(tx, 8, "plain")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	defer s2.Close()
	var tenant Tenant
	if err := s2.Read(ctx).Where("slug = ?", "acme").Take(&tenant).Error; err != nil {
		t.Fatalf("tenant after reopen: %v", err)
	}
	if tenant.ID != "t1" || tenant.Name != "Acme" || !tenant.CreatedAt.Equal(now) {
		t.Errorf("tenant after reopen: %+v", tenant)
	}
	if got, want := readKV(t, s2), map[int]string{7: "prepared", 8: "plain"}; !mapsEqual(got, want) {
		t.Errorf("rows after reopen %v, want %v", got, want)
	}
	if err := s2.Write(ctx, func(tx *Tx) error { return insertKV(tx, 9, "more") }); err != nil {
		t.Errorf("write after reopen: %v", err)
	}
}

// BenchmarkWriteDurable: b.N one-row inserts from concurrent writers, each
// returning only once its row is durably committed (synchronous=FULL).
func BenchmarkWriteDurable(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := s.Write(ctx, func(tx *Tx) error {
							_, err := tx.ExecPrepared(`INSERT INTO kv(k, v) VALUES (?, ?)`, i, "benchmark row")
							return err
						}); err != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d writes failed", n)
			}
			var rows int64
			if err := s.Read(ctx).Raw(`SELECT COUNT(*) FROM kv`).Scan(&rows).Error; err != nil || rows != int64(b.N) {
				b.Fatalf("%d rows (%v), want %d", rows, err, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// Invites made before invites had a public prefix keep working once migrated:
// single use, and listed under a stand-in prefix taken from their hash.
func TestInvitesMigrationKeepsOlderInvites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	prefixed := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "ALTER TABLE invites ADD COLUMN prefix") })
	if prefixed < 0 {
		t.Fatal("no migration adds the invites' prefix")
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at DATETIME NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for version := 1; version <= prefixed; version++ {
		if err := (&Store{}).applyMigration(ctx, db, version); err != nil {
			t.Fatalf("migration %d: %v", version, err)
		}
	}
	now := time.Now().UTC()
	for _, stmt := range []string{
		`INSERT INTO tenants(id, slug, name, created_at) VALUES ('t1', 'acme', 'Acme', ?)`,
		`INSERT INTO invites(hash, tenant_id, created_by, created_at, expires_at) VALUES ('0123456789abcdef', 't1', 'u1', ?, ?)`,
		`INSERT INTO invites(hash, tenant_id, created_by, created_at, expires_at) VALUES ('fedcba9876543210', 't1', 'u1', ?, ?)`,
	} {
		if _, err := db.ExecContext(ctx, stmt, now, now.Add(time.Hour)); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	defer s.Close()
	var invites []Invite
	if err := s.Read(ctx).Order("hash").Find(&invites).Error; err != nil {
		t.Fatal(err)
	}
	if len(invites) != 2 {
		t.Fatalf("%d invites after migrating, want 2", len(invites))
	}
	for _, inv := range invites {
		if inv.Prefix != "~"+inv.Hash[:11] || inv.MaxUses != 1 || inv.Uses != 0 || !inv.ExpiresAt.After(now) {
			t.Errorf("migrated invite %+v", inv)
		}
	}
}

// The SQLite writer's connection keeps every commit durable (WAL,
// synchronous=FULL, foreign keys on) and its statement journals in memory.
func TestWriterPragmas(t *testing.T) {
	s, _ := openTemp(t)
	if s.Postgres() {
		t.Skip("SQLite's settings")
	}
	for _, tc := range []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"temp_store", "2"}, // MEMORY
	} {
		var got string
		if err := s.Write(context.Background(), func(tx *Tx) error {
			return tx.QueryRowPrepared("PRAGMA " + tc.pragma).Scan(&got)
		}); err != nil {
			t.Fatalf("read %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("writer's %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
}
