package limit_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"parley/internal/limit"
	"parley/internal/testkit/pgtest"
	"parley/store"
)

// newStoreFunc makes an empty Store with the given clock (nil: time.Now).
type newStoreFunc func(now func() time.Time) limit.Store

// eachStore runs test over every Store: the memory one, and the shared one
// on SQLite and on PostgreSQL, which must count alike.
func eachStore(t *testing.T, test func(t *testing.T, newStore newStoreFunc)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func(now func() time.Time) limit.Store { return limit.NewMemory(now) })
	})
	t.Run("shared/sqlite", func(t *testing.T) {
		test(t, func(now func() time.Time) limit.Store { return sharedOn(t, openSQLite(t), now) })
	})
	t.Run("shared/postgres", func(t *testing.T) {
		test(t, func(now func() time.Time) limit.Store { return sharedOn(t, openPostgres(t), now) })
	})
}

var quiet = slog.New(slog.DiscardHandler)

func openSQLite(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// openPostgres opens a fresh PostgreSQL database (skipping the test when
// there is none, unless PARLEY_REQUIRE_POSTGRES=1).
func openPostgres(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), pgtest.Fresh(t), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// sharedOn is a node's shared Store on st, running until the test ends.
func sharedOn(t *testing.T, st *store.Store, now func() time.Time) *limit.Shared {
	t.Helper()
	s := limit.NewShared(st.Direct(), now, 0, quiet)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return s
}

// What a node has in flight is a lease: other nodes count it while the node
// renews it, and get the place back once a node that died has let it expire.
func TestSharedInFlightLeasesEndWithTheirNode(t *testing.T) {
	eachDatabase(t, func(t *testing.T, st *store.Store) {
		c := newClock()
		ctx := context.Background()
		a := limit.NewShared(st.Direct(), c.Now, 30*time.Second, quiet) // renewed by hand below
		b := sharedOn(t, st, c.Now)
		for i := range 2 {
			if ok, err := a.Acquire(ctx, "login_inflight", "acme/bob", 2); !ok || err != nil {
				t.Fatalf("node A, attempt %d: %v %v", i+1, ok, err)
			}
		}
		if ok, err := b.Acquire(ctx, "login_inflight", "acme/bob", 2); ok || err != nil {
			t.Fatalf("node B went over the cap that node A fills: %v %v", ok, err)
		}
		// A lives and renews: its places stay taken long after a lease time.
		for range 4 {
			c.Add(20 * time.Second)
			if err := a.Renew(ctx); err != nil {
				t.Fatal(err)
			}
			if ok, _ := b.Acquire(ctx, "login_inflight", "acme/bob", 2); ok {
				t.Fatal("node B took a place node A still renews")
			}
		}
		// A dies (no more renewals): its places are free once its leases expire.
		c.Add(29 * time.Second)
		if ok, _ := b.Acquire(ctx, "login_inflight", "acme/bob", 2); ok {
			t.Fatal("a lease ended before its time")
		}
		c.Add(2 * time.Second)
		for i := range 2 {
			if ok, err := b.Acquire(ctx, "login_inflight", "acme/bob", 2); !ok || err != nil {
				t.Fatalf("place %d of the dead node not given back: %v %v", i+1, ok, err)
			}
		}
		// B's release gives back B's own place, never another node's.
		if err := a.Release(ctx, "login_inflight", "acme/bob"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.Acquire(ctx, "login_inflight", "acme/bob", 2); ok {
			t.Fatal("node A's release ended one of node B's leases")
		}
		if err := b.Release(ctx, "login_inflight", "acme/bob"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.Acquire(ctx, "login_inflight", "acme/bob", 2); !ok {
			t.Fatal("node B's release gave nothing back")
		}
	})
}

// A cap on what is open (streams per user) counts every node's, and a place
// given back on one node can be taken on another.
func TestSharedSlotsCapAcrossNodes(t *testing.T) {
	eachDatabase(t, func(t *testing.T, st *store.Store) {
		a, b := sharedOn(t, st, nil).Slots("streams", 3), sharedOn(t, st, nil).Slots("streams", 3)
		for i, node := range []*limit.Slots{a, b, a} {
			if !node.Take("bob") {
				t.Fatalf("stream %d refused under the cap", i+1)
			}
		}
		if a.Take("bob") || b.Take("bob") {
			t.Fatal("a 4th stream was counted on one of the nodes")
		}
		if !b.Take("alice") {
			t.Fatal("alice is capped by bob's streams")
		}
		b.Give("bob")
		waitFor(t, "bob's place given back on node B to be free on node A", func() bool { return a.Take("bob") })
		if b.Take("bob") {
			t.Fatal("one place given back let two streams in")
		}
		// Unlimited takes no place at all.
		free := sharedOn(t, st, nil).Slots("streams", 0)
		for range 10 {
			if !free.Take("bob") {
				t.Fatal("a cap of 0 refused")
			}
		}
	})
}

// Rows that count for nothing any more (expired slots, buckets that are
// full again) are deleted as nodes renew, so the tables follow the active
// keys only.
func TestSharedForgetsIdleKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, st *store.Store) {
		c := newClock()
		ctx := context.Background()
		s := limit.NewShared(st.Direct(), c.Now, 0, quiet)
		l := limit.New(s, limit.Rates{})
		bucket := limit.Rule{Name: "signup", Rate: limit.Rate{N: 2, Per: time.Minute}}
		window := limit.Rule{Name: "hourly", Rate: limit.Rate{N: 2, Per: time.Hour}, Window: true}
		for i := range 50 {
			key := fmt.Sprint("ip-", i)
			take(t, l, limit.Check{Rule: bucket, Key: key}, limit.Check{Rule: window, Key: key})
		}
		if _, err := s.Acquire(ctx, "inflight", "x", 1); err != nil {
			t.Fatal(err)
		}
		c.Add(2 * time.Hour)
		take(t, l, limit.Check{Rule: bucket, Key: "still-here"})
		if err := s.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		var buckets, leases int64
		st.Read(ctx).Table("limit_buckets").Count(&buckets)
		st.Read(ctx).Table("limit_leases").Count(&leases)
		if buckets != 1 || leases != 1 {
			t.Fatalf("%d buckets and %d slots kept after they went idle, want the 1 bucket in use and the 1 lease renewed", buckets, leases)
		}
	})
}

// eachDatabase runs test on a fresh SQLite file and a fresh PostgreSQL database.
func eachDatabase(t *testing.T, test func(t *testing.T, st *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, openPostgres(t)) })
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
