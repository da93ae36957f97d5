package api

import (
	"context"
	"crypto/subtle"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley/audit"
	"parley/auth"
	"parley/internal/fault"
	"parley/internal/limit"
	"parley/push"
	"parley/rooms"
	"parley/store"
)

// Deps are what the handlers need.
type Deps struct {
	Auth         *auth.Service
	Rooms        *rooms.Service
	Audit        *audit.Log
	Push         *push.Service
	Store        *store.Store
	Bus          interface{ Ready() error } // nil: no bus to check
	Log          *slog.Logger
	Metrics      *prometheus.Registry
	Web          fs.FS
	PingInterval time.Duration
	// StreamWriteTimeout bounds one write to a stream.
	StreamWriteTimeout time.Duration
	// ReadTimeout and WriteTimeout bound reading the body of, and writing the
	// answer to, every request but an event stream.
	ReadTimeout, WriteTimeout time.Duration
	// MetricsToken, if set, serves /metrics here to requests bearing it.
	MetricsToken string
	// Shutdown is closed when the server stops, to end streams cleanly.
	Shutdown <-chan struct{}
	// Streams counts stream writers running after their handler returned.
	Streams *sync.WaitGroup
	// TrustedProxies may set the client IP through X-Forwarded-For; nil trusts none.
	TrustedProxies []string
	// Limits refuses requests over a rate limit.
	Limits *limit.Limiter
	// Refusals counts requests refused by a cap or rate limit, by limit.
	Refusals limit.Metrics
	// UploadMaxBytes bounds one uploaded file; UploadTimeout is how long an
	// upload or a file download may take.
	UploadMaxBytes int64
	UploadTimeout  time.Duration
}

type handlers struct {
	Deps
	requests *prometheus.HistogramVec
	frames   sync.Pool // write buffers lent to streams while they write
	// secure are the security headers of every answer, by canonical name:
	// set straight into the header map, without a key to canonicalize or a
	// value slice to allocate per request (net/http copies them when it
	// writes the header; nobody appends to them).
	secure map[string][]string
	// jsonType is the Content-Type of a JSON answer, as gin's c.JSON sends it.
	jsonType []string
}

