package audit

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"parley/auth"
	"parley/internal/testkit/pgtest"
	"parley/store"
)

// An entry is part of the write that records it: it is kept when the change
// commits and gone when the change rolls back.
func TestEntriesCommitAndRollBackWithTheirChange(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Database(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	policy, err := auth.NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	log := New(st, policy)
	tenant := store.Tenant{ID: "t1", Slug: "acme", Name: "Acme", SignupPolicy: "open", CreatedAt: time.Now().UTC()}
	admin := auth.Principal{TenantID: "t1", UserID: "u1", Role: auth.RoleAdmin, ClientIP: "192.0.2.7",
		User: &store.User{ID: "u1", Username: "alice"}}
	target := auth.Target{Type: "tenant", ID: "t1", Name: "acme"}

	failed := errors.New("the change failed after its entry was written")
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&tenant).Error; err != nil {
			return err
		}
		if err := log.Record(tx, admin, "tenant.updated", target, map[string]string{"name": "Lost"}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("write: %v", err)
	}
	err = st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&tenant).Error; err != nil {
			return err
		}
		return log.Record(tx, admin, "tenant.updated", target, map[string]string{"name": "Kept"})
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := log.List(ctx, admin, Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.HasMore {
		t.Fatalf("entries %+v, want only the committed one", page.Entries)
	}
	e := page.Entries[0]
	if e.Detail["name"] != "Kept" || e.Actor != (PartyJSON{Type: "user", ID: "u1", Name: "alice"}) || e.IP != "192.0.2.7" ||
		e.Target != (PartyJSON{Type: "tenant", ID: "t1", Name: "acme"}) {
		t.Errorf("entry %+v", e)
	}
}
