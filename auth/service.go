// Package auth knows identity: tenants, users, passwords, logins and tokens,
// API keys, and (with casbin) who may do what.
package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"parley/internal/fault"
	"parley/internal/limit"
	"parley/store"
)

// Revoker ends open streams when a login or a user's access ends, and tells
// a user's open apps when their account changes (role, name). The ends are
// recorded inside the write that causes them, so they take effect on every
// node once it commits, in commit order, even if a bus message is lost. The
// rooms package implements it.
type Revoker interface {
	SessionRevoked(tx *store.Tx, sessionID string) error
	UserDisabled(tx *store.Tx, userID string) error
	UserUpdated(user UserJSON)
}

// Options are the identity settings from config.
type Options struct {
	RefreshTTL         time.Duration
	InviteTTL          time.Duration
	SelfServiceTenants bool
	LoginEnder         LoginEnder     // nil: nothing else to end with a login
	Limits             *limit.Limiter // log-in attempts per account and per client IP
	// Caps, 0 for none (docs/SECURITY.md).
	MaxUsersPerTenant       int
	MaxAPIKeysPerTenant     int
	MaxOpenInvitesPerTenant int
}

// Service runs the identity use cases.
type Service struct {
	st        *store.Store
	policy    *Policy
	signer    *Signer
	passwords *Passwords
	revoker   Revoker
	audit     Auditor
	opts      Options
	keys      *keyCache
	now       func() time.Time
}

// NewService wires the identity service.
func NewService(st *store.Store, policy *Policy, signer *Signer, passwords *Passwords, revoker Revoker, auditor Auditor, opts Options) *Service {
	return &Service{
		st: st, policy: policy, signer: signer, passwords: passwords, revoker: revoker, audit: auditor, opts: opts,
		keys: newKeyCache(),
		now:  store.Now,
	}
}

// Principal is who is calling: a user with a login, or a tenant's API key.
type Principal struct {
	TenantID  string
	UserID    string // empty for an API key acting as the tenant itself
	Role      string
	SessionID string
	ExpiresAt time.Time // access token expiry; zero for API keys
	KeyID     string
	KeyName   string
	Scopes    []string
	User      *store.User // the user as loaded when authenticating; nil for API keys
	ClientIP  string      // where the request came from, for the audit log
}

// Subject is who the principal is: the user's id, or the API key's.
func (p Principal) Subject() string {
	if p.KeyID != "" {
		return p.KeyID
	}
	return p.UserID
}

// IsKey reports whether the principal is an API key.
func (p Principal) IsKey() bool { return p.KeyID != "" }

// Can reports whether the principal may do act tenant-wide, as its tenant
// role or its scopes, read when it authenticated, grant.
func (s *Service) Can(p Principal, act string) bool { return s.policy.Can(p, act) }

// CanInRoom reports whether the principal may do act in a room where it holds
// roomRole ("" if not a member), as the room's access check read it.
func (s *Service) CanInRoom(p Principal, roomRole, act string) bool {
	return s.policy.CanInRoom(p, roomRole, act)
}

// Require returns a Forbidden fault unless the principal may do act tenant-wide.
func (s *Service) Require(p Principal, act string) error {
	if !s.Can(p, act) {
		return fault.New(fault.Forbidden, "you may not do this")
	}
	return nil
}

// TokenPair is what logging in, signing up and refreshing return.
type TokenPair struct {
	User         store.User
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
}

// errTokenInvalid refuses an access token (made once: every request checks one).
var errTokenInvalid = fault.New(fault.Unauthenticated, "the access token is invalid or expired")

var errBadCredentials = fault.New(fault.Unauthenticated, "invalid tenant, username or password")

// NewAdmin describes the first user of a new tenant.
type NewAdmin struct {
	Username, Password, DisplayName string
}

