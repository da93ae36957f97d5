package bench

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func fakeLookup(m map[string][]string) LookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		ss, ok := m[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

func TestResolveLoopback(t *testing.T) {
	lookup := fakeLookup(map[string][]string{
		"localhost":   {"::1", "127.0.0.1"},
		"v6only":      {"::1"},
		"example.com": {"93.184.215.14"},
		"mixed":       {"127.0.0.1", "10.1.2.3"},
		"empty":       {},
	})
	tests := []struct {
		url     string
		ok      bool
		addr    string
		base    string
		hostHdr string
	}{
		{"http://127.0.0.1:8080", true, "127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", true, "127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.9.8.7", true, "127.9.8.7:80", "http://127.9.8.7", "127.9.8.7"},
		{"http://localhost:18080", true, "127.0.0.1:18080", "http://localhost:18080", "localhost:18080"},
		{"http://v6only:1", true, "[::1]:1", "http://v6only:1", "v6only:1"},
		{"http://[::1]:8080", true, "[::1]:8080", "http://[::1]:8080", "[::1]:8080"},
		{"http://[::ffff:127.0.0.1]:8080", true, "127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080", "[::ffff:127.0.0.1]:8080"},
		{"http://127.0.0.1:8080/parley/", true, "127.0.0.1:8080", "http://127.0.0.1:8080/parley", "127.0.0.1:8080"},
		{"http://10.0.0.1:8080", false, "", "", ""},
		{"http://0.0.0.0:8080", false, "", "", ""},
		{"http://192.168.1.10", false, "", "", ""},
		{"http://[2001:db8::1]:80", false, "", "", ""},
		{"http://example.com", false, "", "", ""},
		{"http://mixed:8080", false, "", "", ""},
		{"http://empty:8080", false, "", "", ""},
		{"http://nosuchhost:8080", false, "", "", ""},
		{"https://127.0.0.1:8443", false, "", "", ""},
		{"ftp://127.0.0.1", false, "", "", ""},
		{"127.0.0.1:8080", false, "", "", ""},
		{"http://127.0.0.1:0", false, "", "", ""},
		{"http://127.0.0.1:99999", false, "", "", ""},
		{"http://user:pw@127.0.0.1:8080", false, "", "", ""},
		{"http://127.0.0.1:8080/?x=1", false, "", "", ""},
		{"http://", false, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ResolveLoopback(context.Background(), tc.url, lookup)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if got.Addr.String() != tc.addr || got.Base != tc.base || got.HostHeader != tc.hostHdr {
				t.Errorf("got addr %s base %s host %s, want %s %s %s", got.Addr, got.Base, got.HostHeader, tc.addr, tc.base, tc.hostHdr)
			}
		})
	}
}

func TestSourceAddrs(t *testing.T) {
	tests := []struct {
		target string
		n      int
		want   []string
	}{
		{"127.0.0.1", 3, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}},
		{"127.0.0.1", 0, []string{"<nil>"}},
		{"::1", 5, []string{"<nil>"}},
	}
	for _, tc := range tests {
		got := SourceAddrs(netip.MustParseAddr(tc.target), tc.n)
		if len(got) != len(tc.want) {
			t.Fatalf("%s/%d: %v", tc.target, tc.n, got)
		}
		for i := range got {
			if got[i].String() != tc.want[i] {
				t.Errorf("%s/%d [%d] = %s, want %s", tc.target, tc.n, i, got[i], tc.want[i])
			}
		}
	}
	if n := len(SourceAddrs(netip.MustParseAddr("127.0.0.1"), 1000)); n != 250 {
		t.Errorf("source addresses capped at %d, want 250", n)
	}
}
