// Package config loads Parley's settings: defaults < config file < PARLEY_* environment < flags.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"parley/internal/limit"
)

// Config is everything an operator can set. Field names double as JSON keys in the
// config file and, upper-cased with a PARLEY_ prefix, as environment variables.
type Config struct {
	Listen       string `json:"listen"`
	DataDir      string `json:"data_dir"`
	DatabasePath string `json:"database_path"` // empty: parley.db in DataDir
	// DatabaseURL (postgres://…) runs Parley on PostgreSQL instead of the
	// SQLite file: the store several nodes share (docs/CLUSTER.md).
	DatabaseURL       string        `json:"database_url"`
	JWTKey            string        `json:"jwt_key"` // empty: generated once and kept in DataDir
	AccessTokenTTL    time.Duration `json:"access_token_ttl"`
	RefreshTokenTTL   time.Duration `json:"refresh_token_ttl"`
	SelfServiceTenant bool          `json:"self_service_tenants"`
	PingInterval      time.Duration `json:"ping_interval"`
	// StreamWriteTimeout bounds one write to an event stream: a client that
	// stops reading is cut off (it resumes with Last-Event-ID).
	StreamWriteTimeout time.Duration `json:"stream_write_timeout"`
	// ReplayDepth is how many missed events a resuming stream replays; a
	// client further behind gets one resync event instead. 0: no depth.
	ReplayDepth     int           `json:"replay_depth"`
	SubscriberQueue int           `json:"subscriber_queue"`
	InviteTTL       time.Duration `json:"invite_ttl"`
	BcryptCost      int           `json:"bcrypt_cost"`
	LogLevel        string        `json:"log_level"`
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
	DebugListen     string        `json:"debug_listen"` // empty: no pprof; else e.g. 127.0.0.1:6060
	// TLSCert and TLSKey are PEM files; set, the server speaks HTTPS, and with
	// it HTTP/2, instead of plain HTTP/1.1.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// MetricsListen serves /metrics on its own address, loopback by default
	// ("off": none). MetricsToken, if set, also serves it on the public
	// listener to requests bearing that token.
	MetricsListen string `json:"metrics_listen"`
	MetricsToken  string `json:"metrics_token"`
	// Timeouts of every request but event streams (which have their own
	// write deadline and pings): headers, body, answer, and an idle
	// keep-alive connection between requests.
	ReadHeaderTimeout time.Duration `json:"read_header_timeout"`
	ReadTimeout       time.Duration `json:"read_timeout"`
	WriteTimeout      time.Duration `json:"write_timeout"`
	IdleTimeout       time.Duration `json:"idle_timeout"`
	// MaxConnsPerIP caps the connections one client IP (an IPv6 /64) holds
	// at once; trusted proxies are not capped. 0: no cap.
	MaxConnsPerIP int `json:"max_conns_per_ip"`
	// TrustedProxies lists the reverse proxies (IPs or CIDRs, comma-separated)
	// whose X-Forwarded-For names the client; empty trusts none.
	TrustedProxies string `json:"trusted_proxies"`
	// PresenceGrace is how long someone whose last stream closed still shows
	// as online, so a phone that reconnects does not flicker for everyone.
	PresenceGrace time.Duration `json:"presence_grace"`

	// NATSURL connects the bus that carries live events between nodes
	// (nats://host:4222); empty: one node, events stay in process. It needs
	// a shared database (database_url).
	NATSURL string `json:"nats_url"`
	// BusGapWait is how long a node waits for the bus to bring an event that
	// arrived out of order before reading it from the database;
	// BusCatchUpInterval is how often it checks that nothing committed is
	// missing (a lost last message is found within two intervals).
	BusGapWait         time.Duration `json:"bus_gap_wait"`
	BusCatchUpInterval time.Duration `json:"bus_catchup_interval"`

	// Web Push. The VAPID private key (base64url, P-256) is generated on first
	// start and kept in DataDir unless configured; several nodes share one.
	PushVAPIDPrivateKey       string        `json:"push_vapid_private_key"`
	PushSubject               string        `json:"push_subject"` // a mailto: or https: contact for push services
	PushAllowPrivateEndpoints bool          `json:"push_allow_private_endpoints"`
	PushWorkers               int           `json:"push_workers"`
	PushQueue                 int           `json:"push_queue"`
	PushMaxSubscriptions      int           `json:"push_max_subscriptions"` // per user
	PushTTL                   time.Duration `json:"push_ttl"`

	// Uploads. BlobURL is where files are kept (gocloud.dev/blob): empty for
	// DataDir/uploads, file:///path for a folder several nodes share, or
	// s3://bucket?region=…&endpoint=… for an S3-compatible store.
	BlobURL        string        `json:"blob_url"`
	UploadMaxBytes int64         `json:"upload_max_bytes"` // one file
	ImageMaxPixels int64         `json:"image_max_pixels"` // width × height of an image, checked before decoding
	UploadTTL      time.Duration `json:"upload_ttl"`       // an upload never attached to a message is deleted after this
	// UploadTimeout is how long an upload may take to arrive and a file to
	// be sent (instead of read_timeout and write_timeout).
	UploadTimeout           time.Duration `json:"upload_timeout"`
	MaxUploadBytesPerTenant int64         `json:"max_upload_bytes_per_tenant"` // 0: no quota

	// Rate limits (docs/SECURITY.md): N per duration, a burst of N at most.
	LoginLimitAccount limit.Rate `json:"login_limit_account"` // log-in attempts per tenant+username (a right password is given back)
	LoginLimitIP      limit.Rate `json:"login_limit_ip"`      // log-in attempts per client IP (likewise)
	SignupLimitIP     limit.Rate `json:"signup_limit_ip"`
	TenantLimitIP     limit.Rate `json:"tenant_limit_ip"`
	PostLimitUser     limit.Rate `json:"post_limit_user"`
	PostLimitKey      limit.Rate `json:"post_limit_key"`
	RoomLimitUser     limit.Rate `json:"room_limit_user"`
	RoomLimitKey      limit.Rate `json:"room_limit_key"`
	RoomsPerHour      int        `json:"rooms_per_hour"` // rooms one user may create in any hour; 0: no cap
	TypingLimitUser   limit.Rate `json:"typing_limit_user"`
	UploadLimitUser   limit.Rate `json:"upload_limit_user"` // uploads per user (or key)
	SearchLimitUser   limit.Rate `json:"search_limit_user"` // searches per user (or key)
	// Caps on how many of a kind one owner may have (0: none); docs/SECURITY.md.
	MaxStreamsPerUser   int `json:"max_streams_per_user"`
	MaxRoomsPerUser     int `json:"max_rooms_per_user"`
	MaxMembersPerRoom   int `json:"max_members_per_room"`
	MaxRoomsPerTenant   int `json:"max_rooms_per_tenant"`
	MaxUsersPerTenant   int `json:"max_users_per_tenant"`
	MaxAPIKeysPerTenant int `json:"max_api_keys_per_tenant"`
	MaxInvitesPerTenant int `json:"max_open_invites_per_tenant"`
}

