package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

// ---- helpers --------------------------------------------------------------

const unknownID = "01900000-0000-7000-8000-000000000000"

// snapshot is every row of every table (except bookkeeping: the
// api_keys.last_used_at times, the expiry that a node on PostgreSQL renews
// in cache_nodes every second, the rate limits' counts kept in the database
// when it is shared, and the search index, derived from the messages, which
// on SQLite takes in earlier posts a moment after they commit), one sorted
// string per row, so a comparison shows whether a request changed, added or
// removed any data.
func snapshot(t *testing.T, s *testkit.Server) map[string][]string {
	t.Helper()
	db := s.App.Store.Read(context.Background())
	var tables []string
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_%' ORDER BY name`
	if s.App.Store.Postgres() {
		list = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
			AND table_name NOT LIKE 'search_%' ORDER BY table_name`
	}
	if err := db.Raw(list).Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	snap := make(map[string][]string, len(tables))
	for _, table := range tables {
		if strings.HasPrefix(table, "limit_") {
			continue
		}
		var rows []map[string]any
		if err := db.Table(table).Find(&rows).Error; err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		lines := make([]string, 0, len(rows))
		for _, r := range rows {
			switch table {
			case "api_keys":
				delete(r, "last_used_at")
			case "cache_nodes":
				delete(r, "expires_at")
			}
			cols := make([]string, 0, len(r))
			for c, v := range r {
				cols = append(cols, fmt.Sprintf("%s=%v", c, v))
			}
			sort.Strings(cols)
			lines = append(lines, strings.Join(cols, " "))
		}
		sort.Strings(lines)
		snap[table] = lines
	}
	return snap
}

// sameData fails unless two snapshots hold the same rows.
func sameData(t *testing.T, before, after map[string][]string) {
	t.Helper()
	for table, rows := range after {
		if !slices.Equal(before[table], rows) {
			t.Errorf("table %s changed: %d rows before, %d after\nbefore: %q\nafter:  %q", table, len(before[table]), len(rows), before[table], rows)
		}
	}
	if len(before) != len(after) {
		t.Errorf("tables changed: %d before, %d after", len(before), len(after))
	}
}

// assertUnchanged fails unless the database holds what before saw.
func assertUnchanged(t *testing.T, s *testkit.Server, before map[string][]string) {
	t.Helper()
	sameData(t, before, snapshot(t, s))
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func errorOf(t *testing.T, r testkit.Response) apiError {
	t.Helper()
	var e apiError
	r.Decode(t, &e)
	return e
}

// expect checks an error response's status and code.
func expect(t *testing.T, r testkit.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %s, want %d %s: %s", r.Status, r.ErrorCode(), status, code, r.Body)
	}
}

func login(t *testing.T, s *testkit.Server, slug, username, password string) testkit.Response {
	t.Helper()
	return s.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": slug, "username": username, "password": password})
}

func mustLogin(t *testing.T, s *testkit.Server, slug, username, password string) testkit.TokenResponse {
	t.Helper()
	r := login(t, s, slug, username, password)
	if r.Status != http.StatusOK {
		t.Fatalf("login %s/%s: %d %s", slug, username, r.Status, r.Body)
	}
	var tr testkit.TokenResponse
	r.Decode(t, &tr)
	return tr
}

func refresh(t *testing.T, s *testkit.Server, token string) testkit.Response {
	t.Helper()
	return s.Do(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
}

type userJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

type tenantJSON struct {
	ID           string    `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	SignupPolicy string    `json:"signup_policy"`
	CreatedAt    time.Time `json:"created_at"`
}

func me(t *testing.T, s *testkit.Server, token string) testkit.Response {
	t.Helper()
	return s.Do(t, "GET", "/api/v1/me", token, nil)
}

// claimsOf reads a token's claims without checking it.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		t.Fatalf("parse %q: %v", token, err)
	}
	return c
}

// serverKey is the signing key the server generated in its data dir.
func serverKey(t *testing.T, s *testkit.Server) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.Cfg.DataDir, "jwt.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func signed(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	raw, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func createAdmin(t *testing.T, s *testkit.Server, ownerToken, slug, username string) testkit.TokenResponse {
	t.Helper()
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", ownerToken,
		map[string]string{"username": username, "password": testkit.Password, "role": "admin"}, nil)
	return mustLogin(t, s, slug, username, testkit.Password)
}

