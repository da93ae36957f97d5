package limit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how many calls pass between sweeps of forgotten keys.
const sweepEvery = 1024

// Memory is the Store of a single node: counts in this process's memory.
// A key is forgotten once its bucket has refilled, its window is empty or
// nothing of it is in flight, so memory follows the active keys only.
type Memory struct {
	mu       sync.Mutex
	now      func() time.Time
	buckets  map[string]*bucket
	windows  map[string]*window
	inFlight map[string]int
	calls    int
}

// window holds the times of the actions in the last Per, oldest first.
type window struct {
	per   time.Duration
	times []time.Time
}

// prune drops the times that have left the window ending at now.
func (w *window) prune(now time.Time) {
	i := 0
	for i < len(w.times) && !w.times[i].After(now.Add(-w.per)) {
		i++
	}
	w.times = w.times[i:]
}

// bucket is a token bucket, refilled lazily when it is next used.
type bucket struct {
	rate   Rate
	tokens float64
	at     time.Time
}

// NewMemory returns an empty in-process Store; now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, buckets: map[string]*bucket{}, windows: map[string]*window{}, inFlight: map[string]int{}}
}

func storeKey(name, key string) string { return name + "\x00" + key }

// refill brings the bucket up to now: one token every Per/N, at most N.
func (b *bucket) refill(now time.Time) {
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(b.rate.N), b.tokens+elapsed.Seconds()*float64(b.rate.N)/b.rate.Per.Seconds())
		b.at = now
	}
}

func (b *bucket) full() bool { return b.tokens >= float64(b.rate.N) }

// Take spends a token of the rule's bucket for key, or one place in its window.
func (m *Memory) Take(_ context.Context, rule Rule, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.maybeSweep(now)
	k := storeKey(rule.Name, key)
	if rule.Window {
		w := m.windows[k]
		if w == nil {
			w = &window{}
			m.windows[k] = w
		}
		w.per = rule.Rate.Per
		w.prune(now)
		if n := len(w.times); n >= rule.Rate.N {
			return w.times[n-rule.Rate.N].Add(w.per).Sub(now), nil
		}
		w.times = append(w.times, now)
		return 0, nil
	}
	b := m.buckets[k]
	if b == nil || b.rate != rule.Rate {
		b = &bucket{rate: rule.Rate, tokens: float64(rule.Rate.N), at: now}
		m.buckets[k] = b
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0, nil
	}
	perToken := rule.Rate.Per.Seconds() / float64(rule.Rate.N)
	return time.Duration((1 - b.tokens) * perToken * float64(time.Second)), nil
}

// Refund gives back the last action taken for key under rule.
func (m *Memory) Refund(_ context.Context, rule Rule, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := storeKey(rule.Name, key)
	if rule.Window {
		if w := m.windows[k]; w != nil && len(w.times) > 0 {
			w.times = w.times[:len(w.times)-1]
		}
		return nil
	}
	if b := m.buckets[k]; b != nil {
		b.refill(m.now())
		b.tokens = min(float64(b.rate.N), b.tokens+1)
	}
	return nil
}

// Acquire counts one more in flight for key, unless max already are.
func (m *Memory) Acquire(_ context.Context, name, key string, max int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := storeKey(name, key)
	if m.inFlight[k] >= max {
		return false, nil
	}
	m.inFlight[k]++
	return true, nil
}

// Release ends one in-flight count of key.
func (m *Memory) Release(_ context.Context, name, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := storeKey(name, key)
	if m.inFlight[k] <= 1 {
		delete(m.inFlight, k)
	} else {
		m.inFlight[k]--
	}
	return nil
}

// Keys is how many keys the store remembers (for tests of its memory bound).
func (m *Memory) Keys() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets) + len(m.windows) + len(m.inFlight)
}

// maybeSweep forgets, every sweepEvery calls, the keys that are as good as
// new: full buckets and empty windows.
func (m *Memory) maybeSweep(now time.Time) {
	m.calls++
	if m.calls%sweepEvery != 0 {
		return
	}
	for k, b := range m.buckets {
		if b.refill(now); b.full() {
			delete(m.buckets, k)
		}
	}
	for k, w := range m.windows {
		if w.prune(now); len(w.times) == 0 {
			delete(m.windows, k)
		}
	}
}