// Default returns the settings a fresh machine starts with.
func Default() Config {
	return Config{
		Listen:               ":8080",
		DataDir:              "./data",
		AccessTokenTTL:       15 * time.Minute,
		RefreshTokenTTL:      30 * 24 * time.Hour,
		SelfServiceTenant:    true,
		PingInterval:         15 * time.Second,
		StreamWriteTimeout:   10 * time.Second,
		ReplayDepth:          1000,
		SubscriberQueue:      256,
		InviteTTL:            7 * 24 * time.Hour,
		BcryptCost:           10,
		LogLevel:             "info",
		ShutdownTimeout:      10 * time.Second,
		MetricsListen:        "127.0.0.1:9181",
		ReadHeaderTimeout:    10 * time.Second,
		ReadTimeout:          30 * time.Second,
		WriteTimeout:         30 * time.Second,
		IdleTimeout:          60 * time.Second,
		MaxConnsPerIP:        128,
		LoginLimitAccount:    limit.Rate{N: 5, Per: 150 * time.Second},
		LoginLimitIP:         limit.Rate{N: 30, Per: time.Minute},
		SignupLimitIP:        limit.Rate{N: 20, Per: time.Hour},
		TenantLimitIP:        limit.Rate{N: 5, Per: time.Hour},
		PostLimitUser:        limit.Rate{N: 30, Per: 10 * time.Second},
		PostLimitKey:         limit.Rate{N: 300, Per: 10 * time.Second},
		RoomLimitUser:        limit.Rate{N: 10, Per: time.Minute},
		RoomLimitKey:         limit.Rate{N: 120, Per: time.Minute},
		RoomsPerHour:         30,
		PresenceGrace:        10 * time.Second,
		BusGapWait:           50 * time.Millisecond,
		BusCatchUpInterval:   500 * time.Millisecond,
		TypingLimitUser:      limit.Rate{N: 3, Per: 6 * time.Second},
		PushSubject:          "mailto:push@parley.invalid",
		PushWorkers:          4,
		PushQueue:            1000,
		PushMaxSubscriptions: 10,
		PushTTL:              24 * time.Hour,
		UploadMaxBytes:       10 << 20,
		ImageMaxPixels:       50_000_000,
		UploadTTL:            24 * time.Hour,
		UploadTimeout:        5 * time.Minute,
		UploadLimitUser:      limit.Rate{N: 20, Per: time.Minute},
		SearchLimitUser:      limit.Rate{N: 30, Per: time.Minute},
		// Enough for a team's photos and documents for years; a tenant that
		// needs more gets it from its operator.
		MaxUploadBytesPerTenant: 5 << 30,
		// A person has a few tabs and devices; the rest leave room for big
		// workspaces while bounding what one account or tenant can pile up.
		MaxStreamsPerUser:   10,
		MaxRoomsPerUser:     1000,
		MaxMembersPerRoom:   10_000,
		MaxRoomsPerTenant:   5000,
		MaxUsersPerTenant:   20_000,
		MaxAPIKeysPerTenant: 100,
		MaxInvitesPerTenant: 100,
	}
}

