// Package bench is Parley's load tool: it provisions a tenant, users and rooms
// over the public HTTP API of a running server, holds many SSE streams, posts
// messages at a chosen rate and reports connection counts, server memory per
// connection, publish latency/throughput and end-to-end delivery latency.
//
// It only ever targets loopback addresses, and every run is bounded in time and
// in count.
package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is a server base URL that has been checked to be on loopback.
type Target struct {
	// Base is scheme://host[:port][/prefix] without a trailing slash, used to build
	// request URLs (the Host header comes from it).
	Base string
	// HostHeader is the URL's host[:port] as written by the user.
	HostHeader string
	// Addr is the loopback address every connection dials, whatever the URL's host
	// name resolves to later.
	Addr netip.AddrPort
	// Prefix is the URL path prefix (usually empty).
	Prefix string
}

// LookupFunc resolves a host name to addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// DefaultLookup resolves with the system resolver.
func DefaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// ResolveLoopback parses raw and refuses it unless it is a plain http URL whose
// host is, or resolves only to, loopback addresses. The returned Target dials the
// resolved address directly, so a later DNS change cannot redirect the load.
func ResolveLoopback(ctx context.Context, raw string, lookup LookupFunc) (Target, error) {
	if lookup == nil {
		lookup = DefaultLookup
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("bad url %q: %v", raw, err)
	}
	if u.Scheme != "http" {
		return Target{}, fmt.Errorf("url %q: only plain http:// on a loopback address is supported", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Target{}, fmt.Errorf("url %q: no user info, query or fragment allowed", raw)
	}
	host := u.Hostname()
	if host == "" {
		return Target{}, fmt.Errorf("url %q has no host", raw)
	}
	port := 80
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("url %q: bad port %q", raw, p)
		}
		port = n
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return Target{}, fmt.Errorf("url %q: zoned addresses are not allowed", raw)
		}
		addrs = []netip.Addr{a}
	} else {
		addrs, err = lookup(ctx, host)
		if err != nil {
			return Target{}, fmt.Errorf("resolve %q: %v", host, err)
		}
		if len(addrs) == 0 {
			return Target{}, fmt.Errorf("resolve %q: no addresses", host)
		}
	}
	var pick netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsLoopback() {
			return Target{}, fmt.Errorf("refusing %q: %s is not a loopback address (this tool only loads loopback servers)", raw, a)
		}
		// Prefer IPv4: the client spreads its sockets over 127.0.0.2.. source addresses.
		if !pick.IsValid() || (a.Is4() && !pick.Is4()) {
			pick = a
		}
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	return Target{
		Base:       "http://" + u.Host + prefix,
		HostHeader: u.Host,
		Addr:       netip.AddrPortFrom(pick, uint16(port)),
		Prefix:     prefix,
	}, nil
}

// SourceAddrs returns the local addresses that stream sockets are spread over:
// 127.0.0.2 .. 127.0.0.(1+n) for an IPv4 loopback target (Linux routes all of
// 127/8 to lo), or a single "let the kernel choose" entry otherwise. Each source
// address has its own ephemeral port range, so n addresses hold n times as many
// connections to one server port.
func SourceAddrs(target netip.Addr, n int) []net.IP {
	if !target.Unmap().Is4() || n <= 0 {
		return []net.IP{nil}
	}
	if n > 250 {
		n = 250
	}
	out := make([]net.IP, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, net.IPv4(127, 0, 0, byte(2+i)))
	}
	return out
}
