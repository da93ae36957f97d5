package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	l := NewFailureLimiter(5, 30*time.Second)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if w := l.Wait("acme\x00bob", now); w != 0 {
		t.Fatalf("unknown key waits %s", w)
	}
	for i := range 5 {
		if w := l.Wait("acme\x00bob", now); w != 0 {
			t.Fatalf("failure %d: waits %s within the burst", i+1, w)
		}
		l.Fail("acme\x00bob", now)
	}
	w := l.Wait("acme\x00bob", now)
	if w < 29*time.Second || w > 30*time.Second {
		t.Fatalf("after the burst: wait %s, want about 30s", w)
	}
	if w := l.Wait("acme\x00alice", now); w != 0 {
		t.Errorf("another key is limited too: %s", w)
	}
	// More failures while blocked do not push the wait past one interval.
	l.Fail("acme\x00bob", now)
	if w := l.Wait("acme\x00bob", now.Add(10*time.Second)); w < 19*time.Second || w > 21*time.Second {
		t.Errorf("10s later: wait %s, want about 20s", w)
	}
	if w := l.Wait("acme\x00bob", now.Add(30*time.Second)); w != 0 {
		t.Errorf("after one interval: wait %s, want 0", w)
	}
	// One attempt per interval after that.
	l.Fail("acme\x00bob", now.Add(30*time.Second))
	if w := l.Wait("acme\x00bob", now.Add(30*time.Second)); w == 0 {
		t.Error("a failure right after the refill is not limited")
	}
}

func TestFailureLimiterRoundsUp(t *testing.T) {
	l := NewFailureLimiter(1, 2*time.Second)
	now := time.Now()
	l.Fail("ip", now)
	if w := l.Wait("ip", now.Add(1500*time.Millisecond)); w != time.Second {
		t.Errorf("0.5s left: wait %s, want 1s (rounded up to whole seconds for Retry-After)", w)
	}
}

func TestFailureLimiterForgetsOldKeys(t *testing.T) {
	l := NewFailureLimiter(2, time.Second)
	now := time.Now()
	for i := range 3000 {
		l.Fail(fmt.Sprint("key", i), now.Add(time.Duration(i)*10*time.Millisecond))
	}
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n >= 3000 {
		t.Errorf("%d buckets kept: refilled keys are never forgotten", n)
	}
}
