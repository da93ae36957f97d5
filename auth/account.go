package auth

import (
	"context"
	"fmt"
	"slices"

	"parley/internal/fault"
	"parley/store"
)

// LoginEnder is told, inside the transaction that ends them, which logins of a
// user end, so that what belongs to a login (its push subscriptions) ends
// with it, on every node at once.
type LoginEnder interface {
	LoginsEnded(tx *store.Tx, userID string, sessionIDs []string) error
}

// errDisabled tells a person who still holds a valid password or login why it
// no longer lets them in. Only they learn it: a wrong password says nothing.
var errDisabled = fault.New(fault.Forbidden, "this account has been disabled by an admin of the workspace")

// UpdateMe changes the caller's display name.
func (s *Service) UpdateMe(ctx context.Context, p Principal, displayName string) (store.User, error) {
	if p.IsKey() {
		return store.User{}, fault.New(fault.Forbidden, "an API key is not a user")
	}
	name, err := CleanName("display_name", displayName, MaxNameLen, true)
	if err != nil {
		return store.User{}, err
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		tx.Invalidate(userKey(p.UserID))
		return tx.Model(&store.User{}).Where("id = ? AND tenant_id = ?", p.UserID, p.TenantID).Update("display_name", name).Error
	})
	if err != nil {
		return store.User{}, err
	}
	user, err := s.user(ctx, p.TenantID, p.UserID)
	if err == nil {
		s.revoker.UserUpdated(ViewUser(user)) // the person's other devices
	}
	return user, err
}

// ChangePassword sets a new password once the current one is confirmed, and
// ends every other login of the user (and their streams). Confirming counts
// against the account's log-in attempts (a right password is given back), so
// a stolen access token cannot be used to guess the password.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next, clientIP string) error {
	if p.IsKey() {
		return fault.New(fault.Forbidden, "an API key is not a user")
	}
	if current == "" {
		return fault.Field("current_password", "is required")
	}
	if err := checkPassword(next); err != nil {
		return renameField(err, "new_password")
	}
	user, err := s.user(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	var tenant store.Tenant
	if err := s.st.Read(ctx).Select("slug").Where("id = ?", p.TenantID).Take(&tenant).Error; err != nil {
		return err
	}
	refund, err := s.opts.Limits.StartLogin(ctx, tenant.Slug, user.Username, clientIP)
	if err != nil {
		return err
	}
	if !s.passwords.Check(user.PasswordHash, current) {
		return fault.Field("current_password", "is not your current password")
	}
	refund()
	hash, err := s.passwords.Hash(next)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Model(&store.User{}).Where("id = ?", user.ID).Update("password_hash", hash).Error; err != nil {
			return err
		}
		tx.Invalidate(userKey(user.ID))
		live, err := liveSessionIDs(tx, user.ID)
		if err != nil {
			return err
		}
		others := slices.DeleteFunc(live, func(id string) bool { return id == p.SessionID })
		return s.endLogins(tx, user.ID, others)
	})
}

// endLogins revokes logins of a user (nil: every live one) in tx, with
// what belongs to them; their streams end once it commits.
func (s *Service) endLogins(tx *store.Tx, userID string, sessionIDs []string) error {
	if sessionIDs == nil {
		var err error
		if sessionIDs, err = liveSessionIDs(tx, userID); err != nil {
			return err
		}
	}
	if len(sessionIDs) == 0 {
		return nil
	}
	for _, id := range sessionIDs {
		if err := s.revokeSession(tx, id); err != nil {
			return err
		}
	}
	if s.opts.LoginEnder == nil {
		return nil
	}
	return s.opts.LoginEnder.LoginsEnded(tx, userID, sessionIDs)
}

// renameField reports a field error under another field name.
func renameField(err error, field string) error {
	if fe, ok := fault.As(err); ok && fe.Field != "" {
		c := *fe
		c.Field = field
		return &c
	}
	return err
}
