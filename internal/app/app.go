// Package app wires Parley's parts together: store, identity, rooms, hub and
// HTTP handlers. cmd/parley and the end-to-end tests both start servers with it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"parley/api"
	"parley/audit"
	"parley/auth"
	"parley/cluster"
	"parley/config"
	"parley/files"
	"parley/internal/limit"
	"parley/push"
	"parley/rooms"
	"parley/search"
	"parley/store"
	"parley/web"
)

// App is one running Parley node.
type App struct {
	Auth     *auth.Service
	Rooms    *rooms.Service
	Push     *push.Service
	Files    *files.Service
	Store    *store.Store
	index    interface{ Close(context.Context) error } // the search index: flushed before the store closes
	handler  http.Handler
	hub      *rooms.Hub
	leave    func() // stops sharing presence with other nodes (nil: none)
	metrics  *prometheus.Registry
	counts   *nodeMetrics
	shutdown chan struct{}
	streams  sync.WaitGroup // stream writers that outlive their HTTP handler
	stop     context.CancelFunc
	bg       sync.WaitGroup
	once     sync.Once
}

// Option changes how a node is built, for tests.
type Option func(*options)

type options struct {
	wrapBus func(rooms.Bus) rooms.Bus
}

// WithBusWrapper hands the node's bus through wrap (e.g. rooms.Lossy, to
// lose messages on purpose).
func WithBusWrapper(wrap func(rooms.Bus) rooms.Bus) Option {
	return func(o *options) { o.wrapBus = wrap }
}