// CreateTenant makes a tenant with its owner and logs the owner in.
func (s *Service) CreateTenant(ctx context.Context, slug, name string, admin NewAdmin, selfService bool) (store.Tenant, TokenPair, error) {
	if selfService && !s.opts.SelfServiceTenants {
		return store.Tenant{}, TokenPair{}, fault.New(fault.Forbidden, "this server does not allow creating tenants")
	}
	if err := checkSlug("slug", slug); err != nil {
		return store.Tenant{}, TokenPair{}, err
	}
	name, err := CleanName("name", name, MaxNameLen, true)
	if err != nil {
		return store.Tenant{}, TokenPair{}, err
	}
	now := s.now()
	tenant := store.Tenant{ID: newID(), Slug: slug, Name: name, SignupPolicy: SignupOpen, CreatedAt: now}
	user, err := s.newUser(tenant.ID, admin.Username, admin.DisplayName, admin.Password, RoleOwner, true)
	if err != nil {
		return store.Tenant{}, TokenPair{}, prefixField("admin.", err)
	}
	var pair TokenPair
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&tenant).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return fault.New(fault.Conflict, "a tenant with this slug exists")
			}
			return err
		}
		if err := s.insertUser(tx, &user); err != nil {
			return err
		}
		pair, err = s.startSession(tx, user)
		return err
	})
	return tenant, pair, err
}

// Signup creates a member account per the tenant's signup policy and logs it in.
func (s *Service) Signup(ctx context.Context, slug, username, password, displayName, inviteCode string) (TokenPair, error) {
	if err := checkSlug("tenant", slug); err != nil {
		return TokenPair{}, err
	}
	if err := checkSecret("invite_code", inviteCode, false); err != nil {
		return TokenPair{}, err
	}
	user, err := s.newUser("", username, displayName, password, RoleMember, true)
	if err != nil {
		return TokenPair{}, err
	}
	var tenant store.Tenant
	if err := s.st.Read(ctx).Where("slug = ?", slug).Take(&tenant).Error; err != nil {
		return TokenPair{}, store.NotFound(err, "tenant")
	}
	user.TenantID = tenant.ID
	if tenant.SignupPolicy == SignupClosed {
		return TokenPair{}, fault.New(fault.Forbidden, "this tenant does not accept sign-ups")
	}
	var pair TokenPair
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if tenant.SignupPolicy == SignupInvite {
			if err := s.useInvite(tx, tenant.ID, inviteCode); err != nil {
				return err
			}
		}
		if err := s.insertUser(tx, &user); err != nil {
			return err
		}
		pair, err = s.startSession(tx, user)
		return err
	})
	return pair, err
}

// Login checks a password. Attempts count against the account and the client
// IP while they are checked (so parallel guesses are limited as serial ones),
// and keep counting when they fail.
// Usernames are unique regardless of case, so they match regardless of case.
func (s *Service) Login(ctx context.Context, slug, username, password, clientIP string) (TokenPair, error) {
	if err := checkLogin(slug, username, password); err != nil {
		return TokenPair{}, err
	}
	refund, err := s.opts.Limits.StartLogin(ctx, slug, username, clientIP)
	if err != nil {
		return TokenPair{}, err
	}
	var user store.User
	err = s.st.Read(ctx).Joins("JOIN tenants ON tenants.id = users.tenant_id").
		Where("tenants.slug = ? AND users.username = ? COLLATE NOCASE", slug, username).Take(&user).Error
	if err != nil && !store.IsNotFound(err) {
		refund() // our failure, not the client's
		return TokenPair{}, err
	}
	if !s.passwords.Check(user.PasswordHash, password) {
		return TokenPair{}, errBadCredentials
	}
	refund() // a right password costs no attempt
	if user.Disabled {
		return TokenPair{}, errDisabled
	}
	var pair TokenPair
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		pair, err = s.startSession(tx, user)
		return err
	})
	return pair, err
}

