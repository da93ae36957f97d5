package api_test

// Rate limits (issue 9, items 2 and 6): what a client over a limit sees (429
// rate_limited with Retry-After), that a refused request changes nothing, and
// that limits hold for requests sent in parallel.

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
)

// parallelLogins sends the log-ins at once and counts the answers by status.
func parallelLogins(t *testing.T, s *testkit.Server, bodies []map[string]string, header func(i int) map[string]string) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i, body := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := s.Send("POST", "/api/v1/auth/login", "", body, header(i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("log-in %d: %v", i, err)
				return
			}
			if r.Status == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("429 with Retry-After %q", r.Header.Get("Retry-After"))
				}
			}
			counts[r.Status]++
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// TestLoginLimitsCountAttemptsInFlight is the parallel guessing of issue 9:
// 100 guesses sent at once get at most the allowed number of password checks
// (each check is a 401), the rest 429; the right password among them is no
// exception once the limit is reached.
func TestLoginLimitsCountAttemptsInFlight(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.TrustedProxies = "127.0.0.1/8"
		// The same bursts, refilled so slowly that a busy machine's slow test
		// run gains no attempt while it runs.
		c.LoginLimitAccount.Per, c.LoginLimitIP.Per = time.Hour, time.Hour
	})
	s.CreateTenant(t, "acme", "alice")
	s.Signup(t, "acme", "bob")
	const guesses = 100

	t.Run("one account, from many addresses", func(t *testing.T) {
		bodies := make([]map[string]string, guesses)
		for i := range bodies {
			bodies[i] = map[string]string{"tenant": "acme", "username": "bob", "password": fmt.Sprint("guess-", i)}
		}
		counts := parallelLogins(t, s, bodies, func(i int) map[string]string {
			return map[string]string{"X-Forwarded-For": fmt.Sprintf("10.1.%d.%d", i/200, i%200)}
		})
		want := s.Cfg.LoginLimitAccount.N
		if counts[http.StatusUnauthorized] > want || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != guesses {
			t.Fatalf("answers %v: want at most %d password checks (401), the rest 429", counts, want)
		}
		// The password itself now waits too.
		r := s.DoWith(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "bob", "password": testkit.Password},
			map[string]string{"X-Forwarded-For": "10.9.9.9"})
		expect(t, r, http.StatusTooManyRequests, "rate_limited")
	})

	t.Run("many accounts, from one address", func(t *testing.T) {
		bodies := make([]map[string]string, guesses)
		for i := range bodies {
			bodies[i] = map[string]string{"tenant": "acme", "username": fmt.Sprint("user", i), "password": "wrong-password"}
		}
		counts := parallelLogins(t, s, bodies, func(int) map[string]string { return map[string]string{"X-Forwarded-For": "10.2.0.1"} })
		want := s.Cfg.LoginLimitIP.N
		if counts[http.StatusUnauthorized] > want || counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests] != guesses {
			t.Fatalf("answers %v: want at most %d password checks (401), the rest 429", counts, want)
		}
		// Another address is not held up.
		r := s.DoWith(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": testkit.Password},
			map[string]string{"X-Forwarded-For": "10.3.0.1"})
		if r.Status != http.StatusOK {
			t.Fatalf("alice from another address: %d %s", r.Status, r.Body)
		}
	})
}

// TestSuccessfulLoginsDoNotCount: only failures use up the limit, so a user
// who logs in on many devices is never refused.
func TestSuccessfulLoginsDoNotCount(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	s.CreateTenant(t, "acme", "alice")
	for i := range 3 * s.Cfg.LoginLimitAccount.N {
		if r := login(t, s, "acme", "alice", testkit.Password); r.Status != http.StatusOK {
			t.Fatalf("log-in %d: %d %s", i+1, r.Status, r.Body)
		}
	}
}

