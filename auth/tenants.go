package auth

import (
	"context"
	"strings"

	"parley/internal/fault"
	"parley/store"
)

// Me returns the calling user.
func (s *Service) Me(ctx context.Context, p Principal) (store.User, error) {
	if p.IsKey() {
		return store.User{}, fault.New(fault.Forbidden, "an API key is not a user")
	}
	return s.user(ctx, p.TenantID, p.UserID)
}

// Tenant returns the caller's tenant.
func (s *Service) Tenant(ctx context.Context, p Principal) (store.Tenant, error) {
	if err := s.Require(p, "tenant.view"); err != nil {
		return store.Tenant{}, err
	}
	var t store.Tenant
	err := s.st.Read(ctx).Where("id = ?", p.TenantID).Take(&t).Error
	return t, store.NotFound(err, "tenant")
}

// TenantChange is a PATCH of the tenant; nil fields stay as they are.
type TenantChange struct {
	Name         *string
	SignupPolicy *string
}

// UpdateTenant renames the tenant or changes its signup policy.
func (s *Service) UpdateTenant(ctx context.Context, p Principal, ch TenantChange) (store.Tenant, error) {
	if err := s.Require(p, "tenant.update"); err != nil {
		return store.Tenant{}, err
	}
	updates := map[string]any{}
	if ch.Name != nil {
		name, err := CleanName("name", *ch.Name, MaxNameLen, true)
		if err != nil {
			return store.Tenant{}, err
		}
		updates["name"] = name
	}
	if ch.SignupPolicy != nil {
		if err := checkSignupPolicy(*ch.SignupPolicy); err != nil {
			return store.Tenant{}, err
		}
		updates["signup_policy"] = *ch.SignupPolicy
	}
	if len(updates) > 0 {
		detail := map[string]string{}
		for k, v := range updates {
			detail[k] = v.(string)
		}
		err := s.st.Write(ctx, func(tx *store.Tx) error {
			var t store.Tenant
			if err := tx.Where("id = ?", p.TenantID).Take(&t).Error; err != nil {
				return store.NotFound(err, "tenant")
			}
			if err := tx.Model(&store.Tenant{}).Where("id = ?", p.TenantID).Updates(updates).Error; err != nil {
				return err
			}
			return s.audit.Record(tx, p, "tenant.updated", Target{Type: "tenant", ID: t.ID, Name: t.Slug}, detail)
		})
		if err != nil {
			return store.Tenant{}, err
		}
	}
	return s.Tenant(ctx, p)
}

// UserQuery pages through a tenant's users, by username.
type UserQuery struct {
	Prefix string
	Limit  int
	Offset int
}

// ListUsers returns the tenant's users whose username starts with q.Prefix.
func (s *Service) ListUsers(ctx context.Context, p Principal, q UserQuery) ([]store.User, error) {
	if err := s.Require(p, "users.list"); err != nil {
		return nil, err
	}
	db := s.st.Read(ctx).Where("tenant_id = ? AND is_bot = ?", p.TenantID, false)
	if q.Prefix != "" {
		// Usernames are ASCII: lower() folds them alike in both databases
		// (SQLite's LIKE ignores case, PostgreSQL's does not).
		escaped := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.Prefix))
		db = db.Where(`lower(username) LIKE ? ESCAPE '\'`, escaped+"%")
	}
	var users []store.User
	err := db.Order("username COLLATE NOCASE").Limit(q.Limit).Offset(q.Offset).Find(&users).Error
	return users, err
}

// NewUser is a user created by an admin or a tenant back end.
type NewUser struct {
	Username, DisplayName, Password, Role string
}

// CreateUser provisions a user; the password is optional (SSO users have none).
func (s *Service) CreateUser(ctx context.Context, p Principal, in NewUser) (store.User, error) {
	if err := s.Require(p, "users.create"); err != nil {
		return store.User{}, err
	}
	if in.Role == "" {
		in.Role = RoleMember
	}
	if p.IsKey() && in.Role != RoleMember {
		return store.User{}, fault.New(fault.Forbidden, "an API key may create members only")
	}
	if in.Role == RoleOwner && !s.Can(p, "users.manage_owners") {
		return store.User{}, fault.New(fault.Forbidden, "only an owner may create owners")
	}
	user, err := s.newUser(p.TenantID, in.Username, in.DisplayName, in.Password, in.Role, false)
	if err != nil {
		return store.User{}, err
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if err := s.insertUser(tx, &user); err != nil {
			return err
		}
		return s.audit.Record(tx, p, "user.created", UserTarget(user), map[string]string{"role": user.Role})
	})
	return user, err
}

// UserChange is a PATCH of a user; nil fields stay as they are.
type UserChange struct {
	Role     *string
	Disabled *bool
}

// UpdateUser changes a user's tenant role or disables them. Disabling ends
// every login and stream of theirs at once.
func (s *Service) UpdateUser(ctx context.Context, p Principal, userID string, ch UserChange) (store.User, error) {
	if err := s.Require(p, "users.update"); err != nil {
		return store.User{}, err
	}
	if ch.Role != nil {
		if err := checkTenantRole(*ch.Role); err != nil {
			return store.User{}, err
		}
	}
	var user store.User
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Where("id = ? AND tenant_id = ? AND is_bot = ?", userID, p.TenantID, false).Take(&user).Error; err != nil {
			return store.NotFound(err, "user")
		}
		if user.ID == p.UserID {
			return fault.New(fault.Forbidden, "you cannot change your own role or disable yourself")
		}
		touchesOwner := user.Role == RoleOwner || (ch.Role != nil && *ch.Role == RoleOwner)
		if touchesOwner && !s.Can(p, "users.manage_owners") {
			return fault.New(fault.Forbidden, "only an owner may change an owner or make one")
		}
		was := user
		if ch.Role != nil {
			user.Role = *ch.Role
		}
		disabling := ch.Disabled != nil && *ch.Disabled && !user.Disabled
		if ch.Disabled != nil {
			user.Disabled = *ch.Disabled
		}
		if err := tx.Model(&store.User{}).Where("id = ?", user.ID).
			Updates(map[string]any{"role": user.Role, "disabled": user.Disabled}).Error; err != nil {
			return err
		}
		if err := s.auditUserChange(tx, p, was, user); err != nil {
			return err
		}
		tx.Invalidate(userKey(user.ID))
		if disabling {
			if err := s.endLogins(tx, user.ID, nil); err != nil {
				return err
			}
			if err := s.revoker.UserDisabled(tx, user.ID); err != nil {
				return err
			}
		}
		u := user
		tx.AfterCommit(func() {
			if !disabling {
				s.revoker.UserUpdated(ViewUser(u)) // e.g. a new role: the Admin tab comes or goes at once
			}
		})
		return nil
	})
	return user, err
}

// auditUserChange records a user's new tenant role and their being disabled or enabled.
func (s *Service) auditUserChange(tx *store.Tx, p Principal, was, now store.User) error {
	if now.Role != was.Role {
		if err := s.audit.Record(tx, p, "user.role_changed", UserTarget(now), map[string]string{"from": was.Role, "to": now.Role}); err != nil {
			return err
		}
	}
	if now.Disabled != was.Disabled {
		action := "user.enabled"
		if now.Disabled {
			action = "user.disabled"
		}
		return s.audit.Record(tx, p, action, UserTarget(now), nil)
	}
	return nil
}
