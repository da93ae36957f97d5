package auth

import (
	"context"

	"parley/internal/fault"
	"parley/store"
)

// The rows authentication reads on every request, read through the store's
// cache. Each is cached under a key that every write of the row invalidates
// (store.Tx.Invalidate), so the cache is never stale; see store.Cache.

// Cache keys of identity rows.
func userKey(userID string) string       { return "user:" + userID }
func sessionKey(sessionID string) string { return "session:" + sessionID }
func apiKeyKey(prefix string) string     { return "apikey:" + prefix }

// liveSession is a login that is not revoked. Only live ones are cached:
// revoking names the key, and a revoked login never comes back.
type liveSession struct {
	UserID, TenantID string
}

// sessionIfLive returns the session if it exists and is not revoked.
func (s *Service) sessionIfLive(ctx context.Context, sessionID string) (liveSession, bool, error) {
	return store.CachedRow(s.st.Cache(), sessionKey(sessionID), func() (liveSession, error) {
		var sess store.Session
		err := s.st.Read(ctx).Select("user_id", "tenant_id").Where("id = ? AND revoked_at IS NULL", sessionID).Take(&sess).Error
		return liveSession{UserID: sess.UserID, TenantID: sess.TenantID}, err
	})
}

// UserByID returns the user with this id, or a NotFound fault. The user is
// shared with other requests: never modify it.
func (s *Service) UserByID(ctx context.Context, userID string) (*store.User, error) {
	u, found, err := store.CachedRow(s.st.Cache(), userKey(userID), func() (*store.User, error) {
		var u store.User
		err := s.st.Read(ctx).Where("id = ?", userID).Take(&u).Error
		return &u, err
	})
	if err == nil && !found {
		return nil, fault.New(fault.NotFound, "user not found")
	}
	return u, err
}

// keyCredential is what authenticating an API key reads (its name, which
// never changes, names it in the audit log): not its last use, which changes
// without concerning authentication.
type keyCredential struct {
	ID, TenantID, Name, Hash string
	Scopes                   []string
	Revoked                  bool
}

// keyByPrefix returns the key with this public prefix, if there is one.
func (s *Service) keyByPrefix(ctx context.Context, prefix string) (keyCredential, bool, error) {
	return store.CachedRow(s.st.Cache(), apiKeyKey(prefix), func() (keyCredential, error) {
		var k store.APIKey
		err := s.st.Read(ctx).Where("prefix = ?", prefix).Take(&k).Error
		return keyCredential{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Hash: k.Hash, Scopes: SplitScopes(k.Scopes),
			Revoked: k.RevokedAt != nil}, err
	})
}

// liveSessionIDs lists a user's live logins, to invalidate them when they are
// all revoked at once.
func liveSessionIDs(tx *store.Tx, userID string) ([]string, error) {
	var ids []string
	err := tx.Model(&store.Session{}).Where("user_id = ? AND revoked_at IS NULL", userID).Pluck("id", &ids).Error
	return ids, err
}

// revokeSession ends one login once the write commits: its tokens are
// refused from the next request on and its streams end.
func (s *Service) revokeSession(tx *store.Tx, sessionID string) error {
	err := tx.Model(&store.Session{}).Where("id = ?", sessionID).Update("revoked_at", s.now()).Error
	if err != nil {
		return err
	}
	tx.Invalidate(sessionKey(sessionID))
	return s.revoker.SessionRevoked(tx, sessionID)
}
