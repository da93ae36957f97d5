package bench

import (
	"math/rand"
	"slices"
	"sync"
	"testing"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []int64
		q      float64
		want   int64
	}{
		{"empty", nil, 0.5, 0},
		{"single", []int64{7}, 0.99, 7},
		{"p50 of 1..10", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"p90 of 1..10", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"p99 of 1..10", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"max", []int64{1, 2, 3}, 1, 3},
		{"q=0 gives min", []int64{4, 5, 6}, 0, 4},
		{"p50 of 4", []int64{10, 20, 30, 40}, 0.5, 20},
		{"p51 of 4", []int64{10, 20, 30, 40}, 0.51, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.q); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %d, want %d", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

func TestBucketsCoverValues(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1<<62 + 12345, 1<<63 - 1} {
		b := bucketOf(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		if hi := bucketHigh(b); hi < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d < value", v, hi)
		}
		if b > 0 {
			if lo := bucketHigh(b - 1); lo >= v {
				t.Errorf("value %d also fits the bucket below (high %d)", v, lo)
			}
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tests := []struct {
		name string
		gen  func() int64
		n    int
	}{
		{"small exact values", func() int64 { return rng.Int63n(100) }, 1000},
		{"uniform ms", func() int64 { return rng.Int63n(100_000_000) }, 20000},
		{"long tail", func() int64 { return int64(rng.ExpFloat64() * 5e6) }, 20000},
		{"constant", func() int64 { return 3_000_000 }, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, tc.n)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != int64(tc.n) {
				t.Fatalf("count = %d", h.Count())
			}
			if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
				t.Errorf("min/max = %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				exact := Percentile(vals, q)
				got := h.Quantile(q)
				// Upper bucket edge: never below the truth, at most 1/128 above.
				if got < exact || float64(got) > float64(exact)*(1+1.0/128)+1 {
					t.Errorf("q%.2f = %d, exact %d", q, got, exact)
				}
			}
		})
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(0.5) != 0 {
		t.Fatalf("negative sample should count as 0: count %d max %d", h.Count(), h.Max())
	}
	s := h.Summary()
	if s.Count != 1 || s.P99Ms != 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Record(int64(g*1000 + i))
			}
		}(g)
	}
	wg.Wait()
	if h.Count() != 8000 || h.Min() != 0 || h.Max() != 7999 {
		t.Fatalf("count %d min %d max %d", h.Count(), h.Min(), h.Max())
	}
}