func createKey(t *testing.T, s *testkit.Server, adminToken string, scopes ...string) string {
	t.Helper()
	var k struct {
		Key string `json:"key"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/apikeys", adminToken, map[string]any{"name": "backend", "scopes": scopes}, &k)
	if !strings.HasPrefix(k.Key, "pk_") {
		t.Fatalf("api key %q", k.Key)
	}
	return k.Key
}

// ---- the walk-through -----------------------------------------------------

func TestWalkthrough(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)

	// Create a tenant: its admin is its owner, logged in.
	var created struct {
		Tenant tenantJSON `json:"tenant"`
		testkit.TokenResponse
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenants", "", map[string]any{
		"slug": "acme", "name": "  Acme Inc.  ",
		"admin": map[string]string{"username": "alice", "password": testkit.Password, "display_name": "Alice A."},
	}, &created)
	if created.Tenant.Slug != "acme" || created.Tenant.Name != "Acme Inc." || created.Tenant.SignupPolicy != "open" || created.Tenant.ID == "" {
		t.Errorf("tenant = %+v", created.Tenant)
	}
	if created.AccessToken == "" || created.RefreshToken == "" || created.ExpiresIn != 900 {
		t.Errorf("token response = %+v", created.TokenResponse)
	}
	if created.User.Role != "owner" || created.User.Username != "alice" {
		t.Errorf("admin = %+v", created.User)
	}
	c := claimsOf(t, created.AccessToken)
	for _, claim := range []string{"sub", "tid", "role", "iat", "exp", "jti"} {
		if _, ok := c[claim]; !ok {
			t.Errorf("access token lacks %q: %v", claim, c)
		}
	}
	if c["sub"] != created.User.ID || c["tid"] != created.Tenant.ID || c["role"] != "owner" {
		t.Errorf("claims = %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 900 {
		t.Errorf("lifetime %vs, want 900", exp-iat)
	}

	// Sign up a second user.
	var signedUp testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{
		"tenant": "acme", "username": "bob", "password": "bobs-password", "display_name": "Bob",
	}, &signedUp)
	if signedUp.User.Role != "member" || signedUp.AccessToken == "" || signedUp.RefreshToken == "" {
		t.Errorf("signup = %+v", signedUp)
	}

	// Log in, then ask who I am.
	tr := mustLogin(t, s, "acme", "bob", "bobs-password")
	if tr.User.ID != signedUp.User.ID || tr.AccessToken == signedUp.AccessToken || tr.RefreshToken == signedUp.RefreshToken {
		t.Errorf("login = %+v", tr)
	}
	var u userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", tr.AccessToken, nil, &u)
	if u.ID != signedUp.User.ID || u.Username != "bob" || u.DisplayName != "Bob" || u.Role != "member" || u.Disabled || u.CreatedAt.IsZero() {
		t.Errorf("me = %+v", u)
	}
	if _, off := u.CreatedAt.Zone(); off != 0 {
		t.Errorf("created_at is not UTC: %v", u.CreatedAt)
	}
	var raw map[string]any
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", tr.AccessToken, nil, &raw)
	for _, secret := range []string{"password", "password_hash", "PasswordHash"} {
		if _, ok := raw[secret]; ok {
			t.Errorf("/me shows %s", secret)
		}
	}
	// The signup token works too, and both see the same tenant.
	var tn tenantJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", signedUp.AccessToken, nil, &tn)
	if tn.ID != created.Tenant.ID {
		t.Errorf("tenant = %+v", tn)
	}
	var users []userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/users", created.AccessToken, nil, &users)
	if len(users) != 2 || users[0].Username != "alice" || users[1].Username != "bob" {
		t.Errorf("users = %+v", users)
	}
}

// ---- tenants are walled off ----------------------------------------------

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.CreateTenant(t, "beta", "carol")
	dave := s.Signup(t, "beta", "dave")
	betaTenant := claimsOf(t, carol.Token)["tid"].(string)

	// Each sees only their own tenant and its users.
	var tn tenantJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", alice.Token, nil, &tn)
	if tn.Slug != "acme" {
		t.Errorf("alice sees tenant %q", tn.Slug)
	}
	var users []userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/users", alice.Token, nil, &users)
	for _, u := range users {
		if u.ID == carol.ID || u.ID == dave.ID {
			t.Errorf("acme's user list shows %s of beta", u.Username)
		}
	}

	// A room in beta.
	var room struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", carol.Token, map[string]string{"name": "beta-only", "visibility": "public"}, &room)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+room.ID+"/messages", carol.Token, map[string]string{"body": "secret plans"}, nil)

	before := snapshot(t, s)
	cases := []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/api/v1/users/" + dave.ID, map[string]any{"disabled": true}},
		{"PATCH", "/api/v1/users/" + carol.ID, map[string]any{"role": "member"}},
		{"GET", "/api/v1/rooms/" + room.ID, nil},
		{"PATCH", "/api/v1/rooms/" + room.ID, map[string]any{"name": "mine now"}},
		{"DELETE", "/api/v1/rooms/" + room.ID, nil},
		{"POST", "/api/v1/rooms/" + room.ID + "/join", nil},
		{"GET", "/api/v1/rooms/" + room.ID + "/messages", nil},
		{"POST", "/api/v1/rooms/" + room.ID + "/messages", map[string]string{"body": "hi"}},
		{"GET", "/api/v1/rooms/" + room.ID + "/members", nil},
		{"PUT", "/api/v1/rooms/" + room.ID + "/members/" + alice.ID, map[string]string{"role": "owner"}},
	}
	for _, tok := range []struct{ who, token string }{{"owner", alice.Token}, {"member", bob.Token}} {
		for _, tc := range cases {
			t.Run(tok.who+" "+tc.method+" "+tc.path, func(t *testing.T) {
				r := s.Do(t, tc.method, tc.path, tok.token, tc.body)
				switch r.Status {
				case http.StatusNotFound, http.StatusUnauthorized:
				case http.StatusForbidden:
					// A member may not do this to anyone: fine, if a made-up id gets the same answer.
					madeUp := strings.NewReplacer(dave.ID, unknownID, carol.ID, unknownID, room.ID, unknownID).Replace(tc.path)
					if r2 := s.Do(t, tc.method, madeUp, tok.token, tc.body); r2.Status != r.Status || !bytes.Equal(r2.Body, r.Body) {
						t.Errorf("403 here but %d for a made-up id: the answer tells them apart", r2.Status)
					}
				default:
					t.Errorf("got %d, want 404 or 401: %s", r.Status, r.Body)
				}
				if bytes.Contains(r.Body, []byte("secret plans")) || bytes.Contains(r.Body, []byte("beta-only")) ||
					bytes.Contains(r.Body, []byte(`"dave"`)) {
					t.Errorf("another tenant's data leaked: %s", r.Body)
				}
			})
		}
	}
	st := s.Open(t, "/api/v1/rooms/"+room.ID+"/events", alice.Token, "")
	if st.Status != http.StatusNotFound {
		t.Errorf("alice opened beta's room stream: %d", st.Status)
	}
	assertUnchanged(t, s, before)

	// acme's credentials do not open beta.
	expect(t, login(t, s, "beta", "alice", testkit.Password), http.StatusUnauthorized, "unauthenticated")
	// A validly signed token claiming beta for alice's login is refused.
	key := serverKey(t, s)
	ac := claimsOf(t, alice.Token)
	ac["tid"] = betaTenant
	expect(t, me(t, s, signed(t, jwt.SigningMethodHS256, ac, key)), http.StatusUnauthorized, "unauthenticated")
	// ... and so is alice's user id with dave's login.
	ac = claimsOf(t, alice.Token)
	ac["sid"] = claimsOf(t, dave.Token)["sid"]
	expect(t, me(t, s, signed(t, jwt.SigningMethodHS256, ac, key)), http.StatusUnauthorized, "unauthenticated")
	// Logging out someone else's login is refused, and it stays alive.
	r := s.Do(t, "POST", "/api/v1/auth/logout", alice.Token, map[string]string{"refresh_token": dave.RefreshToken})
	if r.Status < 400 {
		t.Errorf("alice logged out dave: %d", r.Status)
	}
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": dave.RefreshToken}, nil)

	// Usernames are per tenant: beta may have its own alice.
	s.Signup(t, "beta", "alice")

	// An API key of acme acts in acme only.
	key2 := createKey(t, s, alice.Token, "users:write", "rooms:write", "tokens:write")
	var made userJSON
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key2, map[string]string{"username": "erin", "display_name": "Erin"}, &made)
	s.Must(t, http.StatusOK, "GET", "/api/v1/users?q=erin", alice.Token, nil, &users)
	if len(users) != 1 || users[0].ID != made.ID {
		t.Errorf("key-made user not in acme: %+v", users)
	}
	if r := s.Do(t, "POST", "/api/v1/tokens", key2, map[string]string{"user_id": dave.ID}); r.Status != http.StatusNotFound {
		t.Errorf("acme's key minted a token for beta's dave: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/rooms/"+room.ID, key2, nil); r.Status != http.StatusNotFound {
		t.Errorf("acme's key sees beta's room: %d %s", r.Status, r.Body)
	}
}

// ---- tokens the server did not issue, or no longer honours ---------------

func TestBadAccessTokens(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	key := serverKey(t, s)
	good := claimsOf(t, alice.Token)
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		edit(c)
		return c
	}
	parts := strings.Split(alice.Token, ".")
	hsWithHeader := func(header map[string]any, claims jwt.MapClaims) string {
		signing := b64(header) + "." + b64(claims)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	now := time.Now().Unix()

	tests := []struct {
		name   string
		header string // the whole Authorization header
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"basic auth", "Basic YWxpY2U6cGFzc3dvcmQ="},
		{"token without scheme", alice.Token},
		{"garbage", "Bearer not.a.jwt"},
		{"forged payload", "Bearer " + parts[0] + "." + b64(with(func(c jwt.MapClaims) { c["role"] = "admin"; c["sub"] = "someone" })) + "." + parts[2]},
		{"signature stripped", "Bearer " + parts[0] + "." + parts[1] + "."},
		{"alg none", "Bearer " + signed(t, jwt.SigningMethodNone, good, jwt.UnsafeAllowNoneSignatureType)},
		{"alg none with the real signature", "Bearer " + b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + "." + parts[2]},
		{"HS512 with the server's key", "Bearer " + signed(t, jwt.SigningMethodHS512, good, key)},
		{"RS256 header, HMAC with the server's key", "Bearer " + hsWithHeader(map[string]any{"alg": "RS256", "typ": "JWT"}, good)},
		{"wrong key", "Bearer " + signed(t, jwt.SigningMethodHS256, good, []byte("not-the-key-not-the-key-not-the-key"))},
		{"expired", "Bearer " + signed(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["iat"] = now - 3600; c["exp"] = now - 60 }), key)},
		{"no exp", "Bearer " + signed(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "exp") }), key)},
		{"unknown user", "Bearer " + signed(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sub"] = unknownID }), key)},
		{"unknown login", "Bearer " + signed(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { c["sid"] = unknownID }), key)},
		{"no login", "Bearer " + signed(t, jwt.SigningMethodHS256, with(func(c jwt.MapClaims) { delete(c, "sid") }), key)},
		{"unknown api key", "Bearer pk_abcdefgh_" + strings.Repeat("A", 43)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.DoWith(t, "GET", "/api/v1/me", "", nil, map[string]string{"Authorization": tc.header})
			expect(t, r, http.StatusUnauthorized, "unauthenticated")
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			// The stream endpoints refuse it too, also as ?token=.
			if tok, ok := strings.CutPrefix(tc.header, "Bearer "); ok && tok != "" {
				st := s.Open(t, "/api/v1/events?token="+tok, "", "")
				if st.Status != http.StatusUnauthorized {
					t.Errorf("stream with ?token=: %d", st.Status)
				}
			}
		})
	}
	// The control: the real token, in the header and as ?token= on a stream.
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", alice.Token, nil, nil)
	st := s.Open(t, "/api/v1/events?token="+alice.Token, "", "")
	if st.Status != http.StatusOK {
		t.Errorf("stream with a good ?token=: %d", st.Status)
	}
	// ?token= is for streams only.
	expect(t, s.Do(t, "GET", "/api/v1/me?token="+alice.Token, "", nil), http.StatusUnauthorized, "unauthenticated")
}

func TestAccessTokenExpires(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.AccessTokenTTL = 2 * time.Second })
	alice := s.CreateTenant(t, "acme", "alice")
	var tr testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": alice.RefreshToken}, &tr)
	if tr.ExpiresIn != 2 {
		t.Errorf("expires_in = %d, want 2", tr.ExpiresIn)
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", tr.AccessToken, nil, nil)
	st := s.Open(t, "/api/v1/events?token="+tr.AccessToken, "", "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream: %d", st.Status)
	}
	exp := time.Unix(int64(claimsOf(t, tr.AccessToken)["exp"].(float64)), 0)
	st.NextNamed(t, "token.expired", time.Until(exp)+2*time.Second)
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	expect(t, me(t, s, tr.AccessToken), http.StatusUnauthorized, "unauthenticated")
	if st := s.Open(t, "/api/v1/events?token="+tr.AccessToken, "", ""); st.Status != http.StatusUnauthorized {
		t.Errorf("stream with an expired token: %d", st.Status)
	}
	// The login lives on: its refresh token still trades for a fresh pair.
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken}, &tr)
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", tr.AccessToken, nil, nil)
}

// ---- refresh, logout ------------------------------------------------------

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	other := mustLogin(t, s, "acme", "alice", testkit.Password) // a second login, e.g. a phone

	var first, second testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": alice.RefreshToken}, &first)
	if first.RefreshToken == alice.RefreshToken || first.AccessToken == alice.Token || first.User.ID != alice.ID || first.ExpiresIn != 900 {
		t.Fatalf("refresh = %+v", first)
	}
	if claimsOf(t, first.AccessToken)["sid"] != claimsOf(t, alice.Token)["sid"] {
		t.Error("a refresh started a new login instead of continuing the old one")
	}
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}, &second)
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", second.AccessToken, nil, nil)

	// The first refresh token again: a replay. The whole login ends.
	r := refresh(t, s, alice.RefreshToken)
	expect(t, r, http.StatusUnauthorized, "unauthenticated")
	for name, tok := range map[string]string{"latest refresh": second.RefreshToken, "middle refresh": first.RefreshToken} {
		if r := refresh(t, s, tok); r.Status != http.StatusUnauthorized {
			t.Errorf("%s after replay: %d", name, r.Status)
		}
	}
	for name, tok := range map[string]string{"original access": alice.Token, "first access": first.AccessToken, "latest access": second.AccessToken} {
		if r := me(t, s, tok); r.Status != http.StatusUnauthorized {
			t.Errorf("%s after replay: %d", name, r.Status)
		}
	}
	// The other login is untouched.
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", other.AccessToken, nil, nil)
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken}, nil)

	// An expired refresh token, and one whose login has expired.
	for _, table := range []string{"refresh_tokens", "sessions"} {
		tr := mustLogin(t, s, "acme", "alice", testkit.Password)
		sid := claimsOf(t, tr.AccessToken)["sid"]
		err := s.App.Store.Write(context.Background(), func(tx *store.Tx) error {
			q := tx.Table(table).Where("session_id = ?", sid)
			if table == "sessions" {
				q = tx.Table(table).Where("id = ?", sid)
			}
			return q.Update("expires_at", time.Now().Add(-time.Second)).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, refresh(t, s, tr.RefreshToken), http.StatusUnauthorized, "unauthenticated")
	}

	// Made-up refresh tokens.
	for _, tok := range []string{"nope", strings.Repeat("A", 43), claimsOf(t, alice.Token)["jti"].(string)} {
		expect(t, refresh(t, s, tok), http.StatusUnauthorized, "unauthenticated")
	}
}

func TestRefreshTokenIsSingleUseUnderRace(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/auth/refresh", strings.NewReader(`{"refresh_token":"`+alice.RefreshToken+`"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		if st == http.StatusOK {
			ok++
		}
	}
	if ok > 1 {
		t.Errorf("%d concurrent refreshes with one token succeeded: %v", ok, statuses)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	phone := mustLogin(t, s, "acme", "alice", testkit.Password)
	bob := s.Signup(t, "acme", "bob")

	st := s.Open(t, "/api/v1/events?token="+alice.Token, "", "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream: %d", st.Status)
	}
	// Not with bob's refresh token, nor a made-up one; nor without a login.
	before := snapshot(t, s)
	expect(t, s.Do(t, "POST", "/api/v1/auth/logout", alice.Token, map[string]string{"refresh_token": bob.RefreshToken}), http.StatusUnauthorized, "unauthenticated")
	expect(t, s.Do(t, "POST", "/api/v1/auth/logout", alice.Token, map[string]string{"refresh_token": "made-up"}), http.StatusUnauthorized, "unauthenticated")
	expect(t, s.Do(t, "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": alice.RefreshToken}), http.StatusUnauthorized, "unauthenticated")
	assertUnchanged(t, s, before)

	s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", alice.Token, map[string]string{"refresh_token": alice.RefreshToken}, nil)
	expect(t, refresh(t, s, alice.RefreshToken), http.StatusUnauthorized, "unauthenticated")
	expect(t, me(t, s, alice.Token), http.StatusUnauthorized, "unauthenticated")
	select {
	case <-st.Ended():
	case <-time.After(3 * time.Second):
		t.Error("the logged-out login's stream is still open")
	}
	// Only that login ended.
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", phone.AccessToken, nil, nil)
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", bob.Token, nil, nil)
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bob.RefreshToken}, nil)
	// A new login works.
	mustLogin(t, s, "acme", "alice", testkit.Password)
}

