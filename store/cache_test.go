package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// loader counts loads and returns the value it is set to.
type loader struct {
	mu    sync.Mutex
	loads int
	value string
	keep  bool
}

func (l *loader) load() (string, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads++
	return l.value, l.keep, nil
}

func (l *loader) set(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.value = v
}

func TestCache(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *Cache, l *loader) // returns after its checks
	}{
		{"a hit reads no database", func(t *testing.T, c *Cache, l *loader) {
			for range 3 {
				mustCached(t, c, "k", l, "v1")
			}
			if l.loads != 1 {
				t.Errorf("%d loads, want 1", l.loads)
			}
		}},
		{"invalidate forgets", func(t *testing.T, c *Cache, l *loader) {
			mustCached(t, c, "k", l, "v1")
			l.set("v2")
			c.Invalidate("k")
			mustCached(t, c, "k", l, "v2")
			mustCached(t, c, "k", l, "v2")
			if l.loads != 2 {
				t.Errorf("%d loads, want 2", l.loads)
			}
		}},
		{"a read that began before an invalidation is not kept", func(t *testing.T, c *Cache, l *loader) {
			// The commit lands while the read is at the database: what the
			// read saw may predate it, so it serves this caller only.
			got, err := Cached(c, "k", func() (string, bool, error) {
				v, keep, err := l.load()
				l.set("v2")
				c.Invalidate("k")
				return v, keep, err
			})
			if err != nil || got != "v1" {
				t.Fatalf("got %q, %v", got, err)
			}
			mustCached(t, c, "k", l, "v2")
		}},
		{"keep=false is not kept", func(t *testing.T, c *Cache, l *loader) {
			l.keep = false
			mustCached(t, c, "k", l, "v1")
			mustCached(t, c, "k", l, "v1")
			if l.loads != 2 {
				t.Errorf("%d loads, want 2", l.loads)
			}
		}},
		{"errors are not kept", func(t *testing.T, c *Cache, l *loader) {
			boom := errors.New("boom")
			if _, err := Cached(c, "k", func() (string, bool, error) { return "", true, boom }); !errors.Is(err, boom) {
				t.Fatalf("err = %v", err)
			}
			mustCached(t, c, "k", l, "v1")
		}},
		{"memory is bounded", func(t *testing.T, c *Cache, l *loader) {
			c.perShard = 4
			for i := range cacheShards * c.perShard * 4 {
				mustCached(t, c, fmt.Sprint("k", i), l, "v1")
			}
			n := 0
			for i := range c.shards {
				n += len(c.shards[i].entries)
			}
			if n > cacheShards*c.perShard {
				t.Errorf("%d entries kept, bound %d", n, cacheShards*c.perShard)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, NewCache(true), &loader{value: "v1", keep: true})
		})
	}
	// A shared cache (PostgreSQL) serves only while trusted.
	trusting := []struct {
		name      string
		trust     func(c *Cache) // after a first read of "k" as v1, with the database at v2 since
		want      string         // what the next read returns
		wantLoads int            // loads of both reads
	}{
		{"untrusted reads through", func(*Cache) {}, "v2", 2},
		{"trusted serves", func(c *Cache) { c.Trust(time.Now().Add(time.Hour)) }, "v1", 1},
		{"lapsed trust reads through", func(c *Cache) { c.trustUntil.Store(1) }, "v2", 2},
		{"distrust forgets", func(c *Cache) {
			c.Distrust()
			c.Trust(time.Now().Add(time.Hour))
		}, "v2", 2},
		{"trust that lapsed forgets when it comes back", func(c *Cache) {
			c.trustUntil.Store(1) // lapsed long ago
			c.Trust(time.Now().Add(time.Hour))
		}, "v2", 2},
	}
	for _, tc := range trusting {
		t.Run(tc.name, func(t *testing.T) {
			c, l := newSharedCache(), &loader{value: "v1", keep: true}
			if tc.name != "untrusted reads through" {
				c.Trust(time.Now().Add(time.Hour))
			}
			mustCached(t, c, "k", l, "v1")
			l.set("v2")
			tc.trust(c)
			mustCached(t, c, "k", l, tc.want)
			if l.loads != tc.wantLoads {
				t.Errorf("%d loads, want %d", l.loads, tc.wantLoads)
			}
		})
	}
	t.Run("disabled reads through", func(t *testing.T) {
		c, l := NewCache(false), &loader{value: "v1", keep: true}
		mustCached(t, c, "k", l, "v1")
		mustCached(t, c, "k", l, "v1")
		if l.loads != 2 {
			t.Errorf("%d loads, want 2", l.loads)
		}
	})
}

func mustCached(t testing.TB, c *Cache, key string, l *loader, want string) {
	t.Helper()
	got, err := Cached(c, key, l.load)
	if err != nil || got != want {
		t.Fatalf("Cached(%q) = %q, %v; want %q", key, got, err, want)
	}
}

// Tx.Invalidate takes effect when the write commits, before Write returns,
// and not at all when the write rolls back.
func TestTxInvalidate(t *testing.T) {
	s, _ := openTemp(t)
	l := &loader{value: "v1", keep: true}
	if s.Postgres() {
		// Other nodes may change the database: the cache serves only once
		// this node has joined them and its relay proved it current.
		mustCached(t, s.Cache(), "k", l, "v1")
		l.set("v1'")
		mustCached(t, s.Cache(), "k", l, "v1'")
		if err := s.ShareCache(context.Background(), CacheSharing{}); err != nil {
			t.Fatal(err)
		}
		s.CacheProven(time.Now())
		l.set("v1")
	}
	mustCached(t, s.Cache(), "k", l, "v1")
	l.set("v2")
	boom := errors.New("boom")
	err := s.Write(context.Background(), func(tx *Tx) error {
		if err := insertKV(tx, 1, "x"); err != nil {
			return err
		}
		tx.Invalidate("k")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	mustCached(t, s.Cache(), "k", l, "v1")
	err = s.Write(context.Background(), func(tx *Tx) error {
		tx.Invalidate("k")
		return insertKV(tx, 1, "x")
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCached(t, s.Cache(), "k", l, "v2")
}

// BenchmarkCachedHit is the hot path of every authenticated request: a hit,
// on one node's cache and on a shared one (PostgreSQL), which also checks
// that it is trusted.
func BenchmarkCachedHit(b *testing.B) {
	shared := newSharedCache()
	shared.Trust(time.Now().Add(time.Hour))
	for _, bc := range []struct {
		name string
		c    *Cache
	}{{"one node", NewCache(true)}, {"shared", shared}} {
		b.Run(bc.name, func(b *testing.B) {
			l := &loader{value: "v1", keep: true}
			mustCached(b, bc.c, "k", l, "v1")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := Cached(bc.c, "k", l.load); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