// contentSecurityPolicy allows only this origin's own scripts, styles and
// connections: no inline script, no foreign origin.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// New returns the HTTP handler for the whole server.
func New(d Deps) http.Handler {
	h := &handlers{Deps: d, secure: map[string][]string{
		"X-Content-Type-Options":  {"nosniff"},
		"Referrer-Policy":         {"no-referrer"},
		"X-Frame-Options":         {"DENY"},
		"Content-Security-Policy": {contentSecurityPolicy},
	}, jsonType: []string{"application/json; charset=utf-8"}}
	h.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_http_request_duration_seconds", Help: "HTTP requests by route and status.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route", "status"})
	d.Metrics.MustRegister(h.requests)

	r := gin.New()
	r.HandleMethodNotAllowed = true
	// The client IP (for log-in rate limits) is the peer's, or what a trusted
	// proxy says it is in X-Forwarded-For.
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Log.Error("ignoring trusted_proxies", "err", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(h.recover, h.observe, h.deadlines, h.securityHeaders, h.refuseNUL)
	r.NoRoute(h.noRoute)
	r.NoMethod(methodNotAllowed)

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", h.ready)
	r.GET("/metrics", h.metricsToken, gin.WrapH(promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})))

	v1 := r.Group("/api/v1")
	v1.POST("/tenants", h.perIP(d.Limits.CreateTenant), h.createTenant)
	v1.POST("/auth/signup", h.perIP(d.Limits.Signup), h.signup)
	v1.POST("/auth/login", h.login)
	v1.POST("/auth/refresh", h.refresh)

	authed := v1.Group("", h.authenticate(false))
	authed.POST("/auth/logout", h.logout)
	authed.GET("/me", h.me)
	authed.PATCH("/me", h.patchMe)
	authed.POST("/me/password", h.changePassword)
	authed.GET("/tenant", h.getTenant)
	authed.PATCH("/tenant", h.patchTenant)
	authed.POST("/tenant/invites", h.createInvite)
	authed.GET("/tenant/invites", h.listInvites)
	authed.DELETE("/tenant/invites/:code", h.revokeInvite)
	authed.GET("/users", h.listUsers)
	authed.POST("/users", h.createUser)
	authed.PATCH("/users/:id", h.patchUser)
	authed.POST("/tokens", h.mintToken)
	authed.POST("/apikeys", h.createKey)
	authed.GET("/apikeys", h.listKeys)
	authed.DELETE("/apikeys/:id", h.revokeKey)

	authed.GET("/audit", h.listAudit)

	authed.POST("/rooms", h.perCaller(d.Limits.CreateRoom), h.createRoom)
	authed.GET("/rooms", h.listRooms)
	authed.GET("/rooms/:room", h.getRoom)
	authed.PATCH("/rooms/:room", h.patchRoom)
	authed.DELETE("/rooms/:room", h.deleteRoom)
	authed.POST("/rooms/:room/join", h.joinRoom)
	authed.GET("/rooms/:room/members", h.listMembers)
	authed.PUT("/rooms/:room/members/:user", h.putMember)
	authed.DELETE("/rooms/:room/members/:user", h.deleteMember)
	authed.POST("/rooms/:room/read", h.markRead)
	authed.POST("/rooms/:room/typing", h.perCaller(d.Limits.Typing), h.typing)
	authed.PUT("/rooms/:room/notifications", h.setNotifications)
	authed.POST("/dms", h.perCaller(d.Limits.CreateRoom), h.openDM)
	authed.GET("/push/key", h.pushKey)
	authed.POST("/push/subscriptions", h.subscribePush)
	authed.DELETE("/push/subscriptions/:id", h.unsubscribePush)
	authed.POST("/rooms/:room/messages", h.perCaller(d.Limits.Post), h.postMessage)
	authed.POST("/rooms/:room/messages/batch", h.postMessageBatch) // counts each message against the post limit
	authed.GET("/rooms/:room/messages", h.history)
	authed.PATCH("/rooms/:room/messages/:id", h.editMessage)
	authed.DELETE("/rooms/:room/messages/:id", h.deleteMessage)
	authed.PUT("/rooms/:room/messages/:id/reactions/:emoji", h.putReaction)
	authed.DELETE("/rooms/:room/messages/:id/reactions/:emoji", h.deleteReaction)
	authed.GET("/mentions", h.mentions)
	authed.GET("/search", h.perCaller(d.Limits.Search), h.search)
	authed.POST("/rooms/:room/uploads", h.perCaller(d.Limits.Upload), h.upload)

	// Event streams and files also take ?token=: EventSource, <img> and a
	// download link cannot send a header.
	streams := v1.Group("", h.authenticate(true))
	streams.GET("/events", h.events)
	streams.GET("/rooms/:room/events", h.events)
	streams.GET("/files/:id", h.file)
	streams.GET("/files/:id/thumbnail", h.thumbnail)
	return r
}

// principal is the caller, set by authenticate.
func principal(c *gin.Context) auth.Principal {
	return c.MustGet(principalKey).(auth.Principal)
}

// authenticate requires a bearer credential; streams and files also take
// ?token=, because EventSource and <img> cannot set headers.
func (h *handlers) authenticate(allowQuery bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			token = ""
			if allowQuery {
				token = c.Query("token")
			}
		}
		if token == "" {
			h.fail(c, fault.New(fault.Unauthenticated, "send a bearer token"))
			return
		}
		p, err := h.Auth.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			h.fail(c, err)
			return
		}
		p.ClientIP = c.ClientIP()
		c.Set(principalKey, p)
		c.Next()
	}
}