// Off turns off a listener setting (metrics_listen).
const Off = "off"

// DatabaseFile is where the SQLite database lives.
func (c Config) DatabaseFile() string {
	if c.DatabasePath != "" {
		return c.DatabasePath
	}
	return filepath.Join(c.DataDir, "parley.db")
}

// Database is what store.Open opens: the PostgreSQL URL when one is set,
// else the SQLite file.
func (c Config) Database() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.DatabaseFile()
}

// Proxies returns the trusted proxies as a list (nil for none).
func (c Config) Proxies() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Clustered reports whether this node is one of several: a shared database
// and a bus.
func (c Config) Clustered() bool { return c.DatabaseURL != "" && c.NATSURL != "" }

// clusterProblems refuses a bus without a shared database, and a cluster
// node that would generate a secret every node must share.
func (c Config) clusterProblems() []string {
	var problems []string
	if c.NATSURL != "" && c.DatabaseURL == "" {
		problems = append(problems, "nats_url needs database_url: several nodes cannot share a SQLite file; "+
			"set database_url (postgres://…) or remove nats_url to run one node")
	}
	if c.Clustered() {
		if c.JWTKey == "" {
			problems = append(problems, "jwt_key must be set when nodes share database_url and nats_url: "+
				"every node must sign and check tokens with the same key, so none generates its own")
		}
		if c.PushVAPIDPrivateKey == "" {
			problems = append(problems, "push_vapid_private_key must be set when nodes share database_url and nats_url: "+
				"every node must push with the key browsers subscribed with, so none generates its own")
		}
	}
	return problems
}

