package logbuf_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"parley/internal/logbuf"
	"parley/internal/testkit"
)

func TestWriterHoldsInfoAndWritesWarningsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		log     func(*slog.Logger)
		written bool // out holds the line before any flush
	}{
		{"info waits", func(l *slog.Logger) { l.Info("request", "status", 200) }, false},
		{"warning goes out", func(l *slog.Logger) { l.Warn("slow", "ms", 900) }, true},
		{"error goes out", func(l *slog.Logger) { l.With("route", "/x").Error("failed") }, true},
		{"a full buffer goes out", func(l *slog.Logger) {
			for range 1000 {
				l.Info("request", "pad", strings.Repeat("x", 64))
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &testkit.LogBuffer{}
			w := logbuf.New(out)
			log := slog.New(logbuf.Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn))
			tc.log(log)
			if got := out.String() != ""; got != tc.written {
				t.Fatalf("written before a flush = %v, want %v", got, tc.written)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, "time=") {
					t.Fatalf("a line is cut or mixed: %q", l)
				}
			}
		})
	}
}

func TestRunFlushesOnItsClockAndAtTheEnd(t *testing.T) {
	out := &testkit.LogBuffer{}
	w := logbuf.New(out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx, time.Millisecond) }()
	_, _ = w.Write([]byte("one\n"))
	for out.String() != "one\n" { // waits for the tick; the test's timeout bounds it
		time.Sleep(time.Millisecond)
	}
	_, _ = w.Write([]byte("two\n"))
	cancel()
	<-done
	if got := out.String(); got != "one\ntwo\n" {
		t.Fatalf("after Run ended the output is %q", got)
	}
}
