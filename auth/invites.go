package auth

import (
	"context"
	"strconv"

	"parley/internal/fault"
	"parley/store"
)

// Invite codes are 24 random base64url characters. A code is stored only as
// its SHA-256 hash and found by that hash, as refresh tokens are: the lookup's
// timing can only say something about the hash, never about the code. Its
// first six characters are also kept in the clear as its public prefix, so
// that the admin screen can list invites and tell them apart and an admin can
// revoke one by it; the other 18 characters (108 bits) stay secret.
const (
	inviteCodeBytes = 18
	invitePrefixLen = 6
	// MaxInviteUses bounds max_uses: a bigger group is better served by an
	// open sign-up policy for a while.
	MaxInviteUses = 1000
)

// NewInvite is an invite as created: Code is the only time the code is seen.
type NewInvite struct {
	store.Invite
	Code string
}

var errBadInvite = fault.New(fault.Forbidden, "the invite code is invalid, used up or has expired")

// CreateInvite makes an invite code for up to maxUses sign-ups (nil: one),
// valid until its expiry.
func (s *Service) CreateInvite(ctx context.Context, p Principal, maxUses *int) (NewInvite, error) {
	if err := s.Require(p, "invites.manage"); err != nil {
		return NewInvite{}, err
	}
	uses := 1
	if maxUses != nil {
		uses = *maxUses
	}
	if uses < 1 || uses > MaxInviteUses {
		return NewInvite{}, fault.Field("max_uses", "must be from 1 to 1000")
	}
	quota := store.Quota{Limit: "open_invites_per_tenant", Max: s.opts.MaxOpenInvitesPerTenant,
		Message: "this workspace has as many open invites as it may have; revoke one first"}
	var out NewInvite
	err := drawUntilUnique(func() error {
		code := randomToken(inviteCodeBytes)
		now := s.now()
		out = NewInvite{Code: code, Invite: store.Invite{Hash: hashSecret(code), TenantID: p.TenantID, Prefix: code[:invitePrefixLen],
			CreatedBy: p.Subject(), CreatedAt: now, ExpiresAt: now.Add(s.opts.InviteTTL), MaxUses: uses}}
		return s.st.Write(ctx, func(tx *store.Tx) error {
			// Used-up and expired invites are of no more use: make room.
			if err := tx.Where("tenant_id = ? AND (uses >= max_uses OR expires_at <= ?)", p.TenantID, now).
				Delete(&store.Invite{}).Error; err != nil {
				return err
			}
			if err := tx.WithinQuota(quota, &store.Invite{}, "tenant_id = ?", p.TenantID); err != nil {
				return err
			}
			if err := tx.Create(&out.Invite).Error; err != nil {
				return err
			}
			return s.audit.Record(tx, p, "invite.created", inviteTarget(out.Invite), map[string]string{"max_uses": strconv.Itoa(uses)})
		})
	})
	return out, err
}

// ListInvites returns the tenant's open invites (not used up, not expired), newest first.
func (s *Service) ListInvites(ctx context.Context, p Principal) ([]store.Invite, error) {
	if err := s.Require(p, "invites.manage"); err != nil {
		return nil, err
	}
	var invites []store.Invite
	err := s.st.Read(ctx).Where("tenant_id = ? AND uses < max_uses AND expires_at > ?", p.TenantID, s.now()).
		Order("created_at DESC").Limit(1000).Find(&invites).Error
	return invites, err
}

// RevokeInvite ends an open invite, named by its code or its public prefix.
func (s *Service) RevokeInvite(ctx context.Context, p Principal, code string) error {
	if err := s.Require(p, "invites.manage"); err != nil {
		return err
	}
	notFound := fault.New(fault.NotFound, "no open invite has this code")
	if code == "" || len(code) > maxSecretLen {
		return notFound
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		var inv store.Invite
		err := tx.Where("tenant_id = ? AND (hash = ? OR prefix = ?)", p.TenantID, hashSecret(code), code).Take(&inv).Error
		if store.IsNotFound(err) || (err == nil && !s.open(inv)) {
			return notFound
		}
		if err != nil {
			return err
		}
		if err := tx.Where("hash = ?", inv.Hash).Delete(&store.Invite{}).Error; err != nil {
			return err
		}
		return s.audit.Record(tx, p, "invite.revoked", inviteTarget(inv), nil)
	})
}

func inviteTarget(inv store.Invite) Target {
	return Target{Type: "invite", ID: inv.Prefix, Name: inv.Prefix}
}

// useInvite spends one use of the tenant's invite code, inside the sign-up's
// write: parallel sign-ups with one code get exactly max_uses accounts, and a
// sign-up that fails later in the write gives its use back.
func (s *Service) useInvite(tx *store.Tx, tenantID, code string) error {
	if code == "" {
		return fault.New(fault.Forbidden, "this tenant requires an invite code")
	}
	var inv store.Invite
	err := tx.Where("hash = ? AND tenant_id = ?", hashSecret(code), tenantID).Take(&inv).Error
	if store.IsNotFound(err) || (err == nil && !s.open(inv)) {
		return errBadInvite
	}
	if err != nil {
		return err
	}
	// Conditional, so that it also holds where writes run side by side.
	res := tx.Exec("UPDATE invites SET uses = uses + 1 WHERE hash = ? AND uses < max_uses", inv.Hash)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errBadInvite
	}
	return nil
}

func (s *Service) open(inv store.Invite) bool {
	return inv.Uses < inv.MaxUses && s.now().Before(inv.ExpiresAt)
}

// drawUntilUnique runs insert, which draws a random public prefix, again
// (up to three times in all) while the prefix clashes with one already taken.
func drawUntilUnique(insert func() error) error {
	for attempt := 1; ; attempt++ {
		err := insert()
		if err == nil || !store.IsUniqueViolation(err) || attempt == 3 {
			return err
		}
	}
}