// perIP refuses a request over a limit on its client IP, before its handler runs.
func (h *handlers) perIP(take func(ctx context.Context, ip string) (refund func(), err error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		h.limited(c, func() (func(), error) { return take(c.Request.Context(), c.ClientIP()) })
	}
}

// perCaller refuses a request over a limit on its caller (user or API key),
// before its handler runs.
func (h *handlers) perCaller(take func(ctx context.Context, who limit.Caller) (refund func(), err error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		h.limited(c, func() (func(), error) {
			return take(c.Request.Context(), limit.Caller{ID: p.Subject(), IsKey: p.IsKey()})
		})
	}
}

// limited runs the request if take allows it. A request refused as malformed
// (400, 413, 415) is given back: it cost nothing, and a typo should not cost a try.
func (h *handlers) limited(c *gin.Context, take func() (refund func(), err error)) {
	h.limitedRun(c, take, c.Next)
}

// limitedRun is limited for a handler that counts after reading the body:
// run is the rest of the request.
func (h *handlers) limitedRun(c *gin.Context, take func() (refund func(), err error), run func()) {
	refund, err := take()
	if err != nil {
		h.fail(c, err)
		return
	}
	run()
	switch c.Writer.Status() {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		refund()
	}
}

func (h *handlers) fail(c *gin.Context, err error) {
	if fe, ok := fault.As(err); ok && fe.Limit != "" {
		h.Refusals.Refused(fe.Limit)
	}
	fail(c, h.Log, err)
}

// render sends v as JSON with status, or the error.
func (h *handlers) render(c *gin.Context, status int, v any, err error) {
	if err != nil {
		h.fail(c, err)
		return
	}
	if v == nil {
		c.Status(status)
		return
	}
	c.JSON(status, v)
}

// renderEncoded is render for a value whose JSON encoding may exist already
// (a new message, encoded once for its event): it sends those bytes as they
// are, else encodes v.
func (h *handlers) renderEncoded(c *gin.Context, status int, v any, encoded []byte, err error) {
	if err != nil || encoded == nil {
		h.render(c, status, v, err)
		return
	}
	c.Writer.Header()["Content-Type"] = h.jsonType
	c.Status(status)
	_, _ = c.Writer.Write(encoded)
}

// renderList sends items as a JSON array, each rendered by view, or the error.
func renderList[T, V any](h *handlers, c *gin.Context, items []T, err error, view func(T) V) {
	out := make([]V, len(items))
	for i, item := range items {
		out[i] = view(item)
	}
	h.render(c, http.StatusOK, out, err)
}

func (h *handlers) ready(c *gin.Context) {
	if err := h.Store.Ping(c.Request.Context()); err != nil {
		h.fail(c, fault.New(fault.Unavailable, "the database is not reachable"))
		return
	}
	if h.Bus != nil {
		if err := h.Bus.Ready(); err != nil {
			h.fail(c, fault.New(fault.Unavailable, "the bus is not reachable: "+err.Error()))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": "ok", "bus": "ok"})
}

// recover turns a panic into a 500 without losing the process.
func (h *handlers) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			h.Log.Error("handler panicked", "route", c.FullPath(), "panic", r)
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{errorDetail{"internal", "something went wrong on our side", ""}})
			}
		}
	}()
	c.Next()
}

// observe logs and measures each request: one access log line at info, by
// route template (never the raw URL, so a ?token= never reaches a log), with
// the request id that the answer carries too.
func (h *handlers) observe(c *gin.Context) {
	start := time.Now()
	var sent string
	if v := c.Request.Header[requestIDKey]; len(v) > 0 {
		sent = v[0]
	}
	id := requestID(sent)
	c.Writer.Header()[requestIDKey] = []string{id}
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	h.requests.WithLabelValues(c.Request.Method, route, http.StatusText(status)).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	// Checked first: building the line (the client IP above all) costs more
	// than the rest of this function, and a server may log only warnings.
	if ctx := c.Request.Context(); h.Log.Enabled(ctx, level) {
		h.Log.LogAttrs(ctx, level, "request", slog.String("method", c.Request.Method), slog.String("route", route),
			slog.Int("status", status), slog.Int("bytes", max(0, c.Writer.Size())), slog.Duration("duration", elapsed),
			slog.String("ip", clientIP(c)), slog.String("request_id", id))
	}
}