// IssueFor logs a tenant's user in on behalf of the tenant's back end (API key
// with tokens:write), for single sign-on.
func (s *Service) IssueFor(ctx context.Context, p Principal, userID string) (TokenPair, error) {
	if err := s.Require(p, "tokens.create"); err != nil {
		return TokenPair{}, err
	}
	user, err := s.user(ctx, p.TenantID, userID)
	if err != nil {
		return TokenPair{}, err
	}
	if user.Disabled {
		return TokenPair{}, fault.New(fault.Conflict, "the user is disabled")
	}
	if err := ActsOnlyForMembers(user.Role); err != nil {
		return TokenPair{}, err
	}
	var pair TokenPair
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		// Checked again in the write: a promotion may have committed since.
		var now store.User
		if err := tx.Select("role").Where("id = ?", user.ID).Take(&now).Error; err != nil {
			return err
		}
		if err := ActsOnlyForMembers(now.Role); err != nil {
			return err
		}
		if pair, err = s.startSession(tx, user); err != nil {
			return err
		}
		return s.audit.Record(tx, p, "token.issued", UserTarget(user), nil)
	})
	return pair, err
}

// ActsOnlyForMembers refuses to act for a tenant admin or owner on a key's
// behalf (tokens:write, as_user): a key must never obtain more than its scopes.
func ActsOnlyForMembers(role string) error {
	if role != RoleMember {
		return fault.New(fault.Forbidden, "an API key acts only for members, never for a tenant admin or owner")
	}
	return nil
}

// Refresh trades a refresh token for a new pair. A token presented twice means
// it was stolen or replayed: the whole login is revoked.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	if err := checkSecret("refresh_token", refreshToken, true); err != nil {
		return TokenPair{}, err
	}
	var (
		pair   TokenPair
		reused bool
	)
	invalid := fault.New(fault.Unauthenticated, "the refresh token is invalid or expired")
	err := s.st.Write(ctx, func(tx *store.Tx) error {
		now := s.now()
		var rt store.RefreshToken
		if err := tx.Where("hash = ?", hashSecret(refreshToken)).Take(&rt).Error; err != nil {
			if store.IsNotFound(err) {
				return invalid
			}
			return err
		}
		var sess store.Session
		if err := tx.Where("id = ?", rt.SessionID).Take(&sess).Error; err != nil {
			return err
		}
		if rt.UsedAt != nil {
			reused = true
			if sess.RevokedAt == nil {
				return s.endLogins(tx, sess.UserID, []string{sess.ID})
			}
			return nil
		}
		var user store.User
		if err := tx.Where("id = ?", sess.UserID).Take(&user).Error; err != nil {
			return err
		}
		if user.Disabled {
			return errDisabled // say why the app is logged out
		}
		if sess.RevokedAt != nil || !now.Before(rt.ExpiresAt) || !now.Before(sess.ExpiresAt) {
			return invalid
		}
		if err := tx.Model(&store.RefreshToken{}).Where("hash = ?", rt.Hash).Update("used_at", now).Error; err != nil {
			return err
		}
		var err error
		pair, err = s.issuePair(tx, user, sess.ID, now)
		return err
	})
	if err != nil {
		return TokenPair{}, err
	}
	if reused {
		return TokenPair{}, fault.New(fault.Unauthenticated, "the refresh token was already used; this login has been revoked")
	}
	return pair, nil
}

// Logout revokes the login that refreshToken belongs to, if it is the caller's.
func (s *Service) Logout(ctx context.Context, p Principal, refreshToken string) error {
	if err := checkSecret("refresh_token", refreshToken, true); err != nil {
		return err
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		var sess store.Session
		err := tx.Joins("JOIN refresh_tokens ON refresh_tokens.session_id = sessions.id").
			Where("refresh_tokens.hash = ? AND sessions.user_id = ?", hashSecret(refreshToken), p.UserID).
			Take(&sess).Error
		if err != nil {
			if store.IsNotFound(err) {
				return fault.New(fault.Unauthenticated, "the refresh token is not one of your logins")
			}
			return err
		}
		if sess.RevokedAt != nil {
			return nil
		}
		return s.endLogins(tx, sess.UserID, []string{sess.ID})
	})
}

