package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// User is the part of the API's User object the tool uses.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
}

// TokenResponse is the API's token response (plus "tenant" for POST /tenants).
type TokenResponse struct {
	User         User   `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Tenant       *struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	} `json:"tenant,omitempty"`
}

// Room is the part of the API's Room object the tool uses.
type Room struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	LastSeq int64  `json:"last_seq"`
}

// Layout says what to provision: subscriber users, rooms, which user each
// stream authenticates as and which room it follows, and the posters.
type Layout struct {
	Users       int      // subscriber users
	Rooms       int      // rooms
	StreamUser  []int    // per stream: index of its user
	StreamRoom  []int    // per stream: room index, or -1 for the per-user /api/v1/events stream
	Posters     int      // poster users
	PosterRooms [][]int  // per poster: rooms it posts to (and is a member of)
	Members     [][2]int // (user, room) pairs to add as members
}

// IdleLayout is n streams on /api/v1/events, perUser streams per user, no rooms.
func IdleLayout(n, perUser int) Layout {
	perUser = max(perUser, 1)
	l := Layout{Users: (n + perUser - 1) / perUser}
	l.StreamUser = make([]int, n)
	l.StreamRoom = make([]int, n)
	for i := 0; i < n; i++ {
		l.StreamUser[i] = i / perUser
		l.StreamRoom[i] = -1
	}
	return l
}

// RoomsLayout is rooms rooms with subs subscriber streams each; the streams of
// one room belong to ceil(subs/perUser) users of that room alone; posters
// posters share the rooms round-robin (poster p posts to the rooms r with
// r%posters == p, or to room p%rooms when there are fewer rooms than posters).
func RoomsLayout(rooms, subs, perUser, posters int) Layout {
	perUser = max(perUser, 1)
	usersPerRoom := (subs + perUser - 1) / perUser
	l := Layout{Users: rooms * usersPerRoom, Rooms: rooms, Posters: posters}
	for r := 0; r < rooms; r++ {
		for j := 0; j < usersPerRoom; j++ {
			l.Members = append(l.Members, [2]int{r*usersPerRoom + j, r})
		}
		for s := 0; s < subs; s++ {
			l.StreamUser = append(l.StreamUser, r*usersPerRoom+s/perUser)
			l.StreamRoom = append(l.StreamRoom, r)
		}
	}
	l.PosterRooms = make([][]int, posters)
	if rooms > 0 {
		for p := 0; p < posters; p++ {
			if rooms >= posters {
				for r := p; r < rooms; r += posters {
					l.PosterRooms[p] = append(l.PosterRooms[p], r)
				}
			} else {
				l.PosterRooms[p] = []int{p % rooms}
			}
		}
	}
	return l
}

// World is what provisioning created.
type World struct {
	Slug         string   `json:"tenant_slug"`
	TenantID     string   `json:"tenant_id"`
	AdminID      string   `json:"-"`
	AdminToken   string   `json:"-"`
	Key          string   `json:"-"`
	RoomIDs      []string `json:"-"`
	UserIDs      []string `json:"-"`
	UserTokens   []string `json:"-"`
	PosterIDs    []string `json:"-"`
	PosterTokens []string `json:"-"`
	Requests     int64    `json:"requests"`
	Seconds      float64  `json:"seconds"`
}

// Logf prints a progress line.
type Logf func(format string, args ...any)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// pool runs fn(i) for i in [0,n) on up to workers goroutines, logging progress
// every 2 s, and stops at the first error.
func pool(ctx context.Context, label string, n, workers int, logf Logf, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, done atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				logf("  %s: %d/%d (%.0f/s)", label, done.Load(), n, float64(done.Load())/time.Since(start).Seconds())
			}
		}
	}()
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return fmt.Errorf("%s: %w", label, firstErr)
	}
	logf("  %s: %d done in %.1fs", label, n, time.Since(start).Seconds())
	return nil
}

// Provision creates a fresh tenant (slug bench-<random>), an API key, the
// layout's rooms, users and memberships, and mints an access token for every
// user, using workers concurrent requests.
func Provision(ctx context.Context, api *API, l Layout, workers int, logf Logf) (*World, error) {
	start := time.Now()
	var reqs atomic.Int64
	call := func(ctx context.Context, method, path, bearer string, in, out any) error {
		reqs.Add(1)
		_, err := api.DoRetry(ctx, 5, method, path, bearer, in, out)
		return err
	}
	w := &World{Slug: "bench-" + randHex(6)}
	var tr TokenResponse
	err := call(ctx, "POST", "/api/v1/tenants", "", map[string]any{
		"slug": w.Slug,
		"name": "Parley bench " + time.Now().UTC().Format(time.RFC3339),
		"admin": map[string]string{
			"username":     "benchadmin",
			"password":     randHex(16),
			"display_name": "Bench admin",
		},
	}, &tr)
	if err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("create tenant: answer has no access_token")
	}
	w.AdminToken, w.AdminID = tr.AccessToken, tr.User.ID
	if tr.Tenant != nil {
		w.TenantID = tr.Tenant.ID
	}
	logf("tenant %s created", w.Slug)

	var key struct {
		Key string `json:"key"`
	}
	if err := call(ctx, "POST", "/api/v1/apikeys", w.AdminToken, map[string]any{
		"name":   "bench",
		"scopes": []string{"users:write", "rooms:write", "messages:write", "tokens:write"},
	}, &key); err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	if key.Key == "" {
		return nil, fmt.Errorf("create api key: answer has no key")
	}
	w.Key = key.Key

	w.RoomIDs = make([]string, l.Rooms)
	if err := pool(ctx, "rooms", l.Rooms, workers, logf, func(ctx context.Context, i int) error {
		var r Room
		if err := call(ctx, "POST", "/api/v1/rooms", w.Key, map[string]any{
			"name": fmt.Sprintf("bench-%05d", i), "visibility": "private",
		}, &r); err != nil {
			return err
		}
		if r.ID == "" {
			return fmt.Errorf("POST /api/v1/rooms: answer has no id")
		}
		w.RoomIDs[i] = r.ID
		return nil
	}); err != nil {
		return nil, err
	}

	mkUsers := func(label, prefix string, n int) ([]string, error) {
		ids := make([]string, n)
		err := pool(ctx, label, n, workers, logf, func(ctx context.Context, i int) error {
			var u User
			if err := call(ctx, "POST", "/api/v1/users", w.Key, map[string]any{
				"username": fmt.Sprintf("%s%06d", prefix, i), "display_name": fmt.Sprintf("Bench %s %d", label, i),
			}, &u); err != nil {
				return err
			}
			if u.ID == "" {
				return fmt.Errorf("POST /api/v1/users: answer has no id")
			}
			ids[i] = u.ID
			return nil
		})
		return ids, err
	}
	if w.UserIDs, err = mkUsers("users", "u", l.Users); err != nil {
		return nil, err
	}
	if w.PosterIDs, err = mkUsers("posters", "p", l.Posters); err != nil {
		return nil, err
	}

	members := append([][2]int(nil), l.Members...)
	posterBase := len(members)
	for p, rs := range l.PosterRooms {
		for _, r := range rs {
			members = append(members, [2]int{p, r})
		}
	}
	if err := pool(ctx, "memberships", len(members), workers, logf, func(ctx context.Context, i int) error {
		m := members[i]
		uid := ""
		if i < posterBase {
			uid = w.UserIDs[m[0]]
		} else {
			uid = w.PosterIDs[m[0]]
		}
		return call(ctx, "PUT", "/api/v1/rooms/"+w.RoomIDs[m[1]]+"/members/"+uid, w.Key, map[string]string{"role": "member"}, nil)
	}); err != nil {
		return nil, err
	}

	if err := w.MintTokens(ctx, api, workers, logf, &reqs); err != nil {
		return nil, err
	}
	w.Requests = reqs.Load()
	w.Seconds = time.Since(start).Seconds()
	return w, nil
}

// MintToken returns a fresh access token for userID, through the API key.
func (w *World) MintToken(ctx context.Context, api *API, userID string) (string, error) {
	var tr TokenResponse
	if _, err := api.DoRetry(ctx, 5, "POST", "/api/v1/tokens", w.Key, map[string]string{"user_id": userID}, &tr); err != nil {
		return "", err
	}
	if tr.AccessToken == "" {
		return "", fmt.Errorf("POST /api/v1/tokens: answer has no access_token")
	}
	return tr.AccessToken, nil
}

// MintTokens (re)mints access tokens for every user and poster.
func (w *World) MintTokens(ctx context.Context, api *API, workers int, logf Logf, reqs *atomic.Int64) error {
	all := append(append([]string(nil), w.UserIDs...), w.PosterIDs...)
	toks := make([]string, len(all))
	if err := pool(ctx, "tokens", len(all), workers, logf, func(ctx context.Context, i int) error {
		reqs.Add(1)
		t, err := w.MintToken(ctx, api, all[i])
		toks[i] = t
		return err
	}); err != nil {
		return err
	}
	w.UserTokens = toks[:len(w.UserIDs)]
	w.PosterTokens = toks[len(w.UserIDs):]
	return nil
}