// clientIP is the caller's IP as authenticate found it, else found now.
func clientIP(c *gin.Context) string {
	if p, ok := c.Get(principalKey); ok {
		return p.(auth.Principal).ClientIP
	}
	return c.ClientIP()
}

// requestIDOf is the id of the request, as observe set it on the answer.
func requestIDOf(c *gin.Context) string {
	return c.Writer.Header().Get(requestIDKey)
}

const (
	requestIDHeader = "X-Request-ID"
	requestIDKey    = "X-Request-Id" // requestIDHeader canonical, as a header map's key
	principalKey    = "principal"
	maxRequestID    = 64
)

// requestID keeps the id a client or proxy sent when it is short and made of
// plain characters (so it is safe in logs and headers), else makes one.
func requestID(sent string) string {
	ok := sent != "" && len(sent) <= maxRequestID
	for i := 0; ok && i < len(sent); i++ {
		b := sent[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':'
	}
	if ok {
		return sent
	}
	return uuid.NewString()
}

// deadlines bounds how long a client may take to send its body and to take
// the answer, so a slow or stalled client cannot hold a connection. Event
// streams clear them once they start: they have their own write deadline.
func (h *handlers) deadlines(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(h.ReadTimeout))
	_ = rc.SetWriteDeadline(now.Add(h.WriteTimeout))
	c.Next()
}

// metricsToken lets through only requests bearing the metrics token; without
// one set, metrics are only on their own listener, not here.
func (h *handlers) metricsToken(c *gin.Context) {
	if h.MetricsToken == "" {
		notFoundRoute(c)
		return
	}
	token, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(token), []byte(h.MetricsToken)) != 1 {
		h.fail(c, fault.New(fault.Unauthenticated, "send the metrics token"))
		return
	}
	c.Next()
}

func (h *handlers) securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	for k, v := range h.secure {
		hd[k] = v
	}
	c.Next()
}

// appRoutes are the first path segments of the client's screens: they get
// the app shell. Any other path that is not a file of the client is a 404, so
// that a missing icon or script is a clear miss rather than a page of HTML.
var appRoutes = map[string]bool{
	"": true, "index.html": true, "login": true, "signup": true, "new": true, "rooms": true,
	"new-room": true, "browse": true, "people": true, "me": true, "admin": true,
}

// staticTypes are content types the standard table may not know.
var staticTypes = map[string]string{
	".webmanifest": "application/manifest+json",
	".js":          "text/javascript; charset=utf-8",
}

// noRoute serves the web client for non-API paths (index.html for app routes).
func (h *handlers) noRoute(c *gin.Context) {
	path := c.Request.URL.Path
	if strings.HasPrefix(path, "/api/") || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) {
		notFoundRoute(c)
		return
	}
	name := strings.TrimPrefix(path, "/")
	if st, err := fs.Stat(h.Web, name); err == nil && !st.IsDir() && name != "index.html" {
		if ct, ok := staticTypes[filepath.Ext(name)]; ok {
			c.Header("Content-Type", ct)
		}
		if name == "sw.js" {
			// A new service worker must be picked up on the next visit.
			c.Header("Cache-Control", "no-cache")
		}
		c.FileFromFS(name, http.FS(h.Web))
		return
	}
	first, _, _ := strings.Cut(name, "/")
	if !appRoutes[first] {
		notFoundRoute(c)
		return
	}
	// The app shell is sent directly: http.FileServer would redirect
	// "/index.html" to "./", and client routes all need the shell.
	page, err := fs.ReadFile(h.Web, "index.html")
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page)
}