// ---- restart --------------------------------------------------------------

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	admin := createAdmin(t, s, alice.Token, "acme", "adam")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+carol.ID, alice.Token, map[string]any{"disabled": true}, nil)
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", alice.Token, map[string]any{"signup_policy": "invite", "name": "Acme Renamed"}, nil)
	var inv struct {
		Code string `json:"code"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", alice.Token, nil, &inv)
	keyPath := filepath.Join(s.Cfg.DataDir, "jwt.key")
	keyBefore, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	s.Restart(t)

	keyAfter, _ := os.ReadFile(keyPath)
	if !bytes.Equal(keyBefore, keyAfter) {
		t.Error("the signing key changed on restart")
	}
	// Tokens issued before still work.
	var u userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", bob.Token, nil, &u)
	if u.Username != "bob" {
		t.Errorf("me = %+v", u)
	}
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bob.RefreshToken}, nil)
	// The tenant, its settings and its users.
	var tn tenantJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", alice.Token, nil, &tn)
	if tn.Name != "Acme Renamed" || tn.SignupPolicy != "invite" {
		t.Errorf("tenant = %+v", tn)
	}
	mustLogin(t, s, "acme", "bob", testkit.Password)
	expect(t, login(t, s, "acme", "carol", testkit.Password), http.StatusForbidden, "forbidden") // disabled
	expect(t, me(t, s, carol.Token), http.StatusUnauthorized, "unauthenticated")
	// Policies: owner and admin may manage, a member may not.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", admin.AccessToken, map[string]any{"name": "By Adam"}, nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "frank"}, nil)
	expect(t, s.Do(t, "PATCH", "/api/v1/tenant", bob.Token, map[string]any{"name": "By Bob"}), http.StatusForbidden, "forbidden")
	expect(t, s.Do(t, "POST", "/api/v1/tenant/invites", bob.Token, nil), http.StatusForbidden, "forbidden")
	// The invite policy, and the invite made before the restart.
	expect(t, s.Do(t, "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "gina", "password": testkit.Password}), http.StatusForbidden, "forbidden")
	s.Must(t, http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "gina", "password": testkit.Password, "invite_code": inv.Code}, nil)
	// The slug is still taken.
	expect(t, s.Do(t, "POST", "/api/v1/tenants", "", map[string]any{"slug": "acme", "name": "X", "admin": map[string]string{"username": "zed", "password": testkit.Password}}), http.StatusConflict, "conflict")
}

func TestSigningKeyFile(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	st, err := os.Stat(filepath.Join(s.Cfg.DataDir, "jwt.key"))
	if err != nil {
		t.Fatalf("no key in the data dir: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("jwt.key mode %v, want 0600", st.Mode().Perm())
	}
	if len(serverKey(t, s)) < 32 {
		t.Error("key shorter than 32 bytes")
	}
	// A configured key is used instead, and nothing is written.
	configured := strings.Repeat("k", 40)
	s2 := testkit.Start(t, func(c *config.Config) { c.JWTKey = configured })
	alice := s2.CreateTenant(t, "acme", "alice")
	if _, err := os.Stat(filepath.Join(s2.Cfg.DataDir, "jwt.key")); err == nil {
		t.Error("a key file was written although a key is configured")
	}
	if _, err := jwt.Parse(alice.Token, func(*jwt.Token) (any, error) { return []byte(configured), nil }); err != nil {
		t.Errorf("token not signed with the configured key: %v", err)
	}
}

// ---- bad input ------------------------------------------------------------

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	adam := createAdmin(t, s, alice.Token, "acme", "adam")
	carol := s.CreateTenant(t, "beta", "carol")
	long := func(n int) string { return strings.Repeat("x", n) }
	admin := func(username, password string) map[string]string {
		return map[string]string{"username": username, "password": password}
	}
	tenant := func(slug, name string, adm any) map[string]any {
		return map[string]any{"slug": slug, "name": name, "admin": adm}
	}
	signup := func(tenant, username, password string) map[string]string {
		return map[string]string{"tenant": tenant, "username": username, "password": password}
	}
	pw := testkit.Password
	tooBig := `{"slug":"` + strings.Repeat("a", 1<<20) + `"}`
	exactly := func(n int) string { // a signup body of exactly n bytes, its password too long
		head, tail := `{"tenant":"acme","username":"zed","password":"`, `"}`
		return head + strings.Repeat("p", n-len(head)-len(tail)) + tail
	}

	type tc struct {
		name         string
		method, path string
		token        string
		body         any
		header       map[string]string
		status       int
		code         string
		field        string
	}
	tests := []tc{
		// POST /tenants
		{"tenant: malformed JSON", "POST", "/api/v1/tenants", "", `{"slug": "x",`, nil, 400, "invalid_request", ""},
		{"tenant: not JSON", "POST", "/api/v1/tenants", "", `slug=x`, nil, 400, "invalid_request", ""},
		{"tenant: empty body", "POST", "/api/v1/tenants", "", "", map[string]string{"Content-Type": "application/json"}, 400, "invalid_request", ""},
		{"tenant: array", "POST", "/api/v1/tenants", "", `[]`, nil, 400, "invalid_request", ""},
		{"tenant: two objects", "POST", "/api/v1/tenants", "", `{"slug":"newco","name":"N","admin":{"username":"zed","password":"` + pw + `"}} {}`, nil, 400, "invalid_request", ""},
		{"tenant: trailing brace", "POST", "/api/v1/tenants", "", `{"slug":"newco","name":"N","admin":{"username":"zed","password":"` + pw + `"}}}`, nil, 400, "invalid_request", ""},
		{"tenant: unknown field", "POST", "/api/v1/tenants", "", map[string]any{"slug": "newco", "name": "N", "admin": admin("zed", pw), "plan": "gold"}, nil, 400, "invalid_request", "plan"},
		{"tenant: unknown nested field", "POST", "/api/v1/tenants", "", tenant("newco", "N", map[string]string{"username": "zed", "password": pw, "email": "z@x"}), nil, 400, "invalid_request", "email"},
		{"tenant: wrong type", "POST", "/api/v1/tenants", "", map[string]any{"slug": 5, "name": "N", "admin": admin("zed", pw)}, nil, 400, "invalid_request", "slug"},
		{"tenant: missing slug", "POST", "/api/v1/tenants", "", map[string]any{"name": "N", "admin": admin("zed", pw)}, nil, 400, "invalid_request", "slug"},
		{"tenant: upper-case slug", "POST", "/api/v1/tenants", "", tenant("NewCo", "N", admin("zed", pw)), nil, 400, "invalid_request", "slug"},
		{"tenant: slug with underscore", "POST", "/api/v1/tenants", "", tenant("new_co", "N", admin("zed", pw)), nil, 400, "invalid_request", "slug"},
		{"tenant: slug with leading dash", "POST", "/api/v1/tenants", "", tenant("-newco", "N", admin("zed", pw)), nil, 400, "invalid_request", "slug"},
		{"tenant: one-letter slug", "POST", "/api/v1/tenants", "", tenant("n", "N", admin("zed", pw)), nil, 400, "invalid_request", "slug"},
		{"tenant: slug too long", "POST", "/api/v1/tenants", "", tenant(strings.Repeat("n", 40), "N", admin("zed", pw)), nil, 400, "invalid_request", "slug"},
		{"tenant: missing name", "POST", "/api/v1/tenants", "", tenant("newco", "", admin("zed", pw)), nil, 400, "invalid_request", "name"},
		{"tenant: blank name", "POST", "/api/v1/tenants", "", tenant("newco", "   ", admin("zed", pw)), nil, 400, "invalid_request", "name"},
		{"tenant: name too long", "POST", "/api/v1/tenants", "", tenant("newco", long(65), admin("zed", pw)), nil, 400, "invalid_request", "name"},
		{"tenant: missing admin", "POST", "/api/v1/tenants", "", map[string]any{"slug": "newco", "name": "N"}, nil, 400, "invalid_request", "admin.username"},
		{"tenant: bad admin username", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin("z d", pw)), nil, 400, "invalid_request", "admin.username"},
		{"tenant: admin username too long", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin(long(33), pw)), nil, 400, "invalid_request", "admin.username"},
		{"tenant: missing admin password", "POST", "/api/v1/tenants", "", tenant("newco", "N", map[string]string{"username": "zed"}), nil, 400, "invalid_request", "admin.password"},
		{"tenant: short admin password", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin("zed", "1234567")), nil, 400, "invalid_request", "admin.password"},
		{"tenant: admin password too long", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin("zed", long(73))), nil, 400, "invalid_request", "admin.password"},
		{"tenant: admin display name too long", "POST", "/api/v1/tenants", "", tenant("newco", "N", map[string]string{"username": "zed", "password": pw, "display_name": long(65)}), nil, 400, "invalid_request", "admin.display_name"},
		{"tenant: slug taken", "POST", "/api/v1/tenants", "", tenant("acme", "N", admin("zed", pw)), nil, 409, "conflict", ""},
		{"tenant: text/plain", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin("zed", pw)), map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"tenant: form", "POST", "/api/v1/tenants", "", "slug=newco", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"tenant: no content type", "POST", "/api/v1/tenants", "", tenant("newco", "N", admin("zed", pw)), map[string]string{"Content-Type": ""}, 415, "unsupported_media_type", ""},
		{"tenant: over 1 MiB", "POST", "/api/v1/tenants", "", tooBig, nil, 413, "too_large", ""},

		// POST /auth/signup
		{"signup: malformed JSON", "POST", "/api/v1/auth/signup", "", `{"tenant":`, nil, 400, "invalid_request", ""},
		{"signup: unknown field", "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "zed", "password": pw, "role": "owner"}, nil, 400, "invalid_request", "role"},
		{"signup: missing tenant", "POST", "/api/v1/auth/signup", "", signup("", "zed", pw), nil, 400, "invalid_request", "tenant"},
		{"signup: invalid tenant slug", "POST", "/api/v1/auth/signup", "", signup("ACME", "zed", pw), nil, 400, "invalid_request", "tenant"},
		{"signup: unknown tenant", "POST", "/api/v1/auth/signup", "", signup("nosuch", "zed", pw), nil, 404, "not_found", ""},
		{"signup: missing username", "POST", "/api/v1/auth/signup", "", signup("acme", "", pw), nil, 400, "invalid_request", "username"},
		{"signup: short username", "POST", "/api/v1/auth/signup", "", signup("acme", "zz", pw), nil, 400, "invalid_request", "username"},
		{"signup: username too long", "POST", "/api/v1/auth/signup", "", signup("acme", long(33), pw), nil, 400, "invalid_request", "username"},
		{"signup: username with space", "POST", "/api/v1/auth/signup", "", signup("acme", "zed x", pw), nil, 400, "invalid_request", "username"},
		{"signup: username with @", "POST", "/api/v1/auth/signup", "", signup("acme", "zed@x", pw), nil, 400, "invalid_request", "username"},
		{"signup: missing password", "POST", "/api/v1/auth/signup", "", signup("acme", "zed", ""), nil, 400, "invalid_request", "password"},
		{"signup: short password", "POST", "/api/v1/auth/signup", "", signup("acme", "zed", "short"), nil, 400, "invalid_request", "password"},
		{"signup: password too long", "POST", "/api/v1/auth/signup", "", signup("acme", "zed", long(73)), nil, 400, "invalid_request", "password"},
		{"signup: display name too long", "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "zed", "password": pw, "display_name": long(65)}, nil, 400, "invalid_request", "display_name"},
		{"signup: invite code too long", "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "zed", "password": pw, "invite_code": long(300)}, nil, 400, "invalid_request", "invite_code"},
		{"signup: duplicate username", "POST", "/api/v1/auth/signup", "", signup("acme", "bob", pw), nil, 409, "conflict", ""},
		{"signup: duplicate username, other case", "POST", "/api/v1/auth/signup", "", signup("acme", "BOB", pw), nil, 409, "conflict", ""},
		{"signup: wrong content type", "POST", "/api/v1/auth/signup", "", signup("acme", "zed", pw), map[string]string{"Content-Type": "text/json"}, 415, "unsupported_media_type", ""},
		{"signup: over 1 MiB", "POST", "/api/v1/auth/signup", "", `{"tenant":"acme","username":"zed","password":"` + strings.Repeat("p", 1<<20) + `"}`, nil, 413, "too_large", ""},
		{"signup: exactly 1 MiB", "POST", "/api/v1/auth/signup", "", exactly(1 << 20), nil, 400, "invalid_request", "password"},
		{"signup: 1 MiB and a byte", "POST", "/api/v1/auth/signup", "", exactly(1<<20 + 1), nil, 413, "too_large", ""},

		// POST /auth/login
		{"login: malformed JSON", "POST", "/api/v1/auth/login", "", `{"tenant":"acme"`, nil, 400, "invalid_request", ""},
		{"login: unknown field", "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "bob", "password": pw, "remember": "yes"}, nil, 400, "invalid_request", "remember"},
		{"login: missing tenant", "POST", "/api/v1/auth/login", "", signup("", "bob", pw), nil, 400, "invalid_request", "tenant"},
		{"login: invalid tenant", "POST", "/api/v1/auth/login", "", signup("Acme!", "bob", pw), nil, 400, "invalid_request", "tenant"},
		{"login: missing username", "POST", "/api/v1/auth/login", "", signup("acme", "", pw), nil, 400, "invalid_request", "username"},
		{"login: username too long", "POST", "/api/v1/auth/login", "", signup("acme", long(33), pw), nil, 400, "invalid_request", "username"},
		{"login: missing password", "POST", "/api/v1/auth/login", "", signup("acme", "bob", ""), nil, 400, "invalid_request", "password"},
		{"login: password too long", "POST", "/api/v1/auth/login", "", signup("acme", "bob", long(73)), nil, 400, "invalid_request", "password"},
		{"login: wrong content type", "POST", "/api/v1/auth/login", "", signup("acme", "bob", pw), map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"login: over 1 MiB", "POST", "/api/v1/auth/login", "", `{"tenant":"acme","username":"bob","password":"` + strings.Repeat("p", 1<<20) + `"}`, nil, 413, "too_large", ""},

		// POST /auth/refresh and /auth/logout
		{"refresh: malformed", "POST", "/api/v1/auth/refresh", "", `{"refresh_token":1`, nil, 400, "invalid_request", ""},
		{"refresh: wrong type", "POST", "/api/v1/auth/refresh", "", `{"refresh_token":1}`, nil, 400, "invalid_request", "refresh_token"},
		{"refresh: unknown field", "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bob.RefreshToken, "x": "y"}, nil, 400, "invalid_request", "x"},
		{"refresh: missing token", "POST", "/api/v1/auth/refresh", "", map[string]string{}, nil, 400, "invalid_request", "refresh_token"},
		{"refresh: token too long", "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": long(300)}, nil, 400, "invalid_request", "refresh_token"},
		{"refresh: wrong content type", "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": bob.RefreshToken}, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"logout: missing token", "POST", "/api/v1/auth/logout", bob.Token, map[string]string{}, nil, 400, "invalid_request", "refresh_token"},
		{"logout: unknown field", "POST", "/api/v1/auth/logout", bob.Token, map[string]string{"refresh_token": bob.RefreshToken, "all": "yes"}, nil, 400, "invalid_request", "all"},
		{"logout: wrong content type", "POST", "/api/v1/auth/logout", bob.Token, map[string]string{"refresh_token": bob.RefreshToken}, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"logout: no login", "POST", "/api/v1/auth/logout", "", map[string]string{"refresh_token": bob.RefreshToken}, nil, 401, "unauthenticated", ""},

		// GET / PATCH /tenant, invites
		{"tenant get: no login", "GET", "/api/v1/tenant", "", nil, nil, 401, "unauthenticated", ""},
		{"tenant patch: member", "PATCH", "/api/v1/tenant", bob.Token, map[string]string{"name": "Bob's"}, nil, 403, "forbidden", ""},
		{"tenant patch: member, even when empty", "PATCH", "/api/v1/tenant", bob.Token, map[string]string{}, nil, 403, "forbidden", ""},
		{"tenant patch: bad policy", "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"signup_policy": "anyone"}, nil, 400, "invalid_request", "signup_policy"},
		{"tenant patch: blank name", "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"name": " "}, nil, 400, "invalid_request", "name"},
		{"tenant patch: name too long", "PATCH", "/api/v1/tenant", adam.AccessToken, map[string]string{"name": long(65)}, nil, 400, "invalid_request", "name"},
		{"tenant patch: slug is not patchable", "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"slug": "other"}, nil, 400, "invalid_request", "slug"},
		{"tenant patch: policy of the wrong type", "PATCH", "/api/v1/tenant", alice.Token, `{"signup_policy": 3}`, nil, 400, "invalid_request", "signup_policy"},
		{"tenant patch: wrong content type", "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"name": "N"}, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"invite: member", "POST", "/api/v1/tenant/invites", bob.Token, nil, nil, 403, "forbidden", ""},
		{"invite: no login", "POST", "/api/v1/tenant/invites", "", nil, nil, 401, "unauthenticated", ""},

		// users
		{"users list: no login", "GET", "/api/v1/users", "", nil, nil, 401, "unauthenticated", ""},
		{"users list: limit 0", "GET", "/api/v1/users?limit=0", bob.Token, nil, nil, 400, "invalid_request", "limit"},
		{"users list: limit 201", "GET", "/api/v1/users?limit=201", bob.Token, nil, nil, 400, "invalid_request", "limit"},
		{"users list: limit not a number", "GET", "/api/v1/users?limit=ten", bob.Token, nil, nil, 400, "invalid_request", "limit"},
		{"users list: negative offset", "GET", "/api/v1/users?offset=-1", bob.Token, nil, nil, 400, "invalid_request", "offset"},
		{"users create: member", "POST", "/api/v1/users", bob.Token, map[string]string{"username": "zed"}, nil, 403, "forbidden", ""},
		{"users create: admin makes owner", "POST", "/api/v1/users", adam.AccessToken, map[string]string{"username": "zed", "role": "owner"}, nil, 403, "forbidden", ""},
		{"users create: duplicate", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "bob"}, nil, 409, "conflict", ""},
		{"users create: duplicate, other case", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "Bob"}, nil, 409, "conflict", ""},
		{"users create: bad username", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "no way"}, nil, 400, "invalid_request", "username"},
		{"users create: missing username", "POST", "/api/v1/users", alice.Token, map[string]string{"display_name": "Zed"}, nil, 400, "invalid_request", "username"},
		{"users create: short password", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "zed", "password": "short"}, nil, 400, "invalid_request", "password"},
		{"users create: bad role", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "zed", "role": "root"}, nil, 400, "invalid_request", "role"},
		{"users create: unknown field", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "zed", "email": "z@x"}, nil, 400, "invalid_request", "email"},
		{"users create: display name too long", "POST", "/api/v1/users", alice.Token, map[string]string{"username": "zed", "display_name": long(65)}, nil, 400, "invalid_request", "display_name"},
		{"users patch: member", "PATCH", "/api/v1/users/" + adam.User.ID, bob.Token, map[string]any{"disabled": true}, nil, 403, "forbidden", ""},
		{"users patch: admin on owner", "PATCH", "/api/v1/users/" + alice.ID, adam.AccessToken, map[string]any{"disabled": true}, nil, 403, "forbidden", ""},
		{"users patch: admin makes owner", "PATCH", "/api/v1/users/" + bob.ID, adam.AccessToken, map[string]any{"role": "owner"}, nil, 403, "forbidden", ""},
		{"users patch: self", "PATCH", "/api/v1/users/" + alice.ID, alice.Token, map[string]any{"role": "member"}, nil, 403, "forbidden", ""},
		{"users patch: unknown user", "PATCH", "/api/v1/users/01900000-0000-7000-8000-000000000000", alice.Token, map[string]any{"disabled": true}, nil, 404, "not_found", ""},
		{"users patch: other tenant's user", "PATCH", "/api/v1/users/" + carol.ID, alice.Token, map[string]any{"disabled": true}, nil, 404, "not_found", ""},
		{"users patch: bad role", "PATCH", "/api/v1/users/" + bob.ID, alice.Token, map[string]any{"role": "king"}, nil, 400, "invalid_request", "role"},
		{"users patch: wrong type", "PATCH", "/api/v1/users/" + bob.ID, alice.Token, map[string]any{"disabled": "yes"}, nil, 400, "invalid_request", "disabled"},
		{"users patch: unknown field", "PATCH", "/api/v1/users/" + bob.ID, alice.Token, map[string]any{"username": "robert"}, nil, 400, "invalid_request", "username"},

		// routes
		{"unknown api route", "GET", "/api/v1/nothing", alice.Token, nil, nil, 404, "not_found", ""},
		{"wrong method", "GET", "/api/v1/auth/login", "", nil, nil, 405, "method_not_allowed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, s)
			r := s.DoWith(t, tc.method, tc.path, tc.token, tc.body, tc.header)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				body := r.Body
				if len(body) > 300 {
					body = body[:300]
				}
				t.Errorf("got %d %q, want %d %q: %s", r.Status, r.ErrorCode(), tc.status, tc.code, body)
			}
			if e := errorOf(t, r); e.Error.Message == "" || e.Error.Field != tc.field {
				t.Errorf("error %+v: want a message and field %q", e.Error, tc.field)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("error content type %q", ct)
			}
			assertUnchanged(t, s, before)
		})
	}
}

// ---- log-in failures ------------------------------------------------------

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	s.CreateTenant(t, "beta", "carol")
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "nopass"}, nil)
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]any{"disabled": true}, nil)
	s.Signup(t, "acme", "dave")

	var bodies []string
	before := snapshot(t, s)
	for _, c := range []struct{ name, slug, user, pass string }{
		{"wrong password", "acme", "dave", "wrong-password"},
		{"unknown user", "acme", "nobody", testkit.Password},
		{"unknown tenant", "nosuch", "dave", testkit.Password},
		{"user of another tenant", "beta", "dave", testkit.Password},
		{"disabled user, wrong password", "acme", "bob", "wrong-password"},
		{"user without a password", "acme", "nopass", testkit.Password},
		{"password of another case", "acme", "dave", strings.ToUpper(testkit.Password)},
	} {
		r := login(t, s, c.slug, c.user, c.pass)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
		bodies = append(bodies, string(r.Body))
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("failure bodies differ, revealing which part was wrong:\n%s\n%s", bodies[0], bodies[i])
		}
	}
	assertUnchanged(t, s, before)
	// Only the right password learns why a disabled account cannot log in.
	if r := login(t, s, "acme", "bob", testkit.Password); r.Status != http.StatusForbidden || !strings.Contains(errorOf(t, r).Error.Message, "disabled") {
		t.Errorf("disabled user with the right password: %d %s", r.Status, r.Body)
	}
	// The username is not case sensitive (it is unique regardless of case).
	mustLogin(t, s, "acme", "DAVE", testkit.Password)
}

func TestLoginRateLimitPerUser(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	s.CreateTenant(t, "acme", "alice")
	s.Signup(t, "acme", "bob")
	for i := range 5 {
		expect(t, login(t, s, "acme", "bob", fmt.Sprint("wrong-", i)), http.StatusUnauthorized, "unauthenticated")
	}
	for _, c := range []struct{ name, user, pass string }{
		{"another wrong password", "bob", "wrong-again"},
		{"the right password", "bob", testkit.Password},
		{"the name in another case", "BOB", testkit.Password},
	} {
		r := login(t, s, "acme", c.user, c.pass)
		expect(t, r, http.StatusTooManyRequests, "rate_limited")
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 31 {
			t.Errorf("%s: Retry-After %q", c.name, r.Header.Get("Retry-After"))
		}
	}
	// Another user, another tenant's bob, and an unknown user are not limited by bob's failures.
	mustLogin(t, s, "acme", "alice", testkit.Password)
	s.CreateTenant(t, "beta", "carol")
	s.Signup(t, "beta", "bob")
	mustLogin(t, s, "beta", "bob", testkit.Password)
	expect(t, login(t, s, "acme", "nobody", "whatever1"), http.StatusUnauthorized, "unauthenticated")

	// Unknown users are limited the same way, so 429 reveals nothing either.
	for range 5 {
		login(t, s, "acme", "ghost", "whatever1")
	}
	expect(t, login(t, s, "acme", "ghost", "whatever1"), http.StatusTooManyRequests, "rate_limited")
}

func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	s.CreateTenant(t, "acme", "alice")
	limited := -1
	for i := range 40 {
		r := login(t, s, "acme", fmt.Sprintf("ghost%02d", i), "whatever1")
		if r.Status == http.StatusTooManyRequests {
			limited = i
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		expect(t, r, http.StatusUnauthorized, "unauthenticated")
	}
	if limited < 0 {
		t.Fatal("40 failed log-ins from one address, none limited")
	}
	if limited < 5 {
		t.Errorf("limited after only %d failures from one address", limited)
	}
	// Even a right password from that address waits now.
	expect(t, login(t, s, "acme", "alice", testkit.Password), http.StatusTooManyRequests, "rate_limited")
}

// ---- signup policies and invites ------------------------------------------

func TestSignupPolicies(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.InviteTTL = time.Hour })
	alice := s.CreateTenant(t, "acme", "alice")
	adam := createAdmin(t, s, alice.Token, "acme", "adam")
	bob := s.Signup(t, "acme", "bob")
	s.CreateTenant(t, "beta", "carol")
	join := func(slug, username, code string) testkit.Response {
		body := map[string]string{"tenant": slug, "username": username, "password": testkit.Password}
		if code != "" {
			body["invite_code"] = code
		}
		return s.Do(t, "POST", "/api/v1/auth/signup", "", body)
	}
	setPolicy := func(p string) {
		var tn tenantJSON
		s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", adam.AccessToken, map[string]string{"signup_policy": p}, &tn)
		if tn.SignupPolicy != p {
			t.Fatalf("policy = %q", tn.SignupPolicy)
		}
	}

	// Invite only.
	setPolicy("invite")
	var inv struct {
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", adam.AccessToken, nil, &inv)
	if inv.Code == "" || time.Until(inv.ExpiresAt) < 59*time.Minute || time.Until(inv.ExpiresAt) > time.Hour {
		t.Errorf("invite = %+v", inv)
	}
	before := snapshot(t, s)
	expect(t, join("acme", "zed", ""), http.StatusForbidden, "forbidden")
	expect(t, join("acme", "zed", "made-up-code"), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, before)
	var betaInv struct {
		Code string `json:"code"`
	}
	carol := mustLogin(t, s, "beta", "carol", testkit.Password)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", carol.AccessToken, nil, &betaInv)
	before = snapshot(t, s)
	expect(t, join("acme", "zed", betaInv.Code), http.StatusForbidden, "forbidden") // another tenant's invite
	assertUnchanged(t, s, before)
	var tr testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "zed", "password": testkit.Password, "invite_code": inv.Code}, &tr)
	if tr.User.Role != "member" {
		t.Errorf("invited user role %q", tr.User.Role)
	}
	// An expired invite is refused.
	var old struct {
		Code string `json:"code"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", alice.Token, nil, &old)
	err := s.App.Store.Write(context.Background(), func(tx *store.Tx) error {
		return tx.Model(&store.Invite{}).Where("hash = ?", sha256Hex(old.Code)).Update("expires_at", time.Now().Add(-time.Second)).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, s)
	expect(t, join("acme", "yan", old.Code), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, before)

	// Closed: not even with a valid invite.
	setPolicy("closed")
	before = snapshot(t, s)
	expect(t, join("acme", "yan", ""), http.StatusForbidden, "forbidden")
	expect(t, join("acme", "yan", inv.Code), http.StatusForbidden, "forbidden")
	assertUnchanged(t, s, before)
	// Admins can still add users, and people still log in.
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", adam.AccessToken, map[string]string{"username": "yan", "password": testkit.Password}, nil)
	mustLogin(t, s, "acme", "yan", testkit.Password)
	mustLogin(t, s, "acme", "bob", testkit.Password)

	// Open again: anyone, with or without a code.
	setPolicy("open")
	if r := join("acme", "xia", ""); r.Status != http.StatusCreated {
		t.Errorf("open signup: %d %s", r.Status, r.Body)
	}
	// Other tenants are not affected by acme's policy.
	if r := join("beta", "wes", ""); r.Status != http.StatusCreated {
		t.Errorf("beta signup: %d %s", r.Status, r.Body)
	}
	// Existing members were never affected.
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", bob.Token, nil, nil)
}

// ---- tenant and users -----------------------------------------------------

func TestTenantGetPatch(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	adam := createAdmin(t, s, alice.Token, "acme", "adam")

	var tn tenantJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", bob.Token, nil, &tn)
	if tn.Slug != "acme" || tn.Name != "ACME" || tn.SignupPolicy != "open" || tn.CreatedAt.IsZero() {
		t.Errorf("tenant = %+v", tn)
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", adam.AccessToken, map[string]string{"name": "  Acme Ltd  "}, &tn)
	if tn.Name != "Acme Ltd" || tn.SignupPolicy != "open" {
		t.Errorf("after rename: %+v", tn)
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", alice.Token, map[string]string{"signup_policy": "closed"}, &tn)
	if tn.Name != "Acme Ltd" || tn.SignupPolicy != "closed" {
		t.Errorf("after policy change: %+v", tn)
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", alice.Token, map[string]string{}, &tn)
	if tn.Name != "Acme Ltd" || tn.SignupPolicy != "closed" {
		t.Errorf("after empty patch: %+v", tn)
	}
	// An API key is not an admin.
	key := createKey(t, s, alice.Token, "users:write", "rooms:write", "messages:write", "tokens:write")
	expect(t, s.Do(t, "PATCH", "/api/v1/tenant", key, map[string]string{"name": "Key's"}), http.StatusForbidden, "forbidden")
	expect(t, s.Do(t, "POST", "/api/v1/tenant/invites", key, nil), http.StatusForbidden, "forbidden")
	expect(t, s.Do(t, "GET", "/api/v1/me", key, nil), http.StatusForbidden, "forbidden")
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	for _, name := range []string{"bob", "Bobby", "bo_x", "boax", "carol", "dave"} {
		s.Signup(t, "acme", name)
	}
	s.CreateTenant(t, "beta", "bob2")
	createKey(t, s, alice.Token, "messages:write") // its bot user is not listed
	list := func(query string) []string {
		var users []userJSON
		s.Must(t, http.StatusOK, "GET", "/api/v1/users"+query, alice.Token, nil, &users)
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = u.Username
		}
		return names
	}
	check := func(query string, want ...string) {
		t.Helper()
		if got := list(query); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("GET /users%s = %v, want %v", query, got, want)
		}
	}
	check("", "alice", "bo_x", "boax", "bob", "Bobby", "carol", "dave")
	check("?q=bo", "bo_x", "boax", "bob", "Bobby")
	check("?q=BOB", "bob", "Bobby")
	check("?q=bo_", "bo_x") // _ is a literal, not a wildcard
	check("?q=%25")         // so is %
	check("?q=zzz")
	check("?limit=2", "alice", "bo_x")
	check("?limit=2&offset=2", "boax", "bob")
	check("?limit=2&offset=6", "dave")
	check("?offset=7")
	check("?q=bo&limit=1&offset=3", "Bobby")
	check("?limit=200", "alice", "bo_x", "boax", "bob", "Bobby", "carol", "dave")

	// Create: with a password (logs in), without (cannot), with a role.
	var u userJSON
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "erin", "display_name": "Erin E", "password": "erins-password"}, &u)
	if u.Username != "erin" || u.DisplayName != "Erin E" || u.Role != "member" || u.Disabled || u.ID == "" {
		t.Errorf("created = %+v", u)
	}
	mustLogin(t, s, "acme", "erin", "erins-password")
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "sso-user"}, &u)
	if u.DisplayName != "sso-user" {
		t.Errorf("display name defaults to %q", u.DisplayName)
	}
	expect(t, login(t, s, "acme", "sso-user", ""), http.StatusBadRequest, "invalid_request")
	expect(t, login(t, s, "acme", "sso-user", "anything1"), http.StatusUnauthorized, "unauthenticated")
	var olga userJSON
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", alice.Token, map[string]string{"username": "olga", "role": "owner", "password": testkit.Password}, &olga)
	if olga.Role != "owner" {
		t.Errorf("owner made by owner: %+v", olga)
	}
	// An API key with users:write creates members; without it, nothing.
	key := createKey(t, s, alice.Token, "users:write")
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key, map[string]string{"username": "fred", "display_name": "Fred", "password": testkit.Password}, &u)
	if u.Role != "member" {
		t.Errorf("key-made user role %q", u.Role)
	}
	mustLogin(t, s, "acme", "fred", testkit.Password)
	weak := createKey(t, s, alice.Token, "messages:write")
	expect(t, s.Do(t, "POST", "/api/v1/users", weak, map[string]string{"username": "gus"}), http.StatusForbidden, "forbidden")
	before := snapshot(t, s)
	for _, role := range []string{"owner", "admin"} { // a key must not mint administrators
		expect(t, s.Do(t, "POST", "/api/v1/users", key, map[string]string{"username": "gus", "role": role, "password": testkit.Password}), http.StatusForbidden, "forbidden")
	}
	assertUnchanged(t, s, before)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key, map[string]string{"username": "gus", "role": "member"}, nil)
	expect(t, s.Do(t, "GET", "/api/v1/users", key, nil), http.StatusForbidden, "forbidden")

	// Patch: promote a member to admin, who may then manage; demote again.
	bob := mustLogin(t, s, "acme", "bob", testkit.Password)
	expect(t, s.Do(t, "POST", "/api/v1/tenant/invites", bob.AccessToken, nil), http.StatusForbidden, "forbidden")
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.User.ID, alice.Token, map[string]string{"role": "admin"}, &u)
	if u.Role != "admin" {
		t.Errorf("promoted = %+v", u)
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", bob.AccessToken, nil, nil)
	var meNow userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", bob.AccessToken, nil, &meNow)
	if meNow.Role != "admin" {
		t.Errorf("me after promotion: %+v", meNow)
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.User.ID, alice.Token, map[string]string{"role": "member"}, nil)
	expect(t, s.Do(t, "POST", "/api/v1/tenant/invites", bob.AccessToken, nil), http.StatusForbidden, "forbidden")
	// An owner may change another owner.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+olga.ID, alice.Token, map[string]string{"role": "admin"}, &u)
	if u.Role != "admin" {
		t.Errorf("demoted owner = %+v", u)
	}
}

