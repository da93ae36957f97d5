package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"time"

	"parley/internal/fault"
	"parley/store"
)

// KeyPrefix starts every API key, so a key is never mistaken for a JWT.
const KeyPrefix = "pk_"

// Scopes an API key may hold.
var Scopes = []string{"users:write", "rooms:write", "messages:write", "tokens:write"}

// NewKey is a key as created: Secret is the only time the full key is seen.
type NewKey struct {
	store.APIKey
	Secret string
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// CreateKey makes an API key for the principal's tenant. Each key gets a bot
// user, named after the key, that authors the messages the key posts.
func (s *Service) CreateKey(ctx context.Context, p Principal, name string, scopes []string) (NewKey, error) {
	if err := s.Require(p, "apikeys.manage"); err != nil {
		return NewKey{}, err
	}
	return s.createKey(ctx, p, name, scopes)
}

// CreateKeyForTenant is the operator's way (the CLI) to make a key.
func (s *Service) CreateKeyForTenant(ctx context.Context, slug, name string, scopes []string) (NewKey, error) {
	var tenant store.Tenant
	if err := s.st.Read(ctx).Where("slug = ?", slug).Take(&tenant).Error; err != nil {
		return NewKey{}, store.NotFound(err, "tenant")
	}
	return s.createKey(ctx, operator(tenant.ID), name, scopes)
}

func (s *Service) createKey(ctx context.Context, p Principal, name string, scopes []string) (NewKey, error) {
	name, err := CleanName("name", name, MaxNameLen, true)
	if err != nil {
		return NewKey{}, err
	}
	scopes, err = checkScopes(scopes)
	if err != nil {
		return NewKey{}, err
	}
	// The public prefix is unique; on the (unlikely) clash of two random
	// prefixes, draw again rather than fail.
	var k NewKey
	err = drawUntilUnique(func() error {
		var err error
		k, err = s.insertKey(ctx, p, name, scopes)
		return err
	})
	return k, err
}

func (s *Service) insertKey(ctx context.Context, p Principal, name string, scopes []string) (NewKey, error) {
	tenantID, createdBy := p.TenantID, p.Subject()
	if createdBy == "" {
		createdBy = ActorOperator
	}
	prefix, secret := newKeySecret()
	now := s.now()
	key := store.APIKey{ID: newID(), TenantID: tenantID, Name: name, Prefix: prefix, Hash: hashSecret(secret),
		Scopes: strings.Join(scopes, ","), CreatedBy: createdBy, CreatedAt: now}
	bot := store.User{ID: key.ID, TenantID: tenantID, Username: "bot-" + prefix, DisplayName: name,
		Role: RoleMember, IsBot: true, CreatedAt: now}
	quota := store.Quota{Limit: "api_keys_per_tenant", Max: s.opts.MaxAPIKeysPerTenant,
		Message: "this workspace has as many API keys as it may have; revoke one first"}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.WithinQuota(quota, &store.APIKey{}, "tenant_id = ? AND revoked_at IS NULL", tenantID); err != nil {
			return err
		}
		if err := tx.Create(&bot).Error; err != nil {
			return err
		}
		if err := tx.Create(&key).Error; err != nil {
			return err
		}
		return s.audit.Record(tx, p, "apikey.created", keyTarget(key), map[string]string{"scopes": key.Scopes})
	})
	if err != nil {
		return NewKey{}, err
	}
	return NewKey{APIKey: key, Secret: secret}, nil
}

// ListKeys returns the tenant's keys (without secrets), newest first.
func (s *Service) ListKeys(ctx context.Context, p Principal) ([]store.APIKey, error) {
	if err := s.Require(p, "apikeys.manage"); err != nil {
		return nil, err
	}
	var keys []store.APIKey
	err := s.st.Read(ctx).Where("tenant_id = ? AND revoked_at IS NULL", p.TenantID).Order("created_at DESC").Find(&keys).Error
	for i := range keys {
		if t, ok := s.keys.lastUsed(keys[i].ID); ok {
			keys[i].LastUsedAt = &t
		}
	}
	return keys, err
}

// RevokeKey stops a key at once.
func (s *Service) RevokeKey(ctx context.Context, p Principal, keyID string) error {
	if err := s.Require(p, "apikeys.manage"); err != nil {
		return err
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		var key store.APIKey
		if err := tx.Where("id = ? AND tenant_id = ? AND revoked_at IS NULL", keyID, p.TenantID).Take(&key).Error; err != nil {
			return store.NotFound(err, "API key")
		}
		if err := tx.Model(&store.APIKey{}).Where("id = ?", key.ID).Update("revoked_at", s.now()).Error; err != nil {
			return err
		}
		tx.Invalidate(apiKeyKey(key.Prefix))
		return s.audit.Record(tx, p, "apikey.revoked", keyTarget(key), nil)
	})
}

