package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureLimiter counts failures per key (a tenant+username, a client IP) with
// token buckets from golang.org/x/time/rate: each failure takes a token, and a
// key whose bucket is empty is refused until it refills.
type FailureLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	sweeps  int
}

type bucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// NewFailureLimiter allows burst failures per key, then one per interval.
func NewFailureLimiter(burst int, interval time.Duration) *FailureLimiter {
	return &FailureLimiter{every: rate.Every(interval), burst: burst, buckets: map[string]*bucket{}}
}

// Wait returns how long key must wait before another attempt (0: go ahead).
func (l *FailureLimiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	tokens := b.limiter.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	secs := (1 - tokens) / float64(l.every)
	return time.Duration(math.Ceil(secs)) * time.Second
}

// Fail records one failure for key.
func (l *FailureLimiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	b.limiter.AllowN(now, 1)
	l.sweeps++
	if l.sweeps%1024 == 0 {
		l.sweep(now)
	}
}

// sweep forgets keys whose bucket has refilled, so memory stays bounded.
func (l *FailureLimiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst)/float64(l.every)) * time.Second
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}
