package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func validClaims(now time.Time) Claims {
	return Claims{
		TenantID: "t1", Role: RoleMember, SessionID: "s1",
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "u1",
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			ID:        "j1",
		},
	}
}

func sign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// hs256With builds a token by hand with any header, signed HMAC-SHA256 with key:
// the shape of an algorithm-confusion attack.
func hs256With(t *testing.T, header map[string]any, claims any, key []byte) string {
	t.Helper()
	enc := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	signing := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignerIssueAndParse(t *testing.T) {
	s := NewSigner(testKey, 15*time.Minute)
	now := time.Now()
	tok, exp, err := s.Issue("u1", "t1", RoleAdmin, "s1", now)
	if err != nil {
		t.Fatal(err)
	}
	if got := exp.Sub(now); got != 15*time.Minute {
		t.Errorf("expiry %s after issue, want 15m", got)
	}
	c, err := s.Parse(tok)
	if err != nil {
		t.Fatalf("parse own token: %v", err)
	}
	if c.Subject != "u1" || c.TenantID != "t1" || c.Role != RoleAdmin || c.SessionID != "s1" || c.ID == "" {
		t.Errorf("claims = %+v", c)
	}
	if c.IssuedAt == nil || c.ExpiresAt == nil {
		t.Errorf("iat/exp missing: %+v", c)
	}
	if s.TTL() != 15*time.Minute {
		t.Errorf("TTL = %s", s.TTL())
	}
	other, _, _ := s.Issue("u1", "t1", RoleAdmin, "s1", now)
	if other == tok {
		t.Error("two tokens issued at the same instant are identical: jti is not random")
	}
}

func TestSignerRefuses(t *testing.T) {
	s := NewSigner(testKey, 15*time.Minute)
	now := time.Now()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := validClaims(now)
	tampered := func() string {
		tok, _, _ := s.Issue("u1", "t1", RoleMember, "s1", now)
		parts := strings.Split(tok, ".")
		c := validClaims(now)
		c.Role, c.TenantID = RoleOwner, "t2"
		raw, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
	}
	without := func(edit func(*Claims)) Claims { c := validClaims(now); edit(&c); return c }

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not-a-jwt"},
		{"two parts", "eyJhbGciOiJIUzI1NiJ9.e30"},
		{"alg none", sign(t, jwt.SigningMethodNone, valid, jwt.UnsafeAllowNoneSignatureType)},
		{"alg none, header only lower case", hs256With(t, map[string]any{"alg": "none"}, valid, testKey)},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, valid, testKey)},
		{"HS384 with the right key", sign(t, jwt.SigningMethodHS384, valid, testKey)},
		{"RS256 signed with an RSA key", sign(t, jwt.SigningMethodRS256, valid, rsaKey)},
		{"RS256 header over an HMAC signature", hs256With(t, map[string]any{"alg": "RS256", "typ": "JWT"}, valid, testKey)},
		{"hs256 lower-case alg", hs256With(t, map[string]any{"alg": "hs256", "typ": "JWT"}, valid, testKey)},
		{"wrong key", sign(t, jwt.SigningMethodHS256, valid, []byte("another-key-another-key-another-k"))},
		{"tampered payload", tampered()},
		{"expired", func() string { tok, _, _ := s.Issue("u1", "t1", RoleMember, "s1", now.Add(-time.Hour)); return tok }()},
		{"expires this second", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) }), testKey)},
		{"missing exp", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.ExpiresAt = nil }), testKey)},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), testKey)},
		{"missing sub", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.Subject = "" }), testKey)},
		{"missing tid", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.TenantID = "" }), testKey)},
		{"missing sid", sign(t, jwt.SigningMethodHS256, without(func(c *Claims) { c.SessionID = "" }), testKey)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := s.Parse(tc.token); err == nil {
				t.Fatalf("accepted: %+v", c)
			}
		})
	}
	// The control: the same claims, properly signed, are accepted.
	if _, err := s.Parse(sign(t, jwt.SigningMethodHS256, valid, testKey)); err != nil {
		t.Fatalf("a correct HS256 token was refused: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) < 32 {
		t.Fatalf("generated key has %d bytes", len(key))
	}
	path := filepath.Join(dir, "jwt.key")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(again) != hex.EncodeToString(key) {
		t.Error("second start generated a different key")
	}
	other, _ := LoadOrCreateKey("", t.TempDir())
	if hex.EncodeToString(other) == hex.EncodeToString(key) {
		t.Error("two data dirs share a key")
	}

	configured, err := LoadOrCreateKey(string(testKey), t.TempDir())
	if err != nil || string(configured) != string(testKey) {
		t.Errorf("configured key: %q, %v", configured, err)
	}

	handMade := t.TempDir()
	want := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(handMade, "jwt.key"), []byte(want+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadOrCreateKey("", handMade); err != nil || hex.EncodeToString(k) != want {
		t.Errorf("a key file ending in a newline: %x, %v", k, err)
	}

	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, "jwt.key"), []byte("zz"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey("", damaged); err == nil {
		t.Error("a damaged key file was accepted")
	}
	short := t.TempDir()
	if err := os.WriteFile(filepath.Join(short, "jwt.key"), []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey("", short); err == nil {
		t.Error("a two-byte key was accepted")
	}
}

func TestHashSecretAndRandomToken(t *testing.T) {
	a, b := randomToken(32), randomToken(32)
	if a == b || len(a) != 43 {
		t.Errorf("randomToken: %q %q", a, b)
	}
	first, again := hashSecret(a), hashSecret(a)
	if first == a || first != again || first == hashSecret(b) {
		t.Error("hashSecret is not a stable one-way mapping")
	}
}