// Validate rejects settings the server cannot run with.
func (c Config) Validate() error {
	var problems []string
	if c.Listen == "" {
		problems = append(problems, "listen is empty")
	}
	if c.DataDir == "" {
		problems = append(problems, "data_dir is empty")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		problems = append(problems, "database_url must be a postgres:// URL (leave it empty for SQLite)")
	}
	if c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0 || c.InviteTTL <= 0 {
		problems = append(problems, "token and invite lifetimes must be positive")
	}
	if c.PingInterval <= 0 || c.StreamWriteTimeout <= 0 {
		problems = append(problems, "ping_interval and stream_write_timeout must be positive")
	}
	if c.ReplayDepth < 0 {
		problems = append(problems, "replay_depth must be 0 (no depth) or more")
	}
	if c.SubscriberQueue < 1 {
		problems = append(problems, "subscriber_queue must be at least 1")
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		problems = append(problems, "bcrypt_cost must be 4..31")
	}
	if c.JWTKey != "" && len(c.JWTKey) < 32 {
		problems = append(problems, "jwt_key must be at least 32 characters")
	}
	if c.RoomsPerHour < 0 {
		problems = append(problems, "rooms_per_hour must be 0 (no cap) or more")
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		problems = append(problems, "read_header_timeout, read_timeout, write_timeout and idle_timeout must be positive")
	}
	if c.MaxConnsPerIP < 0 {
		problems = append(problems, "max_conns_per_ip must be 0 (no cap) or more")
	}
	if c.MetricsListen == "" {
		problems = append(problems, "metrics_listen is empty (use off for none)")
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		problems = append(problems, "metrics_token must be at least 16 characters")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, "tls_cert and tls_key must be set together")
	}
	if c.ShutdownTimeout <= 0 {
		problems = append(problems, "shutdown_timeout must be positive")
	}
	if c.BusGapWait <= 0 || c.BusCatchUpInterval <= 0 {
		problems = append(problems, "bus_gap_wait and bus_catchup_interval must be positive")
	}
	if c.NATSURL != "" && !strings.HasPrefix(c.NATSURL, "nats://") && !strings.HasPrefix(c.NATSURL, "tls://") {
		problems = append(problems, "nats_url must be a nats:// or tls:// URL")
	}
	problems = append(problems, c.clusterProblems()...)
	if c.PresenceGrace < 0 {
		problems = append(problems, "presence_grace must not be negative")
	}
	if c.PushWorkers < 1 || c.PushQueue < 1 || c.PushMaxSubscriptions < 1 || c.PushTTL <= 0 {
		problems = append(problems, "push_workers, push_queue, push_max_subscriptions and push_ttl must be positive")
	}
	if !strings.HasPrefix(c.PushSubject, "mailto:") && !strings.HasPrefix(c.PushSubject, "https://") {
		problems = append(problems, "push_subject must be a mailto: or https:// URL")
	}
	if c.UploadMaxBytes < 1 || c.ImageMaxPixels < 1 || c.UploadTTL <= 0 || c.UploadTimeout <= 0 {
		problems = append(problems, "upload_max_bytes, image_max_pixels, upload_ttl and upload_timeout must be positive")
	}
	if c.MaxUploadBytesPerTenant < 0 {
		problems = append(problems, "max_upload_bytes_per_tenant must be 0 (no quota) or more")
	}
	if min(c.MaxStreamsPerUser, c.MaxRoomsPerUser, c.MaxMembersPerRoom, c.MaxRoomsPerTenant, c.MaxUsersPerTenant, c.MaxAPIKeysPerTenant, c.MaxInvitesPerTenant) < 0 {
		problems = append(problems, "the max_* caps must be 0 (no cap) or more")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		problems = append(problems, "log_level must be debug, info, warn or error")
	}
	for _, p := range c.Proxies() {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			problems = append(problems, "trusted_proxies: "+strconv.Quote(p)+" is not an IP or CIDR")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Load builds the config from a file (-config or PARLEY_CONFIG), the
// environment, and the command-line args, in rising precedence. fs may carry a
// command's own flags besides the config flags; nil means none.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if fs == nil {
		fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	}
	configFile := fs.String("config", getenv("PARLEY_CONFIG"), "JSON config file")
	fs.String("listen", "", "address to listen on (default :8080)")
	fs.String("data-dir", "", "folder for the database and the generated signing key (default ./data)")
	fs.String("database", "", "SQLite database file (default DATA_DIR/parley.db)")
	fs.String("self-service-tenants", "", "true/false: anyone may create a tenant (default true)")
	fs.String("log-level", "", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *configFile != "" {
		raw, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeFile(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", *configFile, err)
		}
	}
	overrides := map[string]string{}
	for _, s := range settings {
		if v := getenv("PARLEY_" + strings.ToUpper(s.key)); v != "" {
			overrides[s.key] = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if key, ok := flagKeys[f.Name]; ok {
			overrides[key] = f.Value.String()
		}
	})
	for _, s := range settings {
		if v, ok := overrides[s.key]; ok {
			if err := s.set(&cfg, v); err != nil {
				return cfg, fmt.Errorf("setting %s: %w", s.key, err)
			}
		}
	}
	return cfg, cfg.Validate()
}

