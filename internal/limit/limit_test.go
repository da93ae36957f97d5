package limit_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"parley/internal/fault"
	"parley/internal/limit"
)

// clock is a fake time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

type refusals struct {
	mu sync.Mutex
	by map[string]int
}

func (r *refusals) Refused(rule string)   { r.mu.Lock(); r.by[rule]++; r.mu.Unlock() }
func (r *refusals) count(rule string) int { r.mu.Lock(); defer r.mu.Unlock(); return r.by[rule] }

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want limit.Rate
		bad  bool
	}{
		{in: "30/10s", want: limit.Rate{N: 30, Per: 10 * time.Second}},
		{in: "5/2m30s", want: limit.Rate{N: 5, Per: 150 * time.Second}},
		{in: " 1/1h ", want: limit.Rate{N: 1, Per: time.Hour}},
		{in: "off"},
		{in: "0"},
		{in: "30", bad: true},
		{in: "-1/1s", bad: true},
		{in: "0/1s", bad: true},
		{in: "3/0s", bad: true},
		{in: "3/-1s", bad: true},
		{in: "x/1s", bad: true},
		{in: "3/soon", bad: true},
		{in: "", bad: true},
	} {
		got, err := limit.ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
		if err == nil {
			if again, err := limit.ParseRate(got.String()); err != nil || again != got {
				t.Errorf("%q does not survive String: %q -> %v, %v", tc.in, got.String(), again, err)
			}
		}
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"not an address":       "not an address",
	} {
		if got := limit.IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// take runs one Take and says whether it was allowed, and the Retry-After.
func take(t *testing.T, l *limit.Limiter, checks ...limit.Check) (bool, time.Duration) {
	t.Helper()
	err := l.Take(context.Background(), checks...)
	if err == nil {
		return true, 0
	}
	fe, ok := fault.As(err)
	if !ok || fe.Kind != fault.RateLimited {
		t.Fatalf("Take: %v, want a rate_limited refusal", err)
	}
	return false, fe.RetryAfter
}

func TestBucket(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{})
		post := limit.Rule{Name: "post", Rate: limit.Rate{N: 3, Per: 30 * time.Second}} // one more every 10 s
		bob := limit.Check{Rule: post, Key: "bob"}
		for i := range 3 {
			if ok, _ := take(t, l, bob); !ok {
				t.Fatalf("action %d of a burst of 3 refused", i+1)
			}
		}
		ok, wait := take(t, l, bob)
		if ok || wait != 10*time.Second {
			t.Fatalf("4th action: allowed %v, retry after %s; want refused, 10s", ok, wait)
		}
		// The refusal names its rule, for /metrics.
		if fe, _ := fault.As(l.Take(context.Background(), bob)); fe == nil || fe.Limit != "post" {
			t.Fatalf("refusal %+v does not name its rule", fe)
		}
		if ok, _ := take(t, l, limit.Check{Rule: post, Key: "alice"}); !ok {
			t.Fatal("another key is limited by bob's actions")
		}
		c.Add(2500 * time.Millisecond)
		if ok, wait := take(t, l, bob); ok || wait != 8*time.Second {
			t.Fatalf("2.5s later: allowed %v, retry after %s; want refused, 8s (7.5s rounded up)", ok, wait)
		}
		c.Add(7500 * time.Millisecond)
		if ok, _ := take(t, l, bob); !ok {
			t.Fatal("refused once a token refilled")
		}
		if ok, _ := take(t, l, bob); ok {
			t.Fatal("one refilled token allowed two actions")
		}
		// A long pause refills to the burst, never beyond.
		c.Add(time.Hour)
		for i := range 3 {
			if ok, _ := take(t, l, bob); !ok {
				t.Fatalf("after an hour, action %d refused", i+1)
			}
		}
		if ok, _ := take(t, l, bob); ok {
			t.Fatal("an hour's pause saved up more than the burst")
		}
		// An off rule limits nothing.
		for range 100 {
			if ok, _ := take(t, l, limit.Check{Rule: limit.Rule{Name: "off"}, Key: "bob"}); !ok {
				t.Fatal("an off rule refused")
			}
		}
	})
}

func TestWindowCapsExactly(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{})
		hourly := limit.Check{Rule: limit.Rule{Name: "rooms_per_hour", Rate: limit.Rate{N: 3, Per: time.Hour}, Window: true}, Key: "bob"}
		for i := range 3 {
			if ok, _ := take(t, l, hourly); !ok {
				t.Fatalf("room %d refused", i+1)
			}
			c.Add(10 * time.Minute)
		}
		// At 0:30: the first room (0:00) leaves the window at 1:00.
		if ok, wait := take(t, l, hourly); ok || wait != 30*time.Minute {
			t.Fatalf("4th room at 0:30: allowed %v, retry after %s; want refused, 30m", ok, wait)
		}
		c.Add(30 * time.Minute)
		if ok, _ := take(t, l, hourly); !ok {
			t.Fatal("refused at 1:00, when the first room left the window")
		}
		// A token bucket would have refilled by now; the window has not moved on.
		if ok, wait := take(t, l, hourly); ok || wait != 10*time.Minute {
			t.Fatalf("at 1:00 again: allowed %v, retry after %s; want refused, 10m", ok, wait)
		}
	})
}

func TestTakeIsAllOrNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{})
		user := limit.Rule{Name: "rooms", Rate: limit.Rate{N: 10, Per: time.Minute}}
		hourly := limit.Rule{Name: "rooms_per_hour", Rate: limit.Rate{N: 2, Per: time.Hour}, Window: true}
		both := []limit.Check{{Rule: user, Key: "bob"}, {Rule: hourly, Key: "bob"}}
		for range 2 {
			if ok, _ := take(t, l, both...); !ok {
				t.Fatal("refused within both limits")
			}
		}
		for range 5 {
			if ok, _ := take(t, l, both...); ok {
				t.Fatal("allowed over the hourly cap")
			}
		}
		// The refusals by the second rule gave back what the first took: 8 left.
		for i := range 8 {
			if ok, _ := take(t, l, limit.Check{Rule: user, Key: "bob"}); !ok {
				t.Fatalf("bucket drained by refused requests: action %d of 8 refused", i+1)
			}
		}
	})
}

func TestRefundCountsInFlight(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{})
		login := limit.Check{Rule: limit.Rule{Name: "login", Rate: limit.Rate{N: 5, Per: time.Minute}}, Key: "acme/bob"}
		// 20 attempts at once: each holds a token while it is checked, so only 5 go ahead.
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l.Take(context.Background(), login) == nil {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if allowed != 5 {
			t.Fatalf("%d of 20 parallel attempts allowed, want 5", allowed)
		}
		// The right password gives its token back: success costs nothing.
		l.Refund(context.Background(), login)
		if ok, _ := take(t, l, login); !ok {
			t.Fatal("a refunded token is not there")
		}
		// A refund never fills a bucket beyond its burst.
		c.Add(time.Hour)
		l.Refund(context.Background(), login, login, login)
		for range 5 {
			take(t, l, login)
		}
		if ok, _ := take(t, l, login); ok {
			t.Fatal("refunds on a full bucket raised it beyond its burst")
		}
	})
}

func TestAcquire(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		l := limit.New(newStore(nil), limit.Rates{})
		ctx := context.Background()
		var releases []func()
		for i := range 3 {
			release, err := l.Acquire(ctx, "streams", "streams", "bob", 3, time.Second)
			if err != nil {
				t.Fatalf("acquire %d: %v", i+1, err)
			}
			releases = append(releases, release)
		}
		if _, err := l.Acquire(ctx, "streams", "streams", "bob", 3, 5*time.Second); err == nil {
			t.Fatal("a 4th in flight was allowed")
		} else if fe, _ := fault.As(err); fe.RetryAfter != 5*time.Second {
			t.Fatalf("refusal %v, want rate_limited with 5s", err)
		}
		if _, err := l.Acquire(ctx, "streams", "streams", "alice", 3, time.Second); err != nil {
			t.Fatal("another key is capped by bob's")
		}
		releases[0]()
		if _, err := l.Acquire(ctx, "streams", "streams", "bob", 3, time.Second); err != nil {
			t.Fatal("a released place was not given back")
		}
	})
}

// TestMemoryForgetsIdleKeys: keys whose bucket has refilled and whose window
// has emptied are forgotten, so a client cycling through addresses cannot
// grow the store without bound.
func TestMemoryForgetsIdleKeys(t *testing.T) {
	c := newClock()
	m := limit.NewMemory(c.Now)
	l := limit.New(m, limit.Rates{})
	bucket := limit.Rule{Name: "signup", Rate: limit.Rate{N: 2, Per: time.Minute}}
	window := limit.Rule{Name: "hourly", Rate: limit.Rate{N: 2, Per: time.Hour}, Window: true}
	for i := range 5000 {
		key := fmt.Sprint("ip-", i)
		take(t, l, limit.Check{Rule: bucket, Key: key}, limit.Check{Rule: window, Key: key})
	}
	c.Add(2 * time.Hour)
	for range 2048 {
		take(t, l, limit.Check{Rule: bucket, Key: "still-here"})
	}
	if n := m.Keys(); n > 2 {
		t.Fatalf("%d keys remembered after they went idle, want at most 2", n)
	}
}