// Authenticate turns a bearer credential (a JWT, or an API key starting with
// "pk_") into a principal. The user must still exist and be enabled, and the
// login must not be revoked: a token outlives neither.
func (s *Service) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	if strings.HasPrefix(bearer, KeyPrefix) {
		return s.authenticateKey(ctx, bearer)
	}
	claims, err := s.signer.Parse(bearer)
	if err != nil {
		return Principal{}, errTokenInvalid
	}
	// The login must be live and the user enabled, as the cache (never stale)
	// or the database says.
	sess, live, err := s.sessionIfLive(ctx, claims.SessionID)
	if err != nil {
		return Principal{}, err
	}
	if !live || sess.UserID != claims.Subject || sess.TenantID != claims.TenantID {
		return Principal{}, errTokenInvalid
	}
	user, err := s.UserByID(ctx, claims.Subject)
	if fault.Is(err, fault.NotFound) || (err == nil && (user.Disabled || user.TenantID != claims.TenantID)) {
		return Principal{}, errTokenInvalid
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{
		TenantID: user.TenantID, UserID: user.ID, Role: user.Role,
		SessionID: claims.SessionID, ExpiresAt: claims.ExpiresAt.Time, User: user,
	}, nil
}

// startSession opens a login for user and issues its first token pair.
func (s *Service) startSession(tx *store.Tx, user store.User) (TokenPair, error) {
	now := s.now()
	sess := store.Session{ID: newID(), TenantID: user.TenantID, UserID: user.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
	if err := tx.Create(&sess).Error; err != nil {
		return TokenPair{}, err
	}
	return s.issuePair(tx, user, sess.ID, now)
}

func (s *Service) issuePair(tx *store.Tx, user store.User, sessionID string, now time.Time) (TokenPair, error) {
	refresh := randomToken(32)
	rt := store.RefreshToken{Hash: hashSecret(refresh), SessionID: sessionID, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
	if err := tx.Create(&rt).Error; err != nil {
		return TokenPair{}, err
	}
	access, _, err := s.signer.Issue(user.ID, user.TenantID, user.Role, sessionID, now)
	if err != nil {
		return TokenPair{}, fmt.Errorf("sign access token: %w", err)
	}
	return TokenPair{User: user, AccessToken: access, RefreshToken: refresh, ExpiresIn: int(s.signer.TTL().Seconds())}, nil
}

// newUser validates and builds a user row (hashing the password outside the writer).
func (s *Service) newUser(tenantID, username, displayName, password, role string, passwordRequired bool) (store.User, error) {
	if err := checkUsername(username); err != nil {
		return store.User{}, err
	}
	displayName, err := CleanName("display_name", displayName, MaxNameLen, false)
	if err != nil {
		return store.User{}, err
	}
	if displayName == "" {
		displayName = username
	}
	if err := checkTenantRole(role); err != nil {
		return store.User{}, err
	}
	var hash string
	if password != "" || passwordRequired {
		if err := checkPassword(password); err != nil {
			return store.User{}, err
		}
		if hash, err = s.passwords.Hash(password); err != nil {
			return store.User{}, fmt.Errorf("hash password: %w", err)
		}
	}
	return store.User{ID: newID(), TenantID: tenantID, Username: username, DisplayName: displayName,
		PasswordHash: hash, Role: role, CreatedAt: s.now()}, nil
}

// insertUser stores a new user, within the tenant's cap.
func (s *Service) insertUser(tx *store.Tx, user *store.User) error {
	quota := store.Quota{Limit: "users_per_tenant", Max: s.opts.MaxUsersPerTenant,
		Message: "this workspace has as many users as it may have"}
	if err := tx.WithinQuota(quota, &store.User{}, "tenant_id = ? AND is_bot = ?", user.TenantID, false); err != nil {
		return err
	}
	if err := tx.Create(user).Error; err != nil {
		if store.IsUniqueViolation(err) {
			return fault.New(fault.Conflict, "this username is taken")
		}
		return err
	}
	return nil
}

func (s *Service) user(ctx context.Context, tenantID, userID string) (store.User, error) {
	var u store.User
	err := s.st.Read(ctx).Where("id = ? AND tenant_id = ? AND is_bot = ?", userID, tenantID, false).Take(&u).Error
	return u, store.NotFound(err, "user")
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func prefixField(prefix string, err error) error {
	if fe, ok := fault.As(err); ok && fe.Field != "" {
		copy := *fe
		copy.Field = prefix + fe.Field
		return &copy
	}
	return err
}
