package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// An endpoint is a URL the client chose, so it could point the server at
// its own network (the metadata service, a database, the admin port). Unless
// private endpoints are allowed, only https endpoints on public addresses are
// accepted when registered, and every connection is checked again when it is
// made (a name may resolve differently by then).

const maxEndpointLen = 2048

// publicAddr reports whether ip is a public unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!sharedOrReserved(ip)
}

// sharedOrReserved covers ranges IsPrivate leaves out: carrier-grade NAT,
// benchmarking, documentation and the IPv6 ones for translation and ULA-like use.
func sharedOrReserved(ip netip.Addr) bool {
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// checkEndpoint validates a subscription's endpoint as it is registered.
func checkEndpoint(ctx context.Context, raw string, allowPrivate bool) error {
	if raw == "" || len(raw) > maxEndpointLen {
		return fmt.Errorf("must be a URL of at most %d characters", maxEndpointLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("must be an absolute URL without credentials")
	}
	if allowPrivate {
		if u.Scheme != "https" && u.Scheme != "http" {
			return errors.New("must be an http or https URL")
		}
		return nil
	}
	if u.Scheme != "https" {
		return errors.New("must be an https URL")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return errors.New("must be on a public address")
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") || !strings.Contains(host, ".") {
		return errors.New("must be on a public address")
	}
	lookup, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(lookup, "ip", host)
	if err != nil || len(addrs) == 0 {
		return errors.New("has a host name that does not resolve")
	}
	for _, ip := range addrs {
		if !publicAddr(ip) {
			return errors.New("must be on a public address")
		}
	}
	return nil
}

// client sends pushes: no redirects followed, bounded time, and (unless
// private endpoints are allowed) connections only to public addresses.
type client struct {
	http *http.Client
}

func newClient(allowPrivate bool, timeout time.Duration) *client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(ip) {
				return fmt.Errorf("push endpoint %s is not a public address", host)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
		ForceAttemptHTTP2:     true,
	}
	return &client{http: &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) Do(req *http.Request) (*http.Response, error) { return c.http.Do(req) }
