package auth

import "parley/store"

// Auditor records admin and key actions (a role changed, a user disabled, a
// key revoked...) in the tenant's audit log, inside the write that makes the
// change, so that a change is never without its entry nor an entry without
// its change. The audit package implements it.
type Auditor interface {
	Record(tx *store.Tx, p Principal, action string, target Target, detail map[string]string) error
}

// Target is what an audited action was done to.
type Target struct {
	Type string // "user", "room", "apikey", "invite", "tenant"
	ID   string
	Name string // as it was then: a username, a room or key name, an invite prefix
}

// Actor kinds, as the audit log names them.
const (
	ActorUser     = "user"
	ActorKey      = "key"
	ActorOperator = "operator" // the command line on the server itself
)

// Actor says who p is for the audit log: its kind, id and name.
func (p Principal) Actor() (kind, id, name string) {
	switch {
	case p.IsKey():
		return ActorKey, p.KeyID, p.KeyName
	case p.UserID != "":
		name := ""
		if p.User != nil {
			name = p.User.Username
		}
		return ActorUser, p.UserID, name
	}
	return ActorOperator, "", ActorOperator
}

// operator is the principal of the server's own command line, acting in a tenant.
func operator(tenantID string) Principal { return Principal{TenantID: tenantID} }

// UserTarget names a user as the target of an audited action.
func UserTarget(u store.User) Target { return Target{Type: "user", ID: u.ID, Name: u.Username} }
