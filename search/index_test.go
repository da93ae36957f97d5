package search

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/internal/testkit/pgtest"
	"parley/store"
)

// openStore is a fresh database: a SQLite file, or PostgreSQL when the suite
// runs on it (PARLEY_TEST_DATABASE_URL).
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.Database(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// createRooms adds a tenant and its public rooms, for messages to go in.
func createRooms(tb testing.TB, st *store.Store, tenantID string, roomIDs ...string) {
	tb.Helper()
	now := store.Now()
	err := st.Write(context.Background(), func(tx *store.Tx) error {
		if err := tx.Create(&store.Tenant{ID: tenantID, Slug: tenantID, Name: tenantID, SignupPolicy: "open", CreatedAt: now}).Error; err != nil {
			return err
		}
		for _, r := range roomIDs {
			if err := tx.Create(&store.Room{ID: r, TenantID: tenantID, Name: r, Visibility: "public", CreatedBy: "u1",
				CreatedAt: now, LastActivityAt: now, Kind: "room"}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// post stores messages and hands them to the index as new.
func post(tb testing.TB, st *store.Store, idx Index, msgs ...store.Message) {
	tb.Helper()
	err := st.Write(context.Background(), func(tx *store.Tx) error {
		if err := tx.CreateInBatches(&msgs, 100).Error; err != nil {
			return err
		}
		return idx.IndexNew(tx, msgs)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// The index of either database finds the same messages: Chinese by any part
// of a word, English regardless of case and plurals, edits and deletions at
// once, and never another tenant's.
func TestIndexFinds(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	idx, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close(ctx) }) // before the store closes
	bodies := []string{"大家你好啊", "Two parties tonight", "你好世界", "PARTY time", "好", "Café été", "nothing here"}
	now := store.Now()
	var msgs []store.Message
	for i, b := range bodies {
		msgs = append(msgs, store.Message{ID: fmt.Sprintf("m%02d", i), TenantID: "t1", RoomID: "r1", Seq: int64(i + 1),
			AuthorID: "u1", Body: b, CreatedAt: now})
	}
	other := store.Message{ID: "m99", TenantID: "t2", RoomID: "r2", Seq: 1, AuthorID: "u2", Body: "大家你好啊 party", CreatedAt: now}
	createRooms(t, st, "t1", "r1")
	createRooms(t, st, "t2", "r2")
	post(t, st, idx, append(slices.Clone(msgs), other)...)
	find := func(text string) []string {
		t.Helper()
		q, err := ParseQuery(text)
		if err != nil {
			t.Fatal(err)
		}
		found, _, err := idx.Find(ctx, q, Scope{TenantID: "t1", UserID: "u1", Limit: 50})
		if err != nil {
			t.Fatalf("find %q: %v", text, err)
		}
		var out []string
		for _, m := range found {
			out = append(out, m.Body)
		}
		slices.Sort(out)
		return out
	}
	check := func(text string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := find(text); !slices.Equal(got, want) {
			t.Errorf("%q found %q, want %q", text, got, want)
		}
	}
	check("你好", "你好世界", "大家你好啊")
	check("好", "你好世界", "大家你好啊", "好")
	check("大家好") // 家好 is in no message
	check("party", "PARTY time", "Two parties tonight")
	check("Parties", "PARTY time", "Two parties tonight")
	check("CAFÉ", "Café été")
	check("你好 tonight")
	check("tonight parties", "Two parties tonight")

	edited, deleted := msgs[1], msgs[0]
	edited.Body = "one gathering"
	deleted.Deleted = true
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Model(&store.Message{}).Where("id = ?", edited.ID).Update("body", edited.Body).Error; err != nil {
			return err
		}
		if err := tx.Model(&store.Message{}).Where("id = ?", deleted.ID).Update("deleted", true).Error; err != nil {
			return err
		}
		if err := idx.Index(tx, edited); err != nil {
			return err
		}
		return idx.Index(tx, deleted)
	})
	if err != nil {
		t.Fatal(err)
	}
	check("party", "PARTY time")
	check("gatherings", "one gathering")
	check("你好", "你好世界")

	err = st.Write(ctx, func(tx *store.Tx) error { return idx.DropRoom(tx, "r1") })
	if err != nil {
		t.Fatal(err)
	}
	check("好")
}

// Whatever a person types, the index of either database accepts the query
// (never a 500), and a body is found by a query of its own text.
func TestIndexTakesAnyText(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	idx, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close(ctx) })
	bodies := []string{"OR NOT \"x", "a* NEAR/3 b", "terms:x", "-x +y", "(x)", "İstanbul ǅemal ß", "e\u0301t\u00e9",
		"١٢٣ ٤", "ＡＢＣ", `it's a \ back'slash`, "x & y | !z <-> w:*", "日本語のテキスト", "한국어 텍스트", strings.Repeat("long", 600)}
	now := store.Now()
	var msgs []store.Message
	for i, b := range bodies {
		msgs = append(msgs, store.Message{ID: fmt.Sprintf("m%02d", i), TenantID: "t1", RoomID: "r1", Seq: int64(i + 1),
			AuthorID: "u1", Body: b, CreatedAt: now})
	}
	createRooms(t, st, "t1", "r1")
	post(t, st, idx, msgs...)
	for _, m := range msgs {
		if len([]rune(m.Body)) > MaxQuery {
			continue // indexed, but longer than any query (rooms.Search refuses those)
		}
		q, err := ParseQuery(m.Body)
		if err != nil {
			t.Fatalf("%q: %v", m.Body, err)
		}
		found, _, err := idx.Find(ctx, q, Scope{TenantID: "t1", UserID: "u1", Limit: 50})
		if err != nil {
			t.Fatalf("%q: the database refuses the query: %v", m.Body, err)
		}
		if !slices.ContainsFunc(found, func(f store.Message) bool { return f.ID == m.ID }) {
			t.Errorf("%q is not found by its own text", m.Body)
		}
	}
}

// New messages reach SQLite's index a moment after their commit, with the
// bodies they were posted with. An edit or a deletion in that moment changes
// the index itself, and the later flush leaves the message as that left it:
// the edited body found, not the first; the deleted message, and those of a
// deleted room, not found at all.
func TestSQLiteFlushHonoursWhatCameBefore(t *testing.T) {
	st := openStore(t)
	if st.Postgres() {
		t.Skip("SQLite's index only: PostgreSQL indexes each message inside the write that posts it")
	}
	ctx := context.Background()
	idx, err := openSQLite(ctx, st, gathering{delay: time.Hour, most: math.MaxInt}) // no flush by time: only Find's, after the changes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close(ctx) })
	createRooms(t, st, "t1", "r1", "r2")
	msg := func(id, room string, seq int64, body string) store.Message {
		return store.Message{ID: id, TenantID: "t1", RoomID: room, Seq: seq, AuthorID: "u1", Body: body, CreatedAt: store.Now()}
	}
	kept, edited, deleted, gone := msg("m1", "r1", 1, "kept apple"), msg("m2", "r1", 2, "first apple"),
		msg("m3", "r1", 3, "deleted apple"), msg("m4", "r2", 1, "gone apple")
	post(t, st, idx, kept, edited, deleted, gone)
	edited.Body, deleted.Deleted = "second pear", true
	err = st.Write(ctx, func(tx *store.Tx) error {
		for _, m := range []store.Message{edited, deleted} {
			if err := tx.Model(&store.Message{}).Where("id = ?", m.ID).
				Updates(map[string]any{"body": m.Body, "deleted": m.Deleted}).Error; err != nil {
				return err
			}
			if err := idx.Index(tx, m); err != nil {
				return err
			}
		}
		if err := idx.DropRoom(tx, "r2"); err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM rooms WHERE id = 'r2'`).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{{"apple", []string{"m1"}}, {"pear", []string{"m2"}}, {"first", nil}, {"deleted", nil}, {"gone", nil}} {
		q, err := ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		found, _, err := idx.Find(ctx, q, Scope{TenantID: "t1", UserID: "u1", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range found {
			ids = append(ids, m.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%q found %v, want %v", c.query, ids, c.want)
		}
	}
	var docs, fts int64
	if err := st.Read(ctx).Raw(`SELECT (SELECT COUNT(*) FROM search_docs), (SELECT COUNT(*) FROM search_fts)`).Row().Scan(&docs, &fts); err != nil {
		t.Fatal(err)
	}
	if docs != 2 || fts != 2 {
		t.Errorf("the index holds %d docids and %d documents, want 2 of each (kept and edited)", docs, fts)
	}
}

// New messages are indexed as soon as enough of them wait, without waiting
// for the delay or a search.
func TestSQLiteIndexesWhenManyWait(t *testing.T) {
	st := openStore(t)
	if st.Postgres() {
		t.Skip("SQLite's index only")
	}
	ctx := context.Background()
	idx, err := openSQLite(ctx, st, gathering{delay: time.Hour, most: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close(ctx) })
	createRooms(t, st, "t1", "r1")
	msg := func(seq int64) store.Message {
		return store.Message{ID: fmt.Sprint("m", seq), TenantID: "t1", RoomID: "r1", Seq: seq, AuthorID: "u1", Body: "many", CreatedAt: store.Now()}
	}
	indexed := func() (n int64) {
		t.Helper()
		if err := st.Read(ctx).Raw(`SELECT COUNT(*) FROM search_docs`).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	post(t, st, idx, msg(1), msg(2))
	post(t, st, idx, msg(3))
	for deadline := time.Now().Add(10 * time.Second); indexed() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 waiting messages indexed after 10 s", indexed())
		}
	}
}