var flagKeys = map[string]string{
	"listen": "listen", "data-dir": "data_dir", "database": "database_path",
	"self-service-tenants": "self_service_tenants", "log-level": "log_level",
}

type setting struct {
	key string
	set func(*Config, string) error
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func dur(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

func rate(field func(*Config) *limit.Rate) func(*Config, string) error {
	return func(c *Config, v string) error {
		r, err := limit.ParseRate(v)
		if err != nil {
			return err
		}
		*field(c) = r
		return nil
	}
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}
}

// settings lists what the environment and flags may override, by config-file key.
var settings = []setting{
	{"listen", str(func(c *Config) *string { return &c.Listen })},
	{"data_dir", str(func(c *Config) *string { return &c.DataDir })},
	{"database_path", str(func(c *Config) *string { return &c.DatabasePath })},
	{"database_url", str(func(c *Config) *string { return &c.DatabaseURL })},
	{"jwt_key", str(func(c *Config) *string { return &c.JWTKey })},
	{"log_level", str(func(c *Config) *string { return &c.LogLevel })},
	{"debug_listen", str(func(c *Config) *string { return &c.DebugListen })},
	{"metrics_listen", str(func(c *Config) *string { return &c.MetricsListen })},
	{"metrics_token", str(func(c *Config) *string { return &c.MetricsToken })},
	{"read_header_timeout", dur(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
	{"read_timeout", dur(func(c *Config) *time.Duration { return &c.ReadTimeout })},
	{"write_timeout", dur(func(c *Config) *time.Duration { return &c.WriteTimeout })},
	{"idle_timeout", dur(func(c *Config) *time.Duration { return &c.IdleTimeout })},
	{"max_conns_per_ip", integer(func(c *Config) *int { return &c.MaxConnsPerIP })},
	{"trusted_proxies", str(func(c *Config) *string { return &c.TrustedProxies })},
	{"tls_cert", str(func(c *Config) *string { return &c.TLSCert })},
	{"tls_key", str(func(c *Config) *string { return &c.TLSKey })},
	{"access_token_ttl", dur(func(c *Config) *time.Duration { return &c.AccessTokenTTL })},
	{"refresh_token_ttl", dur(func(c *Config) *time.Duration { return &c.RefreshTokenTTL })},
	{"ping_interval", dur(func(c *Config) *time.Duration { return &c.PingInterval })},
	{"invite_ttl", dur(func(c *Config) *time.Duration { return &c.InviteTTL })},
	{"shutdown_timeout", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"presence_grace", dur(func(c *Config) *time.Duration { return &c.PresenceGrace })},
	{"subscriber_queue", integer(func(c *Config) *int { return &c.SubscriberQueue })},
	{"bcrypt_cost", integer(func(c *Config) *int { return &c.BcryptCost })},
	{"rooms_per_hour", integer(func(c *Config) *int { return &c.RoomsPerHour })},
	{"replay_depth", integer(func(c *Config) *int { return &c.ReplayDepth })},
	{"stream_write_timeout", dur(func(c *Config) *time.Duration { return &c.StreamWriteTimeout })},
	{"login_limit_account", rate(func(c *Config) *limit.Rate { return &c.LoginLimitAccount })},
	{"login_limit_ip", rate(func(c *Config) *limit.Rate { return &c.LoginLimitIP })},
	{"signup_limit_ip", rate(func(c *Config) *limit.Rate { return &c.SignupLimitIP })},
	{"tenant_limit_ip", rate(func(c *Config) *limit.Rate { return &c.TenantLimitIP })},
	{"post_limit_user", rate(func(c *Config) *limit.Rate { return &c.PostLimitUser })},
	{"post_limit_key", rate(func(c *Config) *limit.Rate { return &c.PostLimitKey })},
	{"room_limit_user", rate(func(c *Config) *limit.Rate { return &c.RoomLimitUser })},
	{"room_limit_key", rate(func(c *Config) *limit.Rate { return &c.RoomLimitKey })},
	{"typing_limit_user", rate(func(c *Config) *limit.Rate { return &c.TypingLimitUser })},
	{"max_streams_per_user", integer(func(c *Config) *int { return &c.MaxStreamsPerUser })},
	{"max_rooms_per_user", integer(func(c *Config) *int { return &c.MaxRoomsPerUser })},
	{"max_members_per_room", integer(func(c *Config) *int { return &c.MaxMembersPerRoom })},
	{"max_rooms_per_tenant", integer(func(c *Config) *int { return &c.MaxRoomsPerTenant })},
	{"max_users_per_tenant", integer(func(c *Config) *int { return &c.MaxUsersPerTenant })},
	{"max_api_keys_per_tenant", integer(func(c *Config) *int { return &c.MaxAPIKeysPerTenant })},
	{"max_open_invites_per_tenant", integer(func(c *Config) *int { return &c.MaxInvitesPerTenant })},
	{"self_service_tenants", boolean(func(c *Config) *bool { return &c.SelfServiceTenant })},
	{"nats_url", str(func(c *Config) *string { return &c.NATSURL })},
	{"bus_gap_wait", dur(func(c *Config) *time.Duration { return &c.BusGapWait })},
	{"bus_catchup_interval", dur(func(c *Config) *time.Duration { return &c.BusCatchUpInterval })},
	{"push_vapid_private_key", str(func(c *Config) *string { return &c.PushVAPIDPrivateKey })},
	{"push_subject", str(func(c *Config) *string { return &c.PushSubject })},
	{"push_allow_private_endpoints", boolean(func(c *Config) *bool { return &c.PushAllowPrivateEndpoints })},
	{"push_workers", integer(func(c *Config) *int { return &c.PushWorkers })},
	{"push_queue", integer(func(c *Config) *int { return &c.PushQueue })},
	{"push_max_subscriptions", integer(func(c *Config) *int { return &c.PushMaxSubscriptions })},
	{"push_ttl", dur(func(c *Config) *time.Duration { return &c.PushTTL })},
	{"blob_url", str(func(c *Config) *string { return &c.BlobURL })},
	{"upload_max_bytes", byteSize(func(c *Config) *int64 { return &c.UploadMaxBytes })},
	{"image_max_pixels", byteSize(func(c *Config) *int64 { return &c.ImageMaxPixels })},
	{"upload_ttl", dur(func(c *Config) *time.Duration { return &c.UploadTTL })},
	{"upload_timeout", dur(func(c *Config) *time.Duration { return &c.UploadTimeout })},
	{"max_upload_bytes_per_tenant", byteSize(func(c *Config) *int64 { return &c.MaxUploadBytesPerTenant })},
	{"upload_limit_user", rate(func(c *Config) *limit.Rate { return &c.UploadLimitUser })},
	{"search_limit_user", rate(func(c *Config) *limit.Rate { return &c.SearchLimitUser })},
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*field(c) = b
		return nil
	}
}

// decodeFile reads the JSON config file; durations are written as strings such as "15m".
// Numbers are kept as written (1000000, not 1e+06); null, objects and arrays are refused.
func decodeFile(raw []byte, cfg *Config) error {
	var values map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the file must hold one JSON object")
	}
	known := map[string]setting{}
	for _, s := range settings {
		known[s.key] = s
	}
	for key, v := range values {
		s, ok := known[key]
		if !ok {
			return errors.New("unknown setting " + strconv.Quote(key))
		}
		switch v.(type) {
		case string, json.Number, bool:
		default:
			return fmt.Errorf("%s: must be a string, number or boolean", key)
		}
		if err := s.set(cfg, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// byteSize reads a count of bytes: a whole number, optionally with a binary
// suffix (10MiB, 10MB and 10M all mean 10 × 2²⁰).
func byteSize(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		num := strings.TrimRight(v, "KMGTiBkmgtb")
		unit := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(v[len(num):]), "B"), "I")
		shift, ok := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if !ok || err != nil || n < 0 || n > (1<<62)>>shift {
			return fmt.Errorf("%q: want a number of bytes such as 10485760 or 10MiB", v)
		}
		*field(c) = n << shift
		return nil
	}
}
