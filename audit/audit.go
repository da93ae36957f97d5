// Package audit keeps each tenant's audit log: which admin or API key did
// what to what, when and from where. Entries are written by the domains
// (auth, rooms) inside the write that makes the change, through Record; tenant
// admins read them, newest first, through List.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// Log is the audit log of every tenant.
type Log struct {
	st     *store.Store
	policy *auth.Policy
	now    func() time.Time
}

// New returns the audit log kept in st; policy decides who may read it.
func New(st *store.Store, policy *auth.Policy) *Log {
	return &Log{st: st, policy: policy, now: store.Now}
}

// Record adds an entry for an action p did to target, in the write tx that
// makes the change (auth.Auditor).
func (l *Log) Record(tx *store.Tx, p auth.Principal, action string, target auth.Target, detail map[string]string) error {
	kind, id, name := p.Actor()
	raw := []byte("{}")
	if len(detail) > 0 {
		var err error
		if raw, err = json.Marshal(detail); err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
	}
	return insertEntry(tx, store.AuditEntry{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: p.TenantID,
		ActorType: kind, ActorID: id, ActorName: name, Action: action,
		TargetType: target.Type, TargetID: target.ID, TargetName: target.Name,
		Detail: string(raw), IP: p.ClientIP, CreatedAt: l.now(),
	})
}

// Query pages through the log: entries older than Before (an entry id; empty
// for the newest), at most Limit of them.
type Query struct {
	Before string
	Limit  int
}

// Page is one page of entries, newest first.
type Page struct {
	Entries []EntryJSON `json:"entries"`
	HasMore bool        `json:"has_more"`
}

// EntryJSON is an entry as the API shows it.
type EntryJSON struct {
	ID        string            `json:"id"`
	Action    string            `json:"action"`
	Actor     PartyJSON         `json:"actor"`
	Target    PartyJSON         `json:"target"`
	Detail    map[string]string `json:"detail"`
	IP        string            `json:"ip"`
	CreatedAt time.Time         `json:"created_at"`
}

// PartyJSON names who acted, or what was acted on.
type PartyJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// List returns a page of p's tenant's log, for its admins and owners.
func (l *Log) List(ctx context.Context, p auth.Principal, q Query) (Page, error) {
	if !l.policy.Can(p, "audit.view") {
		return Page{}, fault.New(fault.Forbidden, "only the workspace's admins may read its audit log")
	}
	if q.Before != "" {
		if _, err := uuid.Parse(q.Before); err != nil {
			return Page{}, fault.Field("before", "is not the id of an audit entry")
		}
	}
	rows, err := pageEntries(l.st.Read(ctx), p.TenantID, q.Before, q.Limit+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Entries: []EntryJSON{}, HasMore: len(rows) > q.Limit}
	for i, e := range rows {
		if i == q.Limit {
			break
		}
		page.Entries = append(page.Entries, view(e))
	}
	return page, nil
}

func view(e store.AuditEntry) EntryJSON {
	detail := map[string]string{}
	_ = json.Unmarshal([]byte(e.Detail), &detail) // written by Record: always an object of strings
	return EntryJSON{ID: e.ID, Action: e.Action, Detail: detail, IP: e.IP, CreatedAt: e.CreatedAt.UTC(),
		Actor:  PartyJSON{Type: e.ActorType, ID: e.ActorID, Name: e.ActorName},
		Target: PartyJSON{Type: e.TargetType, ID: e.TargetID, Name: e.TargetName}}
}
