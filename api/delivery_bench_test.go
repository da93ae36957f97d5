package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/rooms"
)

// BenchmarkStreamDelivery guards the fan-out write path: 16 posters post
// b.N messages (through rooms.Service.Post, durable) into one room whose
// subscribers read real SSE streams over loopback TCP. It reports CPU per
// delivered event; the process is both node and readers, so the figure
// includes the readers' share.
func BenchmarkStreamDelivery(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) { benchmarkDelivery(b, subs) })
	}
}

func benchmarkDelivery(b *testing.B, subs int) {
	s := testkit.Start(b, func(c *config.Config) {
		c.PostLimitUser, c.MaxStreamsPerUser, c.SubscriberQueue = limit.Rate{}, subs, 4096
	})
	owner := s.CreateTenant(b, "bench", "owner")
	var r room
	s.Must(b, http.StatusCreated, "POST", "/api/v1/rooms", owner.Token, map[string]string{"name": "bench", "visibility": "public"}, &r)
	p, err := s.App.Auth.Authenticate(context.Background(), owner.Token)
	if err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	readers := make([]*deliveryReader, subs)
	for i := range readers {
		readers[i] = openCounting(b, s, "/api/v1/rooms/"+r.ID+"/events", owner.Token, &seen)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := testkit.CPUTime(b)
	b.ResetTimer()
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, _, err := s.App.Rooms.Post(context.Background(), p, r.ID, rooms.NewMessage{Body: "fan-out"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := int64(b.N) * int64(subs)
	deadline := time.Now().Add(time.Minute) // a guard against a hang, not a measurement
	for seen.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got := seen.Load(); got != want {
		b.Fatalf("%d of %d deliveries arrived", got, want)
	}
	b.ReportMetric(float64((testkit.CPUTime(b)-cpu0).Microseconds())/float64(want), "cpu-µs/delivery")
	for _, rd := range readers {
		rd.close()
	}
}

// deliveryReader counts the message.created events of one stream.
type deliveryReader struct {
	resp *http.Response
	done chan struct{}
}

func openCounting(b *testing.B, s *testkit.Server, path, token string, seen *atomic.Int64) *deliveryReader {
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("open stream: %v %v", resp, err)
	}
	rd := &deliveryReader{resp: resp, done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
			if bytes.HasPrefix(line, []byte("event: message.created")) {
				seen.Add(1)
			}
		}
	}()
	return rd
}

func (rd *deliveryReader) close() {
	rd.resp.Body.Close()
	<-rd.done
}