// New opens the database and builds the node.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	gin.SetMode(gin.ReleaseMode)
	// The data dir holds the database and the signing key: its owner's only,
	// also when it already existed with looser permissions.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict data dir to its owner: %w", err)
	}
	st, err := store.Open(ctx, cfg.Database(), log)
	if err != nil {
		return nil, err
	}
	key, err := auth.LoadOrCreateKey(cfg.JWTKey, cfg.DataDir)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	policy, err := auth.NewPolicy()
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	vapid, err := push.LoadOrCreateKeys(cfg.PushVAPIDPrivateKey, cfg.DataDir)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newNodeMetrics(reg)
	// Rate limits and the streams-per-user cap count in this process on one
	// node (SQLite); nodes sharing PostgreSQL count them in the database, so
	// that they hold across the cluster (docs/SECURITY.md, "Several nodes").
	var (
		counts limit.Store       = limit.NewMemory(nil)
		slots  rooms.StreamSlots = rooms.NewLocalStreamSlots(cfg.MaxStreamsPerUser)
		shared *limit.Shared
	)
	if st.Postgres() {
		shared = limit.NewShared(st.Direct(), nil, 0, log)
		counts, slots = shared, shared.Slots("streams_per_user", cfg.MaxStreamsPerUser)
	}
	hub := rooms.NewHub(cfg.SubscriberQueue, metrics, slots)
	// The bus, and who is online: this node's own, or a cluster's over NATS.
	var bus rooms.Bus = rooms.NewLocalBus()
	var presence rooms.Presence = rooms.NewMemoryPresence()
	var leave func()
	if cfg.NATSURL != "" {
		nb, err := cluster.Connect(cfg.NATSURL, cluster.Options{Name: "parley " + cfg.Listen, Log: log, Transit: metrics.Transit})
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		cp, err := cluster.NewPresence(nb.Conn(), 0, log)
		if err != nil {
			_ = nb.Close()
			_ = st.Close()
			return nil, fmt.Errorf("share presence over NATS: %w", err)
		}
		bus, presence, leave = nb, cp, cp.Close
	}
	if o.wrapBus != nil {
		bus = o.wrapBus(bus)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_streams_open", Help: "Open event streams.",
	}, func() float64 { return float64(hub.Subscribers()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_cache_reads_total", Help: "Rows (sessions, users, keys, rooms, memberships) read from the database because the cache could not serve them.",
		}, func() float64 { return float64(st.Cache().Reads()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_cache_trusted", Help: "1 while the cache serves (on PostgreSQL: proven current, see docs/CLUSTER.md), else 0.",
		}, func() float64 {
			if st.Cache().Trusted() {
				return 1
			}
			return 0
		}))

	limits := limit.New(counts, limit.Rates{
		LoginAccount: cfg.LoginLimitAccount, LoginIP: cfg.LoginLimitIP, SignupIP: cfg.SignupLimitIP, TenantIP: cfg.TenantLimitIP,
		PostUser: cfg.PostLimitUser, PostKey: cfg.PostLimitKey, RoomUser: cfg.RoomLimitUser, RoomKey: cfg.RoomLimitKey,
		RoomsPerHour: cfg.RoomsPerHour, TypingUser: cfg.TypingLimitUser,
		UploadUser: cfg.UploadLimitUser, SearchUser: cfg.SearchLimitUser,
	})
	pushSvc := push.New(st, presence, push.Options{VAPID: vapid, Subject: cfg.PushSubject, AllowPrivate: cfg.PushAllowPrivateEndpoints,
		Workers: cfg.PushWorkers, Queue: cfg.PushQueue, MaxPerUser: cfg.PushMaxSubscriptions, TTL: cfg.PushTTL, Timeout: 15 * time.Second}, log)
	auditLog := audit.New(st, policy)
	authSvc := auth.NewService(st, policy, auth.NewSigner(key, cfg.AccessTokenTTL), auth.NewPasswords(cfg.BcryptCost), rooms.NewRevocations(bus), auditLog,
		auth.Options{RefreshTTL: cfg.RefreshTokenTTL, InviteTTL: cfg.InviteTTL, SelfServiceTenants: cfg.SelfServiceTenant,
			MaxUsersPerTenant: cfg.MaxUsersPerTenant, MaxAPIKeysPerTenant: cfg.MaxAPIKeysPerTenant,
			MaxOpenInvitesPerTenant: cfg.MaxInvitesPerTenant, Limits: limits, LoginEnder: pushSvc})
	index, err := search.Open(ctx, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	bucket, err := files.OpenBucket(ctx, cfg.BlobURL, cfg.DataDir)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	fileSvc, err := files.New(st, bucket, files.Options{MaxBytes: cfg.UploadMaxBytes, MaxPixels: cfg.ImageMaxPixels,
		QuotaPerTenant: cfg.MaxUploadBytesPerTenant, PendingTTL: cfg.UploadTTL, SweepEvery: time.Minute,
		TempDir: filepath.Join(cfg.DataDir, "tmp"), Decoders: runtime.GOMAXPROCS(0), Metrics: metrics}, log)
	if err != nil {
		_ = bucket.Close()
		_ = st.Close()
		return nil, err
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_blob_trash", Help: "Blobs of deleted files waiting to be deleted from the blob store.",
	}, func() float64 {
		n, _ := fileSvc.TrashBacklog(context.Background())
		return float64(n)
	}))
	roomSvc := rooms.NewService(st, authSvc, hub, rooms.Caps{
		RoomsPerTenant: cfg.MaxRoomsPerTenant, MembersPerRoom: cfg.MaxMembersPerRoom, RoomsPerUser: cfg.MaxRoomsPerUser,
		ReplayDepth: cfg.ReplayDepth},
		auditLog, rooms.WithSearch(index), rooms.WithPresence(presence, cfg.PresenceGrace), rooms.WithNotifier(pushSvc), rooms.WithFiles(fileSvc),
		rooms.WithBus(bus, rooms.RelayOptions{GapWait: cfg.BusGapWait, CatchUpPeriod: cfg.BusCatchUpInterval, Metrics: metrics, Log: log}))
	if cp, ok := presence.(*cluster.Presence); ok {
		cp.OnGone(roomSvc.UserGone)
	}
	if err := roomSvc.Start(ctx); err != nil {
		if leave != nil {
			leave()
		}
		_ = bus.Close()
		_ = st.Close()
		return nil, err
	}
	pushSvc.Start()
	a := &App{Auth: authSvc, Rooms: roomSvc, Push: pushSvc, Files: fileSvc, Store: st, index: index, hub: hub, leave: leave, metrics: reg, counts: metrics, shutdown: make(chan struct{})}
	a.handler = api.New(api.Deps{
		Auth: authSvc, Rooms: roomSvc, Audit: auditLog, Push: pushSvc, Store: st, Bus: bus, Log: log, Metrics: reg, Web: web.Static(),
		PingInterval: cfg.PingInterval, StreamWriteTimeout: cfg.StreamWriteTimeout, Shutdown: a.shutdown, Streams: &a.streams,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, MetricsToken: cfg.MetricsToken,
		TrustedProxies: cfg.Proxies(), Limits: limits, Refusals: metrics,
		UploadMaxBytes: cfg.UploadMaxBytes, UploadTimeout: cfg.UploadTimeout,
	})
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		authSvc.RunKeyUsageFlusher(bgCtx, 30*time.Second)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		fileSvc.Run(bgCtx)
	}()
	if shared != nil {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			shared.Run(bgCtx) // renews this node's leases; gives them back when it stops
		}()
	}
	return a, nil
}

