package auth

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

//go:embed model.conf
var modelText string

//go:embed policy.csv
var policyText string

// Policy answers "does this role grant this action?" with casbin, from the
// fixed model.conf and policy.csv.
//
// It keeps no record of who holds which role: that lives only in Parley's
// tables (users.role, room_members.role, api_keys.scopes) and is read with
// each request (the tenant role or scopes by authentication, the room role by
// the room's access check; through store.Cache, which writes invalidate in
// commit order on every node before they return, and which reads through
// when it cannot prove itself current), so no node ever decides from a copy
// of the roles that another node's write left stale.
//
// policy.csv is fixed, so casbin is asked once, at start, about every role and
// every action it names, and its answers are kept in a table: evaluating
// casbin's matcher on each check would cost more than the rest of a post.
type Policy struct {
	grants map[grant]bool // only casbin's "yes" answers
}

// Where a role is held, as policy.csv prefixes it.
const (
	kindTenant = "tenant" // a user's role in their tenant
	kindRoom   = "room"   // a user's role in one room
	kindScope  = "scope"  // an API key's scope
)

// grant is one role (split into where it is held and its name, so that
// checks build no strings) and one action.
type grant struct{ kind, name, act string }

// NewPolicy loads the model and the role policies, and records casbin's
// decision for every role and action they name.
func NewPolicy() (*Policy, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("casbin enforcer: %w", err)
	}
	for _, line := range strings.Split(policyText, "\n") {
		if err := persist.LoadPolicyLine(strings.TrimSpace(line), e.GetModel()); err != nil {
			return nil, fmt.Errorf("casbin policy: %w", err)
		}
	}
	rules, err := e.GetPolicy()
	if err != nil {
		return nil, fmt.Errorf("casbin policy: %w", err)
	}
	roles, acts := map[string]bool{}, map[string]bool{}
	for _, r := range rules {
		roles[r[0]], acts[r[1]] = true, true
	}
	p := &Policy{grants: map[grant]bool{}}
	for role := range roles {
		kind, name, _ := strings.Cut(role, ":")
		if kind != kindTenant && kind != kindRoom && kind != kindScope {
			return nil, fmt.Errorf("casbin policy: role %q names neither tenant, room nor scope", role)
		}
		for act := range acts {
			allowed, err := e.Enforce(role, act)
			if err != nil {
				return nil, fmt.Errorf("casbin: %w", err)
			}
			if allowed {
				p.grants[grant{kind, name, act}] = true
			}
		}
	}
	return p, nil
}

// Can reports whether the principal may do act tenant-wide: whether its
// tenant role (a user) or one of its scopes (an API key) grants act.
func (pol *Policy) Can(p Principal, act string) bool {
	if p.IsKey() {
		for _, s := range p.Scopes {
			if pol.grants[grant{kindScope, s, act}] {
				return true
			}
		}
		return false
	}
	return p.Role != "" && pol.grants[grant{kindTenant, p.Role, act}]
}

// CanInRoom reports whether the principal, holding roomRole in a room ("" if
// not a member), may do act there: its tenant role or scopes may grant it
// everywhere, its room role there.
func (pol *Policy) CanInRoom(p Principal, roomRole, act string) bool {
	return pol.Can(p, act) || (roomRole != "" && !p.IsKey() && pol.grants[grant{kindRoom, roomRole, act}])
}

// SplitScopes parses the stored comma-separated scope list.
func SplitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
