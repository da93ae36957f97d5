package push

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"parley/auth"
	"parley/rooms"
	"parley/store"
)

type nobodyOnline struct{}

func (nobodyOnline) Online(string) bool { return false }

// BenchmarkRecipients guards what push costs per new message after commit:
// routing a group of 16 messages to one room, for a tenant without any push
// subscription (the common case: a lookup in memory) and for one whose room
// has 10 subscribed members (one query for the group). It reports the cost
// per message.
func BenchmarkRecipients(b *testing.B) {
	for _, subscribed := range []int{0, 10} {
		b.Run(fmt.Sprintf("subscribed=%d", subscribed), func(b *testing.B) {
			st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			seedRoom(b, st, subscribed)
			s := New(st, nobodyOnline{}, Options{Queue: 1 << 20}, slog.New(slog.DiscardHandler))
			group := make([]job, 16)
			for i := range group {
				group[i] = job{tenantID: "t", message: rooms.MessageJSON{ID: fmt.Sprint(i), RoomID: "r", Body: "hello",
					Author: auth.UserJSON{ID: "author"}}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += len(group) {
				s.route(group)
				for len(s.sends) > 0 {
					<-s.sends
				}
			}
		})
	}
}

// seedRoom makes tenant t with room r, its author and n members with a push
// subscription each.
func seedRoom(b *testing.B, st *store.Store, n int) {
	now := time.Now()
	err := st.Write(context.Background(), func(tx *store.Tx) error {
		rows := []any{&store.Tenant{ID: "t", Slug: "t", Name: "t", CreatedAt: now},
			&store.User{ID: "author", TenantID: "t", Username: "author", CreatedAt: now},
			&store.Room{ID: "r", TenantID: "t", Name: "r", Visibility: "public", CreatedAt: now, LastActivityAt: now},
			&store.RoomMember{RoomID: "r", UserID: "author", TenantID: "t", Role: "owner", JoinedAt: now, Notifications: rooms.NotifyAll}}
		for i := range n {
			u := fmt.Sprint("u", i)
			rows = append(rows, &store.User{ID: u, TenantID: "t", Username: u, CreatedAt: now},
				&store.Session{ID: u, TenantID: "t", UserID: u, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
				&store.RoomMember{RoomID: "r", UserID: u, TenantID: "t", Role: "member", JoinedAt: now, Notifications: rooms.NotifyAll},
				&store.PushSubscription{ID: u, TenantID: "t", UserID: u, SessionID: u, Endpoint: "https://push.example/" + u,
					P256dh: "k", Auth: "a", CreatedAt: now})
		}
		for _, r := range rows {
			if err := tx.Create(r).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