func TestDisablingEndsLogins(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	phone := mustLogin(t, s, "acme", "bob", testkit.Password)
	carol := s.Signup(t, "acme", "carol")
	st := s.Open(t, "/api/v1/events?token="+bob.Token, "", "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream: %d", st.Status)
	}

	var u userJSON
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]any{"disabled": true}, &u)
	if !u.Disabled {
		t.Errorf("patched = %+v", u)
	}
	for _, tok := range []string{bob.Token, phone.AccessToken} {
		expect(t, me(t, s, tok), http.StatusUnauthorized, "unauthenticated")
	}
	// The app that tries to renew its login, or log in again, is told why.
	for _, r := range []testkit.Response{refresh(t, s, bob.RefreshToken), refresh(t, s, phone.RefreshToken),
		login(t, s, "acme", "bob", testkit.Password)} {
		expect(t, r, http.StatusForbidden, "forbidden")
		if msg := errorOf(t, r).Error.Message; !strings.Contains(msg, "disabled") {
			t.Errorf("the refusal does not say the account is disabled: %q", msg)
		}
	}
	select {
	case <-st.Ended():
	case <-time.After(3 * time.Second):
		t.Error("the disabled user's stream is still open")
	}
	if r := s.Open(t, "/api/v1/events?token="+bob.Token, "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("disabled user opened a stream: %d", r.Status)
	}
	// Others are untouched; the list shows bob disabled.
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", carol.Token, nil, nil)
	var users []userJSON
	s.Must(t, http.StatusOK, "GET", "/api/v1/users?q=bob", alice.Token, nil, &users)
	if len(users) != 1 || !users[0].Disabled {
		t.Errorf("users = %+v", users)
	}
	// Enabling again allows new logins; the old ones stay dead.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/users/"+bob.ID, alice.Token, map[string]any{"disabled": false}, &u)
	if u.Disabled {
		t.Errorf("re-enabled = %+v", u)
	}
	fresh := mustLogin(t, s, "acme", "bob", testkit.Password)
	s.Must(t, http.StatusOK, "GET", "/api/v1/me", fresh.AccessToken, nil, nil)
	expect(t, me(t, s, bob.Token), http.StatusUnauthorized, "unauthenticated")
	expect(t, refresh(t, s, phone.RefreshToken), http.StatusUnauthorized, "unauthenticated")
	// A re-enabled member has their member rights again (policy restored).
	s.Must(t, http.StatusOK, "GET", "/api/v1/users", fresh.AccessToken, nil, nil)
}

