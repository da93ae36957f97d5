package store

import (
	"hash/maphash"
	"sync"
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
// With several nodes, a node must also forget rows that other nodes changed:
// the bus calls Invalidate with the keys each commit named. Until it does, a
// node that shares its database with others runs with a disabled cache
// (NewCache(false)), which reads through every time.
type Cache struct {
	enabled  bool
	perShard int // entries a shard holds before it starts over
	seed     maphash.Seed
	shards   [cacheShards]cacheShard
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

// Enabled reports whether the cache keeps anything.
func (c *Cache) Enabled() bool { return c.enabled }

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
	if !c.enabled {
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
	v, keep, err := load()
	if err != nil || !keep {
		return v, err
	}
	sh.mu.Lock()
	if sh.gen == gen {
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
