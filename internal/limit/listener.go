package limit

import (
	"context"
	"net"
	"net/netip"
	"sync"
)

// ConnsPerIP is the rule name under which open connections are counted.
const ConnsPerIP = "conns_per_ip"

// CapConns wraps a listener so that one client address holds at most max
// connections at once. A connection over the cap is closed as soon as it is
// accepted, before net/http spends a goroutine or a buffer on it, so a flood
// from one address leaves room for everyone else. Connections from exempt
// addresses (trusted reverse proxies, which carry many clients) are not
// counted. max <= 0 caps nothing.
//
// The count is kept per node on purpose: sockets and file descriptors are
// this process's own, whatever the cluster shares.
func CapConns(inner net.Listener, max int, exempt func(netip.Addr) bool, metrics Metrics) net.Listener {
	if max <= 0 {
		return inner
	}
	return &capListener{Listener: inner, max: max, exempt: exempt, counts: NewMemory(nil), metrics: metrics}
}

type capListener struct {
	net.Listener
	max     int
	exempt  func(netip.Addr) bool
	counts  *Memory
	metrics Metrics
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil || (l.exempt != nil && l.exempt(ap.Addr().Unmap())) {
			return c, nil
		}
		key := IPKey(ap.Addr().String())
		if ok, _ := l.counts.Acquire(context.Background(), ConnsPerIP, key, l.max); !ok {
			if l.metrics != nil {
				l.metrics.Refused(ConnsPerIP)
			}
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, release: func() { _ = l.counts.Release(context.Background(), ConnsPerIP, key) }}, nil
	}
}

// countedConn gives its place back when it closes, however often Close is called.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close the connection as it does a bare TCP
// one, so a client still sending gets the answer instead of a reset.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