func keyTarget(k store.APIKey) Target { return Target{Type: "apikey", ID: k.ID, Name: k.Name} }

// Key shape: "pk_" + 8 lower-case base32 characters (the public prefix) + "_"
// + 43 base64url characters (256 random bits).
const (
	keyPrefixBytes = 5
	keySecretBytes = 32
)

var (
	keyPrefixLen = lowerBase32.EncodedLen(keyPrefixBytes)
	keySecretLen = base64.RawURLEncoding.EncodedLen(keySecretBytes)
)

// newKeySecret draws a new key and returns its public prefix and the whole key.
func newKeySecret() (prefix, secret string) {
	idBytes := make([]byte, keyPrefixBytes)
	_, _ = rand.Read(idBytes)
	prefix = lowerBase32.EncodeToString(idBytes)
	return prefix, KeyPrefix + prefix + "_" + randomToken(keySecretBytes)
}

// keyPublicPrefix returns the public prefix of a well-formed key.
func keyPublicPrefix(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, KeyPrefix)
	if !ok {
		return "", false
	}
	prefix, random, ok := strings.Cut(rest, "_")
	if !ok || len(prefix) != keyPrefixLen || len(random) != keySecretLen {
		return "", false
	}
	// Decoding alone would skip CR/LF and ignore stray low bits: a key must
	// also be the one spelling that its bytes encode to.
	if raw, err := lowerBase32.DecodeString(prefix); err != nil || lowerBase32.EncodeToString(raw) != prefix {
		return "", false
	}
	if raw, err := base64.RawURLEncoding.DecodeString(random); err != nil || base64.RawURLEncoding.EncodeToString(raw) != random {
		return "", false
	}
	return prefix, true
}

func (s *Service) authenticateKey(ctx context.Context, secret string) (Principal, error) {
	unauth := fault.New(fault.Unauthenticated, "the API key is invalid or revoked")
	prefix, ok := keyPublicPrefix(secret)
	if !ok {
		return Principal{}, unauth
	}
	key, found, err := s.keyByPrefix(ctx, prefix)
	if err != nil {
		return Principal{}, err
	}
	if !found || subtle.ConstantTimeCompare([]byte(key.Hash), []byte(hashSecret(secret))) != 1 || key.Revoked {
		return Principal{}, unauth
	}
	s.keys.touch(key.ID, s.now())
	return Principal{TenantID: key.TenantID, KeyID: key.ID, KeyName: key.Name, Scopes: key.Scopes}, nil
}

// FlushKeyUsage writes the remembered last-use times of keys, so that using a
// key costs no database write per request.
func (s *Service) FlushKeyUsage(ctx context.Context) error {
	pending := s.keys.takeDirty()
	if len(pending) == 0 {
		return nil
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		for id, t := range pending {
			if err := tx.Model(&store.APIKey{}).Where("id = ?", id).Update("last_used_at", t).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.keys.redirty(pending) // try again at the next flush
	}
	return err
}

// RunKeyUsageFlusher flushes key usage every interval until ctx ends, then once more.
func (s *Service) RunKeyUsageFlusher(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = s.FlushKeyUsage(context.WithoutCancel(ctx))
			return
		case <-t.C:
			_ = s.FlushKeyUsage(ctx)
		}
	}
}

func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fault.Field("scopes", "at least one scope is required")
	}
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		sc = strings.TrimSpace(sc) // "a, b" from a command line
		if !slices.Contains(Scopes, sc) {
			return nil, fault.Field("scopes", "unknown scope "+sc+"; known: "+strings.Join(Scopes, ", "))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// keyCache remembers when each key was last used until it is flushed.
type keyCache struct {
	mu    sync.Mutex
	used  map[string]time.Time
	dirty map[string]bool
}

func newKeyCache() *keyCache {
	return &keyCache{used: map[string]time.Time{}, dirty: map[string]bool{}}
}

func (c *keyCache) touch(id string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[id] = t
	c.dirty[id] = true
}

func (c *keyCache) lastUsed(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.used[id]
	return t, ok
}

// redirty marks keys whose flush failed as still pending.
func (c *keyCache) redirty(pending map[string]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range pending {
		c.dirty[id] = true
	}
}

func (c *keyCache) takeDirty() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]time.Time, len(c.dirty))
	for id := range c.dirty {
		out[id] = c.used[id]
	}
	c.dirty = map[string]bool{}
	return out
}