func TestCapConns(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := &refusals{by: map[string]int{}}
	exempt := func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.3") }
	ln := limit.CapConns(inner, 2, exempt, seen)
	defer ln.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// refusedNow reports whether the server closed c without a word.
	refusedNow := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	a1, a2 := dial("127.0.0.2"), dial("127.0.0.2")
	s1, s2 := <-accepted, <-accepted
	over := dial("127.0.0.2")
	if !refusedNow(over) {
		t.Fatal("a third connection from one address was kept open")
	}
	// Another address, and an exempt one, still get in.
	dial("127.0.0.1")
	<-accepted
	for range 3 {
		dial("127.0.0.3")
		<-accepted
	}
	// Closing one (twice: a hijacked stream and net/http may both close it) frees one place.
	_ = s1.Close()
	_ = s1.Close()
	dial("127.0.0.2")
	<-accepted
	if !refusedNow(dial("127.0.0.2")) {
		t.Fatal("a double Close freed two places")
	}
	if seen.count(limit.ConnsPerIP) != 2 {
		t.Errorf("refusals counted %d, want 2", seen.count(limit.ConnsPerIP))
	}
	_, _, _ = a1, a2, s2
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestStartLoginCountsAttemptsInFlight(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{
			LoginAccount: limit.Rate{N: 5, Per: 150 * time.Second}, LoginIP: limit.Rate{N: 8, Per: time.Minute},
		})
		ctx := context.Background()
		// 50 parallel guesses at bob, none finished yet: 5 are checked.
		var refunds []func()
		for range 50 {
			if refund, err := l.StartLogin(ctx, "acme", "bob", "203.0.113.7"); err == nil {
				refunds = append(refunds, refund)
			}
		}
		if len(refunds) != 5 {
			t.Fatalf("%d of 50 attempts in flight went ahead, want 5", len(refunds))
		}
		// The name in another case is the same account.
		if _, err := l.StartLogin(ctx, "acme", "BOB", "203.0.113.8"); err == nil {
			t.Fatal("BOB is not counted as bob")
		}
		// A right password gives its place back; wrong ones keep theirs.
		refunds[0]()
		if _, err := l.StartLogin(ctx, "acme", "bob", "203.0.113.7"); err != nil {
			t.Fatalf("the place of a right password was not given back: %v", err)
		}
		// The address holds 5 failures (refused attempts took nothing, the right
		// password gave its place back): 3 more, then 429.
		for _, user := range []string{"carol", "dave", "frank"} {
			if _, err := l.StartLogin(ctx, "acme", user, "203.0.113.7"); err != nil {
				t.Fatalf("%s's attempt from the address refused early: %v", user, err)
			}
		}
		_, err := l.StartLogin(ctx, "acme", "erin", "203.0.113.7")
		if fe, ok := fault.As(err); !ok || fe.Kind != fault.RateLimited || fe.RetryAfter != 8*time.Second {
			t.Fatalf("9th attempt from one address: %v, want rate_limited after 8s", err)
		}
		// Refused by the address, erin's account kept nothing.
		for range 5 {
			if _, err := l.StartLogin(ctx, "acme", "erin", "198.51.100.1"); err != nil {
				t.Fatalf("erin's account was charged for a refused attempt: %v", err)
			}
		}
	})
}

func TestPerCallerLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore newStoreFunc) {
		c := newClock()
		l := limit.New(newStore(c.Now), limit.Rates{
			PostUser: limit.Rate{N: 2, Per: time.Second}, PostKey: limit.Rate{N: 4, Per: time.Second},
			RoomUser: limit.Rate{N: 5, Per: time.Minute}, RoomKey: limit.Rate{N: 5, Per: time.Minute}, RoomsPerHour: 3,
		})
		ctx := context.Background()
		count := func(fn func(context.Context, limit.Caller) (func(), error), who limit.Caller) int {
			n := 0
			for {
				if _, err := fn(ctx, who); err != nil {
					return n
				}
				n++
			}
		}
		// The same id as a user and as a key are two callers.
		if n := count(l.Post, limit.Caller{ID: "x"}); n != 2 {
			t.Errorf("a user posted %d at once, want 2", n)
		}
		if n := count(l.Post, limit.Caller{ID: "x", IsKey: true}); n != 4 {
			t.Errorf("a key posted %d at once, want 4", n)
		}
		// Rooms: the hourly cap stops a user before the bucket does; a key has no hourly cap.
		if n := count(l.CreateRoom, limit.Caller{ID: "x"}); n != 3 {
			t.Errorf("a user created %d rooms, want 3 (the hourly cap)", n)
		}
		c.Add(10 * time.Minute)
		if _, err := l.CreateRoom(ctx, limit.Caller{ID: "x"}); err == nil {
			t.Error("the bucket refilled, and the hourly cap let a 4th room through")
		}
		if n := count(l.CreateRoom, limit.Caller{ID: "x", IsKey: true}); n != 5 {
			t.Errorf("a key created %d rooms, want 5", n)
		}
	})
}
