package search

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"parley/store"
)

// BenchmarkFlush measures what SQLite's index costs per new message: the
// flush's write (the statements, and FTS4's segment merges as they come) and
// its commit, in flushes of batch messages (at most gatherMost, unless more
// came during the last flush). Bodies: "load" is the load tool's, two unique
// numbers each; "chat" repeats a vocabulary, as people do.
func BenchmarkFlush(b *testing.B) {
	chat := []string{"Are we still on for lunch tomorrow?", "The deploy finished, all tests passed",
		"Can someone review my pull request please", "大家早上好，今天的会议改到下午三点", "thanks! looks good to me",
		"I'll be late, stuck in traffic", "Meeting notes are in the shared folder", "who broke the build again"}
	for _, bc := range []struct {
		body  string
		batch int
	}{{"load", 50}, {"load", 100}, {"load", 500}, {"chat", 500}} {
		b.Run(fmt.Sprintf("body=%s/batch=%d", bc.body, bc.batch), func(b *testing.B) {
			benchmarkFlush(b, bc.batch, func(i int) string {
				if bc.body == "chat" {
					return chat[i%len(chat)]
				}
				return fmt.Sprintf("bench k=%d t=%d", i, time.Now().UnixNano())
			})
		})
	}
}

func benchmarkFlush(b *testing.B, batch int, body func(int) string) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	idx, err := openSQLite(ctx, st, gathering{delay: time.Hour, most: math.MaxInt}) // the benchmark flushes, not the delay
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = idx.Close(ctx) })
	createRooms(b, st, "t1", "r1")
	now := store.Now()
	var cpu time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		msgs := make([]store.Message, min(batch, b.N-done))
		for i := range msgs {
			n := done + i + 1
			msgs[i] = store.Message{ID: fmt.Sprintf("m%09d", n), TenantID: "t1", RoomID: "r1", Seq: int64(n),
				AuthorID: "u1", Body: body(n), CreatedAt: now}
		}
		post(b, st, idx, msgs...)
		b.StartTimer()
		cpu0 := cpuTime(b)
		if err := idx.flush(ctx); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - cpu0
	}
	b.StopTimer()
	var n int64
	if err := st.Read(ctx).Raw(`SELECT COUNT(*) FROM search_docs`).Scan(&n).Error; err != nil || n != int64(b.N) {
		b.Fatalf("%d messages indexed (%v), want %d", n, err, b.N)
	}
	// CPU of the whole process (the flush runs on the store's writer): comparable
	// on a busy machine, where time per message is not.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime is the CPU this process has used (user and system).
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