// Metrics gathers the node's Prometheus metrics, wherever they are served.
func (a *App) Metrics() prometheus.Gatherer { return a.metrics }

// Handler serves the whole HTTP API and the web client.
func (a *App) Handler() http.Handler { return a.handler }

// EndStreams ends every open event stream (the first step of shutting down).
func (a *App) EndStreams() {
	a.once.Do(func() { close(a.shutdown) })
	a.hub.Shutdown()
}

// Close ends streams, flushes pending bookkeeping and closes the database.
func (a *App) Close() error {
	a.EndStreams()
	a.Rooms.Close()
	a.Push.Close()
	a.stop()
	a.bg.Wait()
	// The relay stops reading the log before the store closes (its streams
	// have ended); the last commits still publish, and reach the hub.
	a.Rooms.StopRelay()
	// The index's last write marks it clean, so the next start skips the scan.
	err := a.index.Close(context.Background())
	err = errors.Join(err, a.Store.Close(), a.Files.Close())
	if a.leave != nil {
		a.leave()
	}
	err = errors.Join(err, a.Rooms.Bus().Close())
	a.hub.Close()
	a.streams.Wait()
	return err
}

// nodeMetrics counts what the hub, the limits and the public listener do,
// for /metrics.
type nodeMetrics struct {
	delivered prometheus.Counter
	dropped   prometheus.Counter
	recovered prometheus.Counter
	cut       prometheus.Counter
	behind    prometheus.Gauge
	transit   prometheus.Histogram
	refused   *prometheus.CounterVec
	accepted  prometheus.Counter
	uploads   *prometheus.CounterVec
	upBytes   prometheus.Counter
	blobFails prometheus.Counter
}

func newNodeMetrics(reg *prometheus.Registry) *nodeMetrics {
	m := &nodeMetrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_events_delivered_total", Help: "Events queued to live subscribers."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_subscribers_dropped_total", Help: "Subscribers cut off for reading too slowly."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_limit_refused_total",
			Help: "Requests and connections refused by a rate limit or cap, by limit."}, []string{"limit"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_connections_accepted_total",
			Help: "Connections the public listener accepted (within the per-IP cap)."}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_bus_recovered_events_total",
			Help: "Committed events read from the database because the bus had not brought them (lost, late or down)."}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_bus_streams_cut_total",
			Help: "Streams ended because events they missed could not be read (they resume with Last-Event-ID)."}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_bus_lag_events",
			Help: "Committed events not yet delivered to this node's streams, at the last check."}),
		transit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_bus_transit_seconds",
			Help: "How long a log message took from its commit on one node to its arrival on this one.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
	m.uploads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_uploads_total",
		Help: "Files uploaded, by kind (image: re-encoded with a thumbnail; file: anything else)."}, []string{"kind"})
	m.upBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_upload_bytes_total", Help: "Bytes of uploads stored, thumbnails included."})
	m.blobFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_blob_delete_failures_total",
		Help: "Deletes the blob store refused (each is tried again later)."})
	reg.MustRegister(m.delivered, m.dropped, m.refused, m.accepted, m.recovered, m.cut, m.behind, m.transit,
		m.uploads, m.upBytes, m.blobFails)
	return m
}

func (m *nodeMetrics) Delivered(n int) { m.delivered.Add(float64(n)) }
func (m *nodeMetrics) Dropped()        { m.dropped.Inc() }
func (m *nodeMetrics) Recovered(n int) { m.recovered.Add(float64(n)) }
func (m *nodeMetrics) Cut(n int)       { m.cut.Add(float64(n)) }
func (m *nodeMetrics) Behind(n int64)  { m.behind.Set(float64(n)) }
func (m *nodeMetrics) Transit(d time.Duration) {
	m.transit.Observe(d.Seconds())
}
func (m *nodeMetrics) Refused(rule string) { m.refused.WithLabelValues(rule).Inc() }
func (m *nodeMetrics) BlobDeleteFailed()   { m.blobFails.Inc() }

func (m *nodeMetrics) Uploaded(image bool, bytes int64) {
	kind := "file"
	if image {
		kind = "image"
	}
	m.uploads.WithLabelValues(kind).Inc()
	m.upBytes.Add(float64(bytes))
}

func (m *nodeMetrics) connState(_ net.Conn, state http.ConnState) {
	if state == http.StateNew {
		m.accepted.Inc()
	}
}

// servePprof serves Go's profiler on its own address (keep it on loopback),
// for measuring the server under load; it is off unless configured.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	log.Info("pprof listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("pprof listener", "err", err)
	}
}
