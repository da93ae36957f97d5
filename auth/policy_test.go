package auth

import (
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

// The table of answers is casbin's: for every role and action in
// policy.csv, and for ones it does not name, it says what an enforcer
// loaded from the same files says.
func TestPolicyTableIsCasbinsAnswer(t *testing.T) {
	pol, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(policyText))
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	roles, acts := map[string]bool{"tenant:nobody": true, "room:": true, "scope:": true}, map[string]bool{"no.such_action": true}
	for _, line := range strings.Split(policyText, "\n") {
		f := strings.Split(line, ",")
		if len(f) != 3 || strings.TrimSpace(f[0]) != "p" {
			continue
		}
		rules++
		roles[strings.TrimSpace(f[1])], acts[strings.TrimSpace(f[2])] = true, true
	}
	if len(pol.grants) != rules {
		t.Fatalf("%d answers tabled, policy.csv has %d rules", len(pol.grants), rules)
	}
	for role := range roles {
		kind, name, _ := strings.Cut(role, ":")
		for act := range acts {
			want, err := e.Enforce(role, act)
			if err != nil {
				t.Fatal(err)
			}
			if got := pol.grants[grant{kind, name, act}]; got != want {
				t.Errorf("%s %s: table %v, casbin %v", role, act, got, want)
			}
		}
	}
}

// A principal is asked about with the roles it holds: its tenant role or
// its key's scopes everywhere, its room role in that room only; a key holds
// no room role.
func TestPolicyAsksWithTheRolesHeld(t *testing.T) {
	pol, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	member := Principal{TenantID: "t", UserID: "u", Role: RoleMember}
	admin := Principal{TenantID: "t", UserID: "a", Role: RoleAdmin}
	key := Principal{TenantID: "t", KeyID: "k", Scopes: []string{"messages:write"}}
	nobody := Principal{TenantID: "t"} // the operator's command line
	tests := []struct {
		name     string
		p        Principal
		roomRole string
		act      string
		want     bool
	}{
		{"member, no room role, posts", member, "", "message.post", false},
		{"member, room member, posts", member, "member", "message.post", true},
		{"member, room member, deletes the room", member, "member", "room.delete", false},
		{"member, room owner, deletes the room", member, "owner", "room.delete", true},
		{"admin, no room role, deletes the room", admin, "", "room.delete", true},
		{"admin reads the audit log", admin, "", "audit.view", true},
		{"member reads the audit log", member, "", "audit.view", false},
		{"room owner reads the audit log", member, "owner", "audit.view", false},
		{"key with its scope posts", key, "", "message.post", true},
		{"key with a room role it cannot hold", key, "owner", "room.delete", false},
		{"key without the scope creates a room", key, "", "room.create", false},
		{"no role at all", nobody, "", "tenant.view", false},
		{"unknown tenant role", Principal{UserID: "x", Role: "root"}, "", "tenant.view", false},
	}
	for _, tc := range tests {
		if got := pol.CanInRoom(tc.p, tc.roomRole, tc.act); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
