package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley/config"
	"parley/internal/limit"
)

// Server is a node with its listeners bound: the public one (the API and the
// web client, behind the per-IP connection cap and the timeouts) and, unless
// it is off, the metrics one. The binary and the tests run the same Server.
type Server struct {
	*App
	public  *http.Server
	metrics *http.Server // nil when metrics_listen is off
	ln, mln net.Listener
	cfg     config.Config
	log     *slog.Logger
}

// Listen builds the node and binds its listeners (a port 0 picks a free
// port); Serve then serves them.
func Listen(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	a, err := New(ctx, cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	s := &Server{App: a, cfg: cfg, log: log}
	// net/http's own complaints (accept errors, failed handshakes) go to the log.
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	// Idle keep-alive connections and slowly sent headers are cut by the
	// server; bodies and answers by per-request deadlines (api), because
	// event streams must outlive any server-wide read or write timeout.
	s.public = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, ErrorLog: errorLog,
		ConnState: a.counts.connState}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.ln = limit.CapConns(s.ln, cfg.MaxConnsPerIP, trusted(cfg.Proxies()), a.counts)
	if cfg.MetricsListen != config.Off {
		if s.mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			_ = s.ln.Close()
			_ = a.Close()
			return nil, fmt.Errorf("metrics_listen %s (set it to another address, or off): %w", cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout, ErrorLog: errorLog}
	}
	return s, nil
}

// trusted reports whether an address is one of the trusted reverse proxies,
// whose connections carry many clients and are not capped per IP.
func trusted(proxies []string) func(netip.Addr) bool {
	var nets []netip.Prefix
	for _, p := range proxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			nets = append(nets, pfx.Masked())
		} else if a, err := netip.ParseAddr(p); err == nil {
			nets = append(nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return func(a netip.Addr) bool {
		for _, n := range nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
}

// Addr is the public listener's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// MetricsAddr is the metrics listener's address ("" when it is off).
func (s *Server) MetricsAddr() string {
	if s.mln == nil {
		return ""
	}
	return s.mln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully: streams end
// cleanly, in-flight requests finish (up to shutdown_timeout), writes commit.
// A listener that fails shuts the node down too, and its error is returned.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- serveHTTP(s.public, s.ln, s.cfg) }() // over the capped listener
	if s.metrics != nil {
		go func() { errc <- s.metrics.Serve(s.mln) }()
	}
	s.log.Info("parley listening", "addr", s.Addr(), "tls", s.cfg.TLSCert != "", "metrics", s.MetricsAddr(), "database", s.cfg.DatabaseFile())
	var failed error
	select {
	case failed = <-errc:
		failed = fmt.Errorf("serve: %w", failed)
	case <-ctx.Done():
		s.log.Info("shutting down")
	}
	s.EndStreams()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	errs := []error{failed}
	for _, srv := range []*http.Server{s.public, s.metrics} {
		if srv != nil {
			if err := srv.Shutdown(sctx); err != nil {
				errs = append(errs, err, srv.Close()) // past the grace period: cut what is left
			}
		}
	}
	return errors.Join(append(errs, s.App.Close())...)
}

// Serve runs a node on cfg's listeners until ctx ends, as the binary does.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := Listen(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.DebugListen != "" {
		go servePprof(cfg.DebugListen, log)
	}
	return s.Serve(ctx)
}
