package rooms_test

import (
	"context"
	"testing"

	"parley/rooms"
)

// BenchmarkAccessCheck guards the room access check every post, read and
// stream makes: from the cache and casbin's answers tabled at start, it
// reads no database.
func BenchmarkAccessCheck(b *testing.B) {
	r := newPostingRoom(b)
	ctx := context.Background()
	if err := rooms.Access(r.svc, ctx, r.p, r.roomID, "message.post"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := rooms.Access(r.svc, ctx, r.p, r.roomID, "message.post"); err != nil {
			b.Fatal(err)
		}
	}
}
