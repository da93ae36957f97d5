package store

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Cache keeps rows read outside the writer (sessions, users, keys, rooms,
// memberships) so that the hot request path reads no database when nothing
// changed. It is never stale: every write of a cached row names the row's key
// with Tx.Invalidate, and the writer forgets it after the commit, in commit
// order, before the write returns. A request that starts after a write has
// returned therefore reads the row as that write left it.
//
// A read that started before an invalidation must not put back what it read:
// each shard counts its invalidations, a read notes the count before it goes
// to the database, and its result is kept only if the count has not moved.
//
// With several nodes on PostgreSQL, a node must also forget rows that other
// nodes changed, and it cannot know by itself that it has heard of every such
// change: its cache is shared (newSharedCache) and serves only while it is
// trusted, up to a time its relay proves (Trust; see Store.CacheProven and
// docs/CLUSTER.md, "The cache on PostgreSQL"). Untrusted, it reads through.
type Cache struct {
	enabled  bool
	shared   bool // serves only while trusted
	perShard int  // entries a shard holds before it starts over
	seed     maphash.Seed
	shards   [cacheShards]cacheShard

	base       time.Time     // trustUntil counts from here, on the monotonic clock
	trustUntil atomic.Int64  // nanoseconds after base; 0: not trusted
	trustMu    sync.Mutex    // orders Trust and Distrust
	reads      atomic.Uint64 // loads from the database (misses and reads through)
}

const (
	cacheShards = 64
	// maxCachedPerShard bounds memory: a full shard is emptied and refilled
	// by the requests that follow.
	maxCachedPerShard = 4096
)

type cacheShard struct {
	mu      sync.RWMutex
	gen     uint64 // invalidations so far
	entries map[string]any
}

// NewCache returns a cache; a disabled one reads through on every call.
func NewCache(enabled bool) *Cache {
	c := &Cache{enabled: enabled, perShard: maxCachedPerShard, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].entries = map[string]any{}
	}
	return c
}

// newSharedCache returns a cache for a database other nodes write too: it
// serves nothing until Trust.
func newSharedCache() *Cache {
	c := NewCache(true)
	c.shared, c.base = true, time.Now()
	return c
}

// Enabled reports whether the cache keeps anything.
func (c *Cache) Enabled() bool { return c.enabled }

// Reads counts the rows read from the database through the cache: what it
// could not serve.
func (c *Cache) Reads() uint64 { return c.reads.Load() }

// Trusted reports whether the cache serves what it keeps now.
func (c *Cache) Trusted() bool {
	return c.enabled && (!c.shared || int64(time.Since(c.base)) < c.trustUntil.Load())
}

// Trust lets a shared cache serve until the time given. If its trust had
// lapsed meanwhile it may have missed invalidations: it forgets everything
// first.
func (c *Cache) Trust(until time.Time) {
	c.trustMu.Lock()
	defer c.trustMu.Unlock()
	if !c.Trusted() {
		c.flush()
	}
	if t := int64(until.Sub(c.base)); t > c.trustUntil.Load() {
		c.trustUntil.Store(t)
	}
}

// Distrust stops a shared cache serving, at once, and forgets everything it
// holds (it may have missed an invalidation).
func (c *Cache) Distrust() {
	c.trustMu.Lock()
	defer c.trustMu.Unlock()
	c.trustUntil.Store(0)
	c.flush()
}

// flush forgets every entry; reads in flight do not put theirs back.
func (c *Cache) flush() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen++
		clear(sh.entries)
		sh.mu.Unlock()
	}
}

func (c *Cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// Invalidate forgets the rows with these keys. The writer calls it after each
// commit for the keys the commit named; a cluster's bus calls it for commits
// made on other nodes.
func (c *Cache) Invalidate(keys ...string) {
	for _, key := range keys {
		sh := c.shard(key)
		sh.mu.Lock()
		sh.gen++
		delete(sh.entries, key)
		sh.mu.Unlock()
	}
}

// Cached returns the value kept under key, or loads it and keeps it. load
// reports with keep=false a value that must not be kept (a row that does not
// exist, for example). Values are shared between callers: never modify one.
func Cached[V any](c *Cache, key string, load func() (v V, keep bool, err error)) (V, error) {
	if !c.Trusted() {
		c.reads.Add(1)
		v, _, err := load()
		return v, err
	}
	sh := c.shard(key)
	sh.mu.RLock()
	hit, ok := sh.entries[key]
	gen := sh.gen
	sh.mu.RUnlock()
	if ok {
		return hit.(V), nil
	}
	c.reads.Add(1)
	v, keep, err := load()
	if err != nil || !keep {
		return v, err
	}
	sh.mu.Lock()
	// Trust may have lapsed during the read: then keep nothing (a flush when
	// it comes back changes gen).
	if sh.gen == gen && c.Trusted() {
		if len(sh.entries) >= c.perShard {
			clear(sh.entries)
		}
		sh.entries[key] = v
	}
	sh.mu.Unlock()
	return v, nil
}

// CachedRow is Cached for a row that may not exist: load's NotFound error
// reports found=false, which is not kept (creating the row needs no
// invalidation).
func CachedRow[V any](c *Cache, key string, load func() (V, error)) (v V, found bool, err error) {
	type row struct {
		v     V
		found bool
	}
	r, err := Cached(c, key, func() (row, bool, error) {
		v, err := load()
		if IsNotFound(err) {
			return row{}, false, nil
		}
		return row{v, true}, err == nil, err
	})
	return r.v, r.found, err
}
