// Package pgtest gives tests a fresh PostgreSQL database each: created with
// a random name, dropped when the test ends. It depends on nothing of
// Parley's, so every package's tests may use it (store's own included).
//
// PARLEY_TEST_DATABASE_URL names the server (any database on it, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Set, the
// suites that can run on either database (testkit servers, store, search)
// run on PostgreSQL. Tests that need PostgreSQL whatever the suite runs on
// (several nodes sharing one database) use it, or that local default, and
// skip when it is unreachable, unless PARLEY_REQUIRE_POSTGRES=1.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvURL is the environment variable that names the test server.
const EnvURL = "PARLEY_TEST_DATABASE_URL"

// defaultURL is the machine's own PostgreSQL (trust auth for postgres).
const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Enabled reports whether the suites run on PostgreSQL (EnvURL is set).
func Enabled() bool { return os.Getenv(EnvURL) != "" }

// Fresh creates an empty database and returns its URL; the database is
// dropped when t ends (after cleanups registered later, such as a server's
// stop). It skips t when PostgreSQL is unreachable, or fails it when
// PARLEY_REQUIRE_POSTGRES=1.
func Fresh(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		base = defaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		if os.Getenv("PARLEY_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL at %s is unreachable (PARLEY_REQUIRE_POSTGRES=1): %v", u.Redacted(), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable (set %s, or PARLEY_REQUIRE_POSTGRES=1 to fail instead): %v", u.Redacted(), EnvURL, err)
	}
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	name := "parley_test_" + hex.EncodeToString(raw)
	// template0 with the C collation: byte order for text, as SQLite sorts.
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`); err != nil {
		_ = admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Database is what a suite that runs on either database opens: a fresh
// PostgreSQL database when the suite runs on PostgreSQL (Enabled), else a
// new SQLite file in t's temporary directory.
func Database(t testing.TB) string {
	t.Helper()
	if Enabled() {
		return Fresh(t)
	}
	return filepath.Join(t.TempDir(), "parley.db")
}
