package auth

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"parley/store"
)

//go:embed model.conf
var modelText string

//go:embed policy.csv
var policyText string

// Policy answers "may this subject do this action here?" with casbin.
//
// What each role may do is fixed in policy.csv. Who holds which role is kept in
// Parley's own tables (users.role, room_members.role, api_keys.scopes), written
// in the same transaction as the change it belongs to, so a role can never
// disagree with the data; the enforcer loads them at start and is kept in step
// after each commit.
type Policy struct {
	enforcer *casbin.SyncedEnforcer
	// decisions caches Enforce answers until the next role change: casbin
	// evaluates its matcher expression on every call, which costs more than
	// the rest of posting a message.
	decisions atomic.Pointer[sync.Map]
	cached    atomic.Int64 // entries in decisions, to bound its memory
}

const maxCachedDecisions = 100_000

// NewPolicy loads the model, the role policies and every role assignment.
func NewPolicy(ctx context.Context, st *store.Store) (*Policy, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, &roleAdapter{ctx: ctx, st: st})
	if err != nil {
		return nil, fmt.Errorf("casbin enforcer: %w", err)
	}
	e.EnableAutoSave(false) // roles are saved by the domain's own transaction
	p := &Policy{enforcer: e}
	p.decisions.Store(new(sync.Map))
	return p, nil
}

// RoomObject names a room for policy checks.
func RoomObject(roomID string) string { return "room:" + roomID }

// TenantObject names the tenant itself for policy checks.
const TenantObject = "tenant"

// Allowed reports whether subject may do act on obj in tenant.
func (p *Policy) Allowed(subject, tenantID, obj, act string) bool {
	decisions := p.decisions.Load()
	key := subject + "\x00" + tenantID + "\x00" + obj + "\x00" + act
	if ok, found := decisions.Load(key); found {
		return ok.(bool)
	}
	ok, err := p.enforcer.Enforce(subject, tenantID, obj, act)
	allowed := err == nil && ok
	if p.cached.Add(1) > maxCachedDecisions {
		p.forget()
	}
	decisions.Store(key, allowed)
	return allowed
}

// SetTenantRole gives a subject exactly one tenant role ("" removes it).
func (p *Policy) SetTenantRole(subject, tenantID, role string) {
	p.replaceRoles("g", subject, tenantID, prefixed("tenant:", role))
}

// SetKeyScopes gives an API key one role per scope (nil removes them all).
func (p *Policy) SetKeyScopes(keyID, tenantID string, scopes []string) {
	p.replaceRoles("g", keyID, tenantID, prefixed("scope:", scopes...))
}

// SetRoomRole gives a user exactly one role in a room ("" removes it).
func (p *Policy) SetRoomRole(userID, roomID, role string) {
	p.replaceRoles("g2", userID, RoomObject(roomID), prefixed("room:", role))
}

// forget drops cached decisions after a role change. It runs after the
// change, so a decision cached meanwhile from the old roles is dropped too.
func (p *Policy) forget() {
	p.decisions.Store(new(sync.Map))
	p.cached.Store(0)
}

// replaceRoles swaps the subject's roles in one domain for want. It removes
// exact rules, never by filter: a filtered removal scans and rebuilds every
// role link, which grows with the number of users and memberships.
func (p *Policy) replaceRoles(ptype, subject, domain string, want []string) {
	defer p.forget()
	have, _ := p.enforcer.GetNamedRoleManager(ptype).GetRoles(subject, domain)
	for _, role := range have {
		if !slices.Contains(want, role) {
			_, _ = p.enforcer.RemoveNamedGroupingPolicy(ptype, subject, role, domain)
		}
	}
	for _, role := range want {
		if !slices.Contains(have, role) {
			_, _ = p.enforcer.AddNamedGroupingPolicy(ptype, subject, role, domain)
		}
	}
}

func prefixed(prefix string, names ...string) []string {
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, prefix+n)
		}
	}
	return out
}

// DropRoom forgets every role in a deleted room.
func (p *Policy) DropRoom(roomID string) {
	defer p.forget()
	_, _ = p.enforcer.RemoveFilteredNamedGroupingPolicy("g2", 2, RoomObject(roomID))
}

// roleAdapter feeds casbin the fixed policies and the role assignments kept in
// Parley's tables. Saving is the domain's job, so the save methods refuse.
type roleAdapter struct {
	ctx context.Context
	st  *store.Store
}

var errReadOnly = errors.New("roles are saved with the data they belong to, not through casbin")

func (a *roleAdapter) LoadPolicy(m model.Model) error {
	for _, line := range strings.Split(policyText, "\n") {
		if err := persist.LoadPolicyLine(strings.TrimSpace(line), m); err != nil {
			return err
		}
	}
	db := a.st.Read(a.ctx)
	var users []store.User
	if err := db.Select("id", "tenant_id", "role").Where("disabled = ? AND is_bot = ?", false, false).Find(&users).Error; err != nil {
		return fmt.Errorf("load tenant roles: %w", err)
	}
	for _, u := range users {
		if err := persist.LoadPolicyArray([]string{"g", u.ID, "tenant:" + u.Role, u.TenantID}, m); err != nil {
			return err
		}
	}
	var keys []store.APIKey
	if err := db.Select("id", "tenant_id", "scopes").Where("revoked_at IS NULL").Find(&keys).Error; err != nil {
		return fmt.Errorf("load api key scopes: %w", err)
	}
	for _, k := range keys {
		for _, s := range SplitScopes(k.Scopes) {
			if err := persist.LoadPolicyArray([]string{"g", k.ID, "scope:" + s, k.TenantID}, m); err != nil {
				return err
			}
		}
	}
	var members []store.RoomMember
	if err := db.Select("room_id", "user_id", "role").Find(&members).Error; err != nil {
		return fmt.Errorf("load room roles: %w", err)
	}
	for _, rm := range members {
		if err := persist.LoadPolicyArray([]string{"g2", rm.UserID, "room:" + rm.Role, RoomObject(rm.RoomID)}, m); err != nil {
			return err
		}
	}
	return nil
}

func (a *roleAdapter) SavePolicy(model.Model) error                { return errReadOnly }
func (a *roleAdapter) AddPolicy(string, string, []string) error    { return errReadOnly }
func (a *roleAdapter) RemovePolicy(string, string, []string) error { return errReadOnly }
func (a *roleAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnly
}

// SplitScopes parses the stored comma-separated scope list.
func SplitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
