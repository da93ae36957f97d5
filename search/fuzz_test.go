package search

import (
	"database/sql"
	"errors"
	"testing"
	"unicode/utf8"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ftsTable is an in-memory FTS4 table like the index, holding one row.
func ftsTable(f *testing.F) *sql.DB {
	f.Helper()
	g, err := gorm.Open(sqlite.Open(":memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		f.Fatal(err)
	}
	db, err := g.DB()
	if err != nil {
		f.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	f.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE VIRTUAL TABLE fts USING fts4(terms, tokenize=simple)`); err != nil {
		f.Fatal(err)
	}
	return db
}

// Whatever a person types, the query is a MATCH expression SQLite accepts
// (never a 500, never an operator of the user's making), a body is found by
// a query of its own text, and highlights are ordered ranges inside the body.
func FuzzParseQuery(f *testing.F) {
	db := ftsTable(f)
	for _, seed := range [][2]string{
		{"你好", "大家你好啊"}, {"Party", "Two parties"}, {"OR NOT \"x", "or"}, {"a* NEAR/3 b", "a b"},
		{"terms:x", "x"}, {"-x +y", "x y"}, {"(x)", "x"}, {"İstanbul ǅemal ß", "istanbul"}, {"好", "好"},
		{"e\u0301t\u00e9", "été"}, {"x\x00y", "x y"}, {"١٢٣ ٤", "١٢٣"}, {"ＡＢＣ", "abc"}, {"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		if !utf8.ValidString(query) || !utf8.ValidString(body) {
			return // the API refuses invalid UTF-8 before it gets here
		}
		if _, err := db.Exec(`DELETE FROM fts`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO fts(docid, terms) VALUES (1, ?)`, Terms(body)); err != nil {
			t.Fatal(err)
		}
		q, err := ParseQuery(query)
		switch {
		case errors.Is(err, ErrEmpty):
		case err != nil:
			t.Fatalf("ParseQuery(%q): %v", query, err)
		default:
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM fts WHERE fts MATCH ?`, q.Match).Scan(&n); err != nil {
				t.Fatalf("query %q became MATCH %q, which SQLite refuses: %v", query, q.Match, err)
			}
		}
		checkHighlights(t, q, body)

		self, err := ParseQuery(body)
		if err != nil {
			return
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM fts WHERE fts MATCH ?`, self.Match).Scan(&n); err != nil || n != 1 {
			t.Fatalf("body %q is not found by its own text (MATCH %q): %d rows, %v", body, self.Match, n, err)
		}
		if len(checkHighlights(t, self, body)) == 0 {
			t.Fatalf("body %q searched for itself has no highlight", body)
		}
	})
}

// checkHighlights checks that q's highlights in body are ordered, apart and inside it.
func checkHighlights(t *testing.T, q Query, body string) [][2]int {
	t.Helper()
	hl := q.Highlights(body)
	end := 0
	for i, h := range hl {
		if h[0] >= h[1] || h[0] < end || (i > 0 && h[0] == end) || h[1] > utf8.RuneCountInString(body) {
			t.Fatalf("highlights %v of %q in %q", hl, q.Match, body)
		}
		end = h[1]
	}
	return hl
}