func TestSelfServiceTenantsOff(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.SelfServiceTenant = false })
	before := snapshot(t, s)
	for _, body := range []any{
		map[string]any{"slug": "acme", "name": "Acme", "admin": map[string]string{"username": "alice", "password": testkit.Password}},
		map[string]any{"slug": "BAD", "name": "", "admin": map[string]string{}},
	} {
		expect(t, s.Do(t, "POST", "/api/v1/tenants", "", body), http.StatusForbidden, "forbidden")
	}
	assertUnchanged(t, s, before)
	if _, err := os.Stat(s.Cfg.DatabaseFile()); err != nil && !s.App.Store.Postgres() {
		t.Errorf("no database file at %s: %v", s.Cfg.DatabaseFile(), err)
	}
}

// ---- nothing secret in the logs ----------------------------------------------

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var buf testkit.LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := testkit.StartLogged(t, log)
	const (
		adminPass  = "admin-secret-passphrase"
		memberPass = "member-secret-passphrase"
		wrongPass  = "wrong-secret-passphrase"
	)
	var secrets []string
	keep := func(ss ...string) {
		for _, x := range ss {
			if x == "" {
				t.Fatal("empty secret")
			}
			secrets = append(secrets, x)
		}
	}

	var created testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenants", "", map[string]any{
		"slug": "acme", "name": "Acme", "admin": map[string]string{"username": "alice", "password": adminPass}}, &created)
	keep(adminPass, created.AccessToken, created.RefreshToken)
	var inv struct {
		Code string `json:"code"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenant/invites", created.AccessToken, nil, &inv)
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", created.AccessToken, map[string]string{"signup_policy": "invite"}, nil)
	var signedUp testkit.TokenResponse
	s.Must(t, http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{
		"tenant": "acme", "username": "bob", "password": memberPass, "invite_code": inv.Code}, &signedUp)
	keep(inv.Code, memberPass, signedUp.AccessToken, signedUp.RefreshToken)
	expect(t, login(t, s, "acme", "bob", wrongPass), http.StatusUnauthorized, "unauthenticated")
	keep(wrongPass)
	tr := mustLogin(t, s, "acme", "bob", memberPass)
	keep(tr.AccessToken, tr.RefreshToken)
	var next testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken}, &next)
	keep(next.AccessToken, next.RefreshToken)
	expect(t, refresh(t, s, tr.RefreshToken), http.StatusUnauthorized, "unauthenticated") // replay
	st := s.Open(t, "/api/v1/events?token="+signedUp.AccessToken, "", "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream: %d", st.Status)
	}
	st.Close()
	s.Open(t, "/api/v1/events?token="+next.AccessToken+"x", "", "") // a refused stream token
	key := createKey(t, s, created.AccessToken, "users:write")
	keep(key)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key, map[string]string{"username": "carol", "password": "carols-secret-pw"}, nil)
	keep("carols-secret-pw")
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", signedUp.AccessToken, map[string]string{"refresh_token": signedUp.RefreshToken}, nil)
	// Stored hashes must not show up either.
	var hashes []string
	if err := s.App.Store.Read(context.Background()).Model(&store.User{}).Where("password_hash <> ''").Pluck("password_hash", &hashes).Error; err != nil {
		t.Fatal(err)
	}
	keep(hashes...)
	for _, x := range []string{created.RefreshToken, signedUp.RefreshToken, tr.RefreshToken, next.RefreshToken, inv.Code, key} {
		keep(sha256Hex(x))
	}
	// Internal errors are logged with their cause; the request's secrets stay out.
	// (A lost table makes log-in and refresh fail after the password check.)
	err := s.App.Store.Write(context.Background(), func(tx *store.Tx) error { return tx.Exec("DROP TABLE refresh_tokens").Error })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []testkit.Response{
		login(t, s, "acme", "alice", adminPass),
		refresh(t, s, next.RefreshToken),
	} {
		expect(t, r, http.StatusInternalServerError, "internal")
	}
	s.Stop()

	logs := buf.String()
	if !strings.Contains(logs, "request failed") {
		t.Errorf("internal errors were not logged:\n%s", logs)
	}
	if !strings.Contains(logs, "request") || !strings.Contains(logs, "/api/v1/events") {
		t.Fatalf("the debug log holds no request lines; the check would prove nothing:\n%s", logs)
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %.12q…", secret)
		}
	}
	// Not even a recognisable piece of a JWT.
	for _, tok := range []string{created.AccessToken, next.AccessToken} {
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 8 && strings.Contains(logs, part) {
				t.Errorf("the log holds part of a JWT: %.12q…", part)
			}
		}
	}
}
