// Package limit holds every rate limit and in-flight cap of Parley: token
// buckets (log-in, sign-up, tenant creation, posting, room creation), caps per
// time window (rooms per hour) and counts of what is in flight (log-in
// attempts being checked, connections per client IP).
//
// The counts live in a Store. Memory keeps them in this process; a cluster
// plugs in a shared Store, so that a limit counts across nodes instead of once
// per node. Callers only see the Limiter.
package limit

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"parley/internal/fault"
)

// Rate is N actions per Per. As a token bucket it allows a burst of N, then
// refills one every Per/N; as a window cap, at most N in any span of Per.
// The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// String writes the rate as ParseRate reads it.
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// ParseRate reads "N/duration" (e.g. "30/10s", "5/2m30s"); "off" or "0" is no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 {
		return Rate{}, fmt.Errorf("rate %q: want N/duration such as 30/10s, or off", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want N/duration such as 30/10s, or off", s)
	}
	return Rate{N: count, Per: d}, nil
}

// Rule is one named limit. Window makes it a cap of Rate.N per Rate.Per
// instead of a token bucket. What names what is counted, for the client.
type Rule struct {
	Name   string
	Rate   Rate
	Window bool
	What   string
}

// Store keeps the counts behind the limits. Every method is safe to call
// from many goroutines (and, for a shared Store, from many nodes).
type Store interface {
	// Take spends one action of key under rule. If none is left it spends
	// nothing and returns how long until one is (a positive wait).
	Take(ctx context.Context, rule Rule, key string) (wait time.Duration, err error)
	// Refund gives back an action Take spent, for an attempt that turned out
	// not to count (a log-in whose password was right).
	Refund(ctx context.Context, rule Rule, key string) error
	// Acquire counts one more in flight for key under name, unless max
	// already are (false). Each true is paired with one Release.
	Acquire(ctx context.Context, name, key string, max int) (bool, error)
	Release(ctx context.Context, name, key string) error
}

// Metrics learns of every refusal, by rule name.
type Metrics interface {
	Refused(rule string)
}

// Limiter applies Parley's rules over a Store and turns a refusal into the
// API's 429 rate_limited with the wait before trying again. The refusal
// names its rule (fault.Error.Limit), and the api counts it by that name.
type Limiter struct {
	store Store
	rules rules
}

// New returns a Limiter over store with the configured rates.
func New(store Store, rates Rates) *Limiter {
	return &Limiter{store: store, rules: rates.rules()}
}

// Check is one rule applied to one key.
type Check struct {
	Rule Rule
	Key  string
}

// Take spends one action of every check, or none: if one is refused, those
// already taken are given back, and the error says how long to wait.
func (l *Limiter) Take(ctx context.Context, checks ...Check) error {
	for i, c := range checks {
		if c.Rule.Rate.Off() {
			continue
		}
		wait, err := l.store.Take(ctx, c.Rule, c.Key)
		if err == nil && wait <= 0 {
			continue
		}
		l.Refund(ctx, checks[:i]...)
		if err != nil {
			return fmt.Errorf("rate limit %s: %w", c.Rule.Name, err)
		}
		return Refusal(c.Rule.Name, c.Rule.What, wait)
	}
	return nil
}

// Refund gives back what Take spent for these checks.
func (l *Limiter) Refund(ctx context.Context, checks ...Check) {
	for _, c := range checks {
		if !c.Rule.Rate.Off() {
			_ = l.store.Refund(ctx, c.Rule, c.Key) // at worst the limit stays a little tighter
		}
	}
}

// Acquire counts one more in flight for key under name, unless max already
// are (a RateLimited error about what, to retry in retryAfter). release ends
// it; max <= 0 caps nothing.
func (l *Limiter) Acquire(ctx context.Context, name, what, key string, max int, retryAfter time.Duration) (release func(), err error) {
	if max <= 0 {
		return func() {}, nil
	}
	ok, err := l.store.Acquire(ctx, name, key, max)
	if err != nil {
		return nil, fmt.Errorf("in-flight limit %s: %w", name, err)
	}
	if !ok {
		return nil, Refusal(name, what, retryAfter)
	}
	return func() { _ = l.store.Release(context.WithoutCancel(ctx), name, key) }, nil
}

// Refusal is the error a client sees over the rule's limit: 429
// rate_limited with Retry-After rounded up to whole seconds.
func Refusal(rule, what string, wait time.Duration) error {
	secs := max(1, math.Ceil(wait.Seconds()))
	return &fault.Error{Kind: fault.RateLimited, Limit: rule, Message: "too many " + what + "; try again later",
		RetryAfter: time.Duration(secs) * time.Second}
}

// IPKey is the key for a client address: the address itself for IPv4, its
// /64 network for IPv6 (one subscriber usually holds a whole /64, so counting
// single addresses would let one client rotate through billions of keys).
func IPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