// TestSignupAndTenantLimitsPerIP: each sign-up or new tenant costs a password
// hash, so each client address gets a few; the next is 429 and creates nothing.
func TestSignupAndTenantLimitsPerIP(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.TrustedProxies = "127.0.0.1/8"
		c.SignupLimitIP = limit.Rate{N: 3, Per: time.Hour}
		c.TenantLimitIP = limit.Rate{N: 2, Per: time.Hour}
	})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	tenant := func(slug, ip string) testkit.Response {
		return s.DoWith(t, "POST", "/api/v1/tenants", "", map[string]any{"slug": slug, "name": slug,
			"admin": map[string]string{"username": "owner", "password": testkit.Password}}, from(ip))
	}
	signup := func(username, ip string) testkit.Response {
		return s.DoWith(t, "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "t1", "username": username, "password": testkit.Password}, from(ip))
	}
	for i, slug := range []string{"t1", "t2"} {
		if r := tenant(slug, "10.0.0.1"); r.Status != http.StatusCreated {
			t.Fatalf("tenant %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	before := snapshot(t, s)
	r := tenant("t3", "10.0.0.1")
	expect(t, r, http.StatusTooManyRequests, "rate_limited")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 || ra > 1800 {
		t.Errorf("Retry-After %q, want up to half an hour", r.Header.Get("Retry-After"))
	}
	assertUnchanged(t, s, before)
	if r := tenant("t3", "10.0.0.2"); r.Status != http.StatusCreated {
		t.Fatalf("a tenant from another address: %d %s", r.Status, r.Body)
	}

	for i := range 3 {
		if r := signup(fmt.Sprint("user", i), "10.0.0.1"); r.Status != http.StatusCreated {
			t.Fatalf("sign-up %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	before = snapshot(t, s)
	expect(t, signup("user3", "10.0.0.1"), http.StatusTooManyRequests, "rate_limited")
	assertUnchanged(t, s, before)
	if r := signup("user3", "10.0.0.2"); r.Status != http.StatusCreated {
		t.Fatalf("a sign-up from another address: %d %s", r.Status, r.Body)
	}
}

// TestPostingLimits: token buckets per user and per API key; a key may get
// more than a user; a refused post changes nothing and is counted in /metrics.
func TestPostingLimits(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.PostLimitUser = limit.Rate{N: 3, Per: time.Minute}
		c.PostLimitKey = limit.Rate{N: 6, Per: time.Minute}
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	rm := createRoom(t, s, alice, "general", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+rm.ID+"/join", bob.Token, nil, nil)
	key := createKey(t, s, alice.Token, "messages:write")

	postAs := func(token string, n int) {
		t.Helper()
		for i := range n {
			s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+rm.ID+"/messages", token, map[string]string{"body": fmt.Sprint("hi ", i)}, nil)
		}
	}
	refused := func(token string) {
		t.Helper()
		before := snapshot(t, s)
		r := s.Do(t, "POST", "/api/v1/rooms/"+rm.ID+"/messages", token, map[string]string{"body": "one too many"})
		expect(t, r, http.StatusTooManyRequests, "rate_limited")
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 || ra > 20 {
			t.Errorf("Retry-After %q, want 20s at most (one post every 20s)", r.Header.Get("Retry-After"))
		}
		assertUnchanged(t, s, before)
	}
	postAs(alice.Token, 3)
	refused(alice.Token)
	postAs(bob.Token, 3) // bob has his own bucket
	refused(bob.Token)
	postAs(key, 6) // the key has more
	refused(key)

	metrics := s.Do(t, "GET", "/metrics", "", nil)
	for _, want := range []string{`parley_limit_refused_total{limit="post_user"} 2`, `parley_limit_refused_total{limit="post_key"} 1`} {
		if !bytes.Contains(metrics.Body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRoomCreationLimits: a token bucket per user and per key, and an hourly
// cap per user that a refilled bucket does not lift.
func TestRoomCreationLimits(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.RoomLimitUser = limit.Rate{N: 3, Per: time.Minute}
		c.RoomsPerHour = 2
		c.RoomLimitKey = limit.Rate{N: 4, Per: time.Minute}
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	key := createKey(t, s, alice.Token, "rooms:write")
	create := func(token, name string) testkit.Response {
		return s.Do(t, "POST", "/api/v1/rooms", token, map[string]string{"name": name})
	}
	for i := range 2 {
		if r := create(alice.Token, fmt.Sprint("alice-", i)); r.Status != http.StatusCreated {
			t.Fatalf("room %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	before := snapshot(t, s)
	r := create(alice.Token, "one too many")
	expect(t, r, http.StatusTooManyRequests, "rate_limited")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 3500 || ra > 3600 {
		t.Errorf("Retry-After %q, want about an hour (the hourly cap)", r.Header.Get("Retry-After"))
	}
	assertUnchanged(t, s, before)
	if r := create(bob.Token, "bob's"); r.Status != http.StatusCreated {
		t.Fatalf("bob is held up by alice: %d %s", r.Status, r.Body)
	}
	for i := range 4 {
		if r := create(key, fmt.Sprint("key-", i)); r.Status != http.StatusCreated {
			t.Fatalf("key's room %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	expect(t, create(key, "one too many"), http.StatusTooManyRequests, "rate_limited")
}
