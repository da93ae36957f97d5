package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what an access token says. `sid` names the login (session) so that
// logging out or disabling a user can end the streams it opened.
type Claims struct {
	TenantID  string `json:"tid"`
	Role      string `json:"role"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Signer issues and checks access tokens: HS256 with one key, nothing else.
type Signer struct {
	key    []byte
	ttl    time.Duration
	parser *jwt.Parser
	// verified remembers tokens whose signature checked out, until they
	// expire: a phone sends the same token with every request, and checking
	// it again (HMAC and two JSON decodes) cost more than the rest of
	// authenticating.
	verifiedMu sync.RWMutex
	verified   map[string]*Claims
}

// maxVerified bounds the verified-token memory; when full it starts over.
const maxVerified = 1 << 15

// NewSigner returns a signer for key; tokens live for ttl.
func NewSigner(key []byte, ttl time.Duration) *Signer {
	return &Signer{
		key: key,
		ttl: ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			// Strict base64: a signature with altered padding bits is not
			// another spelling of the same token.
			jwt.WithStrictDecoding(),
		),
		verified: map[string]*Claims{},
	}
}

// TTL is how long an access token lives.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue signs an access token.
func (s *Signer) Issue(userID, tenantID, role, sessionID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.ttl)
	claims := Claims{
		TenantID:  tenantID,
		Role:      role,
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        randomToken(12),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	return signed, exp, err
}

// Parse verifies an access token's signature, algorithm and lifetime. The
// claims are shared with other callers: never modify them.
func (s *Signer) Parse(token string) (*Claims, error) {
	s.verifiedMu.RLock()
	claims, ok := s.verified[token]
	s.verifiedMu.RUnlock()
	if ok {
		if time.Now().Before(claims.ExpiresAt.Time) {
			return claims, nil
		}
		s.verifiedMu.Lock()
		delete(s.verified, token)
		s.verifiedMu.Unlock()
	}
	claims, err := s.verify(token)
	if err != nil {
		return nil, err
	}
	s.verifiedMu.Lock()
	if len(s.verified) >= maxVerified {
		clear(s.verified)
	}
	s.verified[token] = claims
	s.verifiedMu.Unlock()
	return claims, nil
}

func (s *Signer) verify(token string) (*Claims, error) {
	claims := &Claims{}
	_, err := s.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return s.key, nil })
	if err != nil {
		return nil, err
	}
	if claims.Subject == "" || claims.TenantID == "" || claims.SessionID == "" {
		return nil, errors.New("token lacks sub, tid or sid")
	}
	return claims, nil
}

// LoadOrCreateKey returns the configured key, or the one kept in dataDir,
// generating it (mode 0600) on first start so tokens survive restarts.
func LoadOrCreateKey(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "jwt.key")
	if raw, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(raw))) // tolerate an editor's newline
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("signing key file %s is damaged", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// randomToken returns n random bytes, URL-safe base64 encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is how opaque secrets (refresh tokens, invite codes, API keys) are
// stored: they are long and random, so a fast hash is enough.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
