package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records non-negative durations (nanoseconds) concurrently without
// locks, in log-linear buckets: values below 128 ns are exact, larger ones fall
// in one of 128 buckets per power of two, so a reported quantile is at most
// 1/128 (< 0.8 %) above the true value. Count, sum, min and max are exact.
// Its memory is fixed (about 58 KiB) whatever the number of samples.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	sum    atomic.Int64
	min    atomic.Int64 // stored +1 so that zero means "unset"
	max    atomic.Int64
}

const (
	subBits     = 7
	subCount    = 1 << subBits // 128
	histBuckets = (64 - subBits + 1) * subCount
)

func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // >= subBits
	shift := e - subBits
	sub := int(uint64(v) >> uint(shift)) // in [128, 256)
	return (shift+1)*subCount + (sub - subCount)
}

// bucketHigh returns the largest value that falls in bucket b.
func bucketHigh(b int) int64 {
	if b < subCount {
		return int64(b)
	}
	shift := b/subCount - 1
	sub := uint64(b%subCount + subCount)
	hi := ((sub + 1) << uint(shift)) - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one sample; negative values count as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// RecordDuration adds one duration sample.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count returns the number of samples.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Max returns the largest sample (0 when empty).
func (h *Histogram) Max() int64 { return h.max.Load() }

// Min returns the smallest sample (0 when empty).
func (h *Histogram) Min() int64 {
	m := h.min.Load()
	if m == 0 {
		return 0
	}
	return m - 1
}

// Mean returns the average sample (0 when empty).
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value v such that at least q of the samples are <= v, rounded up to
// its bucket's upper edge and clamped to [Min, Max]. It is 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := nearestRank(q, n)
	var cum int64
	for b := 0; b < histBuckets; b++ {
		cum += h.counts[b].Load()
		if cum >= rank {
			v := bucketHigh(b)
			if mx := h.Max(); v > mx {
				v = mx
			}
			if mn := h.Min(); v < mn {
				v = mn
			}
			return v
		}
	}
	return h.Max()
}

// nearestRank returns the 1-based rank of the q-quantile among n samples.
func nearestRank(q float64, n int64) int64 {
	if q <= 0 {
		return 1
	}
	if q >= 1 {
		return n
	}
	r := int64(math.Ceil(q * float64(n)))
	if r < 1 {
		r = 1
	}
	if r > n {
		r = n
	}
	return r
}

// Percentile returns the nearest-rank q-quantile of an ascending slice, or 0
// for an empty one.
func Percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[nearestRank(q, int64(len(sorted)))-1]
}

// LatencySummary is a histogram reduced to the figures the reports use, in
// milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summary reduces h.
func (h *Histogram) Summary() LatencySummary {
	ms := func(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
	return LatencySummary{
		Count:  h.Count(),
		MeanMs: math.Round(h.Mean()/1e3) / 1e3,
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		MaxMs:  ms(h.Max()),
	}
}
