package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

type invite struct {
	Code      string    `json:"code"`
	Prefix    string    `json:"prefix"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// inviteOnly makes a tenant whose sign-up needs an invite; it returns its owner.
func inviteOnly(t *testing.T, s *testkit.Server, slug, owner string) testkit.User {
	t.Helper()
	u := s.CreateTenant(t, slug, owner)
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", u.Token, map[string]string{"signup_policy": "invite"}, nil)
	return u
}

func createInvite(t *testing.T, s *testkit.Server, token string, body any) invite {
	t.Helper()
	var inv invite
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", token, body, &inv)
	return inv
}

func listInvites(t *testing.T, s *testkit.Server, token string) []invite {
	t.Helper()
	var out []invite
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant/invites", token, nil, &out)
	return out
}

func signupWith(t *testing.T, s *testkit.Server, slug, username, code string) testkit.Response {
	t.Helper()
	return s.Do(t, "POST", "/api/v1/auth/signup", "", map[string]string{
		"tenant": slug, "username": username, "password": testkit.Password, "invite_code": code})
}

func TestInviteIsSingleUseByDefault(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := inviteOnly(t, s, "acme", "alice")
	inv := createInvite(t, s, alice.Token, nil)
	if inv.MaxUses != 1 || inv.Uses != 0 || len(inv.Code) != 24 || inv.Prefix != inv.Code[:6] {
		t.Fatalf("invite = %+v", inv)
	}
	if r := signupWith(t, s, "acme", "bob", inv.Code); r.Status != http.StatusCreated {
		t.Fatalf("first sign-up: %d %s", r.Status, r.Body)
	}
	before := snapshot(t, s)
	expect(t, signupWith(t, s, "acme", "carol", inv.Code), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, before)
	if open := listInvites(t, s, alice.Token); len(open) != 0 {
		t.Errorf("a used-up invite is still listed: %+v", open)
	}
}

func TestInviteMaxUsesHoldsUnderParallelSignups(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := inviteOnly(t, s, "acme", "alice")
	const maxUses, tries = 3, 12
	inv := createInvite(t, s, alice.Token, map[string]int{"max_uses": maxUses})
	if inv.MaxUses != maxUses {
		t.Fatalf("invite = %+v", inv)
	}
	usersBefore := s.Count(t, &store.User{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		start    = make(chan struct{})
	)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := signupWith(t, s, "acme", fmt.Sprintf("user%02d", i), inv.Code)
			mu.Lock()
			statuses[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[http.StatusCreated] != maxUses || statuses[http.StatusForbidden] != tries-maxUses {
		t.Fatalf("parallel sign-ups with one code: %v, want %d created and the rest 403", statuses, maxUses)
	}
	if n := s.Count(t, &store.User{}) - usersBefore; n != maxUses {
		t.Errorf("%d users signed up, want %d", n, maxUses)
	}

	// A sign-up that fails for another reason (a taken username) does not use the invite up.
	two := createInvite(t, s, alice.Token, map[string]int{"max_uses": 2})
	expect(t, signupWith(t, s, "acme", "alice", two.Code), http.StatusConflict, "conflict")
	if open := listInvites(t, s, alice.Token); len(open) != 1 || open[0].Uses != 0 {
		t.Errorf("after a failed sign-up the invite reads %+v, want unused", open)
	}
	for _, name := range []string{"zed", "yan"} {
		if r := signupWith(t, s, "acme", name, two.Code); r.Status != http.StatusCreated {
			t.Errorf("sign-up %s: %d %s", name, r.Status, r.Body)
		}
	}
}

func TestInvitesListAndRevoke(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := inviteOnly(t, s, "acme", "alice")
	adam := createAdmin(t, s, alice.Token, "acme", "adam")
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "bob", "password": testkit.Password}, nil)
	bob := mustLogin(t, s, "acme", "bob", testkit.Password)
	key := createKey(t, s, alice.Token, "users:write", "rooms:write", "messages:write", "tokens:write")
	olga := inviteOnly(t, s, "other", "olga")

	one := createInvite(t, s, alice.Token, nil)
	five := createInvite(t, s, adam.AccessToken, map[string]int{"max_uses": 5})
	last := createInvite(t, s, alice.Token, map[string]int{"max_uses": 1})
	theirs := createInvite(t, s, olga.Token, nil)
	if r := signupWith(t, s, "acme", "carol", five.Code); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}

	// Listed newest first, with their uses, never with the code itself.
	listed := listInvites(t, s, adam.AccessToken)
	if len(listed) != 3 || listed[0].Prefix != last.Prefix || listed[1].Prefix != five.Prefix || listed[2].Prefix != one.Prefix {
		t.Fatalf("listed %+v", listed)
	}
	if listed[1].Uses != 1 || listed[1].MaxUses != 5 || listed[1].CreatedBy != adam.User.ID || listed[0].Code != "" {
		t.Errorf("listed %+v", listed[1])
	}
	raw := string(s.Do(t, "GET", "/api/v1/tenant/invites", alice.Token, nil).Body)
	for _, inv := range []invite{one, five, last} {
		if strings.Contains(raw, inv.Code) {
			t.Errorf("the list shows a whole code: %s", raw)
		}
	}

	// Misuse: members, keys, another tenant, unknown codes. None changes anything.
	before := snapshot(t, s)
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"member lists", "GET", "/api/v1/tenant/invites", bob.AccessToken, 403, "forbidden"},
		{"member revokes", "DELETE", "/api/v1/tenant/invites/" + one.Prefix, bob.AccessToken, 403, "forbidden"},
		{"member creates", "POST", "/api/v1/tenant/invites", bob.AccessToken, 403, "forbidden"},
		{"key lists", "GET", "/api/v1/tenant/invites", key, 403, "forbidden"},
		{"key revokes", "DELETE", "/api/v1/tenant/invites/" + one.Code, key, 403, "forbidden"},
		{"no login", "DELETE", "/api/v1/tenant/invites/" + one.Code, "", 401, "unauthenticated"},
		{"another tenant's admin, by code", "DELETE", "/api/v1/tenant/invites/" + one.Code, olga.Token, 404, "not_found"},
		{"another tenant's admin, by prefix", "DELETE", "/api/v1/tenant/invites/" + one.Prefix, olga.Token, 404, "not_found"},
		{"another tenant's invite", "DELETE", "/api/v1/tenant/invites/" + theirs.Code, alice.Token, 404, "not_found"},
		{"unknown code", "DELETE", "/api/v1/tenant/invites/nosuchcode", alice.Token, 404, "not_found"},
		{"over-long code", "DELETE", "/api/v1/tenant/invites/" + strings.Repeat("x", 300), alice.Token, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) { expect(t, s.Do(t, tc.method, tc.path, tc.token, nil), tc.status, tc.code) })
	}
	assertUnchanged(t, s, before)
	if len(listInvites(t, s, olga.Token)) != 1 {
		t.Error("another tenant sees acme's invites or lost its own")
	}

	// Revoking by the listed prefix and by the whole code; a revoked code signs nobody up.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/tenant/invites/"+one.Prefix, adam.AccessToken, nil, nil)
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/tenant/invites/"+five.Code, alice.Token, nil, nil)
	expect(t, s.Do(t, "DELETE", "/api/v1/tenant/invites/"+one.Prefix, alice.Token, nil), http.StatusNotFound, "not_found")
	before = snapshot(t, s)
	expect(t, signupWith(t, s, "acme", "dave", one.Code), http.StatusForbidden, "forbidden")
	expect(t, signupWith(t, s, "acme", "dave", five.Code), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, before)
	if listed := listInvites(t, s, alice.Token); len(listed) != 1 || listed[0].Prefix != last.Prefix {
		t.Errorf("after revoking two, listed %+v", listed)
	}
	// A used-up invite is no longer open: there is nothing to revoke.
	if r := signupWith(t, s, "acme", "erin", last.Code); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}
	expect(t, s.Do(t, "DELETE", "/api/v1/tenant/invites/"+last.Prefix, alice.Token, nil), http.StatusNotFound, "not_found")
	if r := signupWith(t, s, "other", "fred", theirs.Code); r.Status != http.StatusCreated {
		t.Errorf("the other tenant's invite stopped working: %d %s", r.Status, r.Body)
	}
}

func TestInviteMaxUsesIsChecked(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := inviteOnly(t, s, "acme", "alice")
	before := snapshot(t, s)
	for _, body := range []string{`{"max_uses":0}`, `{"max_uses":-1}`, `{"max_uses":1001}`, `{"max_uses":"2"}`, `{"max_uses":1.5}`} {
		r := s.Do(t, "POST", "/api/v1/tenant/invites", alice.Token, body)
		if e := errorOf(t, r); r.Status != http.StatusBadRequest || e.Error.Field != "max_uses" {
			t.Errorf("%s: %d %s, want 400 naming max_uses", body, r.Status, r.Body)
		}
	}
	expect(t, s.Do(t, "POST", "/api/v1/tenant/invites", alice.Token, `{"uses":3}`), http.StatusBadRequest, "invalid_request")
	assertUnchanged(t, s, before)
	if inv := createInvite(t, s, alice.Token, map[string]int{"max_uses": 1000}); inv.MaxUses != 1000 {
		t.Errorf("invite = %+v", inv)
	}
}

func TestOpenInvitesPerTenantCap(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.MaxInvitesPerTenant = 2 })
	alice := inviteOnly(t, s, "acme", "alice")
	first := createInvite(t, s, alice.Token, nil)
	createInvite(t, s, alice.Token, nil)
	before := snapshot(t, s)
	expectQuota(t, s, before, s.Do(t, "POST", "/api/v1/tenant/invites", alice.Token, nil))
	// Once an invite is used up it no longer counts.
	if r := signupWith(t, s, "acme", "bob", first.Code); r.Status != http.StatusCreated {
		t.Fatalf("sign-up: %d %s", r.Status, r.Body)
	}
	createInvite(t, s, alice.Token, nil)
	if got := s.Metric(t, refusedMetric, "limit", "open_invites_per_tenant"); got != 1 {
		t.Errorf("%s{limit=open_invites_per_tenant} = %v, want 1", refusedMetric, got)
	}
}
