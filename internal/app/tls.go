package app

import (
	"net"
	"net/http"

	"parley/config"
)

// serveHTTP serves srv on ln: HTTPS, where net/http also speaks HTTP/2, when
// a certificate is configured (tls_cert, tls_key), and plain HTTP/1.1 otherwise.
func serveHTTP(srv *http.Server, ln net.Listener, cfg config.Config) error {
	if cfg.TLSCert != "" {
		return srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
	}
	return srv.Serve(ln)
}
