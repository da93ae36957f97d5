package store

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"parley/internal/testkit/pgtest"
)

// Nodes started at the same moment on a fresh PostgreSQL database migrate it
// once: every Open succeeds and each migration is recorded once.
func TestParallelOpensMigrateOnce(t *testing.T) {
	dsn := pgtest.Fresh(t)
	const nodes = 4
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), dsn, slog.New(slog.DiscardHandler)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
		if !stores[i].Postgres() {
			t.Fatalf("node %d is not on PostgreSQL", i)
		}
	}
	rows := appliedMigrations(t, stores[0])
	if len(rows) != len(migrations) {
		t.Fatalf("%d migrations recorded, want %d: %+v", len(rows), len(migrations), rows)
	}
	for i, r := range rows {
		if r.Version != i+1 {
			t.Errorf("schema_migrations row %d: %+v", i, r)
		}
	}
	// Extend, too, creates once however many nodes ask at the same time.
	created := make([]bool, nodes)
	for i := range nodes {
		wg.Go(func() {
			created[i], errs[i] = stores[i].Extend(context.Background(), "extra", `CREATE TABLE extra (k BIGINT PRIMARY KEY)`)
		})
	}
	wg.Wait()
	n := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d extends: %v", i, errs[i])
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the table was created %d times", n)
	}
}

func TestRebind(t *testing.T) {
	for _, c := range [][2]string{
		{`SELECT 1`, `SELECT 1`},
		{`INSERT INTO kv(k, v) VALUES (?, ?)`, `INSERT INTO kv(k, v) VALUES ($1, $2)`},
		{`UPDATE kv SET v = v || '?' WHERE k = ?`, `UPDATE kv SET v = v || '?' WHERE k = $1`},
		{`SELECT "a?b", 'it''s?' FROM t WHERE x = ? AND y = ?`, `SELECT "a?b", 'it''s?' FROM t WHERE x = $1 AND y = $2`},
	} {
		if got := rebind(c[0]); got != c[1] {
			t.Errorf("rebind(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// A unique violation is recognised on both databases, and the job that met
// it rolls back alone (on PostgreSQL, a failed statement aborts the job's
// savepoint: a job must return the error, as every caller does).
func TestUniqueViolationEndsTheJob(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := writeExec(s, `INSERT INTO kv(k, v) VALUES (?, ?)`, 1, "one"); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	errs := make(chan error, 2)
	go func() { _, err := writeExec(s, `INSERT INTO kv(k, v) VALUES (?, ?)`, 1, "dup"); errs <- err }()
	awaitQueued(t, s, 1)
	go func() { _, err := writeExec(s, `INSERT INTO kv(k, v) VALUES (?, ?)`, 2, "two"); errs <- err }()
	awaitQueued(t, s, 2)
	release()
	var dup, ok int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case IsUniqueViolation(err):
			dup++
		default:
			t.Errorf("write: %v", err)
		}
	}
	if dup != 1 || ok != 1 {
		t.Fatalf("%d unique violations and %d successes, want 1 and 1", dup, ok)
	}
	if got, want := readKV(t, s), map[int]string{1: "one", 2: "two"}; !mapsEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
