package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func quietFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestDefaultIsValid(t *testing.T) {
	cfg, err := Load(quietFlags(), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != Default() {
		t.Errorf("nothing set, yet config differs from the defaults:\n%+v\n%+v", cfg, Default())
	}
	if cfg.AccessTokenTTL != 15*time.Minute || !cfg.SelfServiceTenant || cfg.Listen != ":8080" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if got := cfg.DatabaseFile(); got != filepath.Join("data", "parley.db") {
		t.Errorf("DatabaseFile = %q", got)
	}
	cfg.DatabasePath = "/elsewhere/x.db"
	if cfg.DatabaseFile() != "/elsewhere/x.db" {
		t.Errorf("DatabaseFile ignores database_path")
	}
}

func TestCapsHaveSaneDefaultsAndSettings(t *testing.T) {
	c := Default()
	for name, got := range map[string]int{
		"max_streams_per_user": c.MaxStreamsPerUser, "max_rooms_per_user": c.MaxRoomsPerUser,
		"max_members_per_room": c.MaxMembersPerRoom, "max_rooms_per_tenant": c.MaxRoomsPerTenant,
		"max_users_per_tenant": c.MaxUsersPerTenant, "max_api_keys_per_tenant": c.MaxAPIKeysPerTenant,
		"max_open_invites_per_tenant": c.MaxInvitesPerTenant,
	} {
		if got <= 0 {
			t.Errorf("%s has no cap by default", name)
		}
	}
	if c.MaxStreamsPerUser > 20 {
		t.Errorf("max_streams_per_user = %d: a person's few tabs and devices need far fewer", c.MaxStreamsPerUser)
	}
	file := writeFile(t, `{"max_rooms_per_tenant": 7, "max_users_per_tenant": 0}`)
	cfg, err := Load(quietFlags(), []string{"-config", file}, env(map[string]string{"PARLEY_MAX_STREAMS_PER_USER": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxStreamsPerUser != 50 || cfg.MaxRoomsPerTenant != 7 || cfg.MaxUsersPerTenant != 0 {
		t.Errorf("caps not read from the file and the environment: %+v", cfg)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `{
		"listen": ":1001", "data_dir": "/from/file", "log_level": "warn",
		"access_token_ttl": "5m", "self_service_tenants": false, "bcrypt_cost": 12,
		"subscriber_queue": 1000000, "invite_ttl": "48h"
	}`)
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"file over defaults", map[string]string{"PARLEY_CONFIG": file}, nil, func(t *testing.T, c Config) {
			if c.Listen != ":1001" || c.DataDir != "/from/file" || c.LogLevel != "warn" || c.AccessTokenTTL != 5*time.Minute ||
				c.SelfServiceTenant || c.BcryptCost != 12 || c.SubscriberQueue != 1000000 || c.InviteTTL != 48*time.Hour {
				t.Errorf("file not applied: %+v", c)
			}
			if c.RefreshTokenTTL != Default().RefreshTokenTTL {
				t.Errorf("a setting absent from the file changed: %s", c.RefreshTokenTTL)
			}
		}},
		{"env over file", map[string]string{"PARLEY_CONFIG": file, "PARLEY_LISTEN": ":2002", "PARLEY_SELF_SERVICE_TENANTS": "true",
			"PARLEY_ACCESS_TOKEN_TTL": "90s", "PARLEY_BCRYPT_COST": "5"}, nil, func(t *testing.T, c Config) {
			if c.Listen != ":2002" || !c.SelfServiceTenant || c.AccessTokenTTL != 90*time.Second || c.BcryptCost != 5 {
				t.Errorf("env not applied over the file: %+v", c)
			}
			if c.DataDir != "/from/file" || c.LogLevel != "warn" {
				t.Errorf("file settings the env does not name were lost: %+v", c)
			}
		}},
		{"flags over env", map[string]string{"PARLEY_CONFIG": file, "PARLEY_LISTEN": ":2002", "PARLEY_DATA_DIR": "/from/env", "PARLEY_LOG_LEVEL": "error"},
			[]string{"-listen", ":3003", "-data-dir=/from/flag", "-self-service-tenants=true", "-database", "/db/x.db"}, func(t *testing.T, c Config) {
				if c.Listen != ":3003" || c.DataDir != "/from/flag" || !c.SelfServiceTenant || c.DatabasePath != "/db/x.db" {
					t.Errorf("flags not applied over the env: %+v", c)
				}
				if c.LogLevel != "error" {
					t.Errorf("env setting without a flag lost: %q", c.LogLevel)
				}
			}},
		{"-config flag over PARLEY_CONFIG", map[string]string{"PARLEY_CONFIG": "/does/not/exist.json"}, []string{"-config", file}, func(t *testing.T, c Config) {
			if c.Listen != ":1001" {
				t.Errorf("-config not used: %+v", c)
			}
		}},
		{"env alone", map[string]string{"PARLEY_DATA_DIR": "/d", "PARLEY_JWT_KEY": strings.Repeat("k", 32), "PARLEY_PING_INTERVAL": "3s",
			"PARLEY_SHUTDOWN_TIMEOUT": "1s", "PARLEY_REFRESH_TOKEN_TTL": "1h", "PARLEY_DATABASE_PATH": "/db.sqlite", "PARLEY_SUBSCRIBER_QUEUE": "9"}, nil,
			func(t *testing.T, c Config) {
				if c.DataDir != "/d" || c.JWTKey != strings.Repeat("k", 32) || c.PingInterval != 3*time.Second || c.ShutdownTimeout != time.Second ||
					c.RefreshTokenTTL != time.Hour || c.DatabaseFile() != "/db.sqlite" || c.SubscriberQueue != 9 {
					t.Errorf("env not applied: %+v", c)
				}
			}},
		{"empty env value is unset", map[string]string{"PARLEY_LISTEN": ""}, nil, func(t *testing.T, c Config) {
			if c.Listen != ":8080" {
				t.Errorf("empty PARLEY_LISTEN changed listen to %q", c.Listen)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(quietFlags(), tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestCommandFlagsBesideConfigFlags(t *testing.T) {
	fs := quietFlags()
	slug := fs.String("slug", "", "")
	cfg, err := Load(fs, []string{"--slug", "acme", "--data-dir", "/x"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if *slug != "acme" || cfg.DataDir != "/x" {
		t.Errorf("slug %q, data dir %q", *slug, cfg.DataDir)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		file    string // written to a temp file and named by -config, if set
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"missing file", "", map[string]string{"PARLEY_CONFIG": "/does/not/exist.json"}, nil, "read config file"},
		{"file not JSON", `listen = ":1"`, nil, nil, "invalid character"},
		{"file truncated", `{"listen": ":1"`, nil, nil, "unexpected"},
		{"two objects in file", `{"listen": ":1"} {"listen": ":2"}`, nil, nil, "one JSON object"},
		{"file is an array", `[1, 2]`, nil, nil, "cannot unmarshal"},
		{"unknown setting", `{"listen": ":1", "colour": "red"}`, nil, nil, `unknown setting "colour"`},
		{"misspelt setting", `{"self_service_tenant": false}`, nil, nil, "unknown setting"},
		{"bad duration in file", `{"access_token_ttl": "soon"}`, nil, nil, "access_token_ttl"},
		{"duration as a bare number", `{"access_token_ttl": 900}`, nil, nil, "access_token_ttl"},
		{"bad integer in file", `{"bcrypt_cost": "ten"}`, nil, nil, "bcrypt_cost"},
		{"fractional integer in file", `{"bcrypt_cost": 10.5}`, nil, nil, "bcrypt_cost"},
		{"bad bool in file", `{"self_service_tenants": "maybe"}`, nil, nil, "self_service_tenants"},
		{"null in file", `{"database_path": null}`, nil, nil, "database_path"},
		{"object in file", `{"listen": {"port": 80}}`, nil, nil, "listen"},
		{"bad env duration", "", map[string]string{"PARLEY_ACCESS_TOKEN_TTL": "abc"}, nil, "access_token_ttl"},
		{"bad env integer", "", map[string]string{"PARLEY_SUBSCRIBER_QUEUE": "lots"}, nil, "subscriber_queue"},
		{"bad env bool", "", map[string]string{"PARLEY_SELF_SERVICE_TENANTS": "yes please"}, nil, "self_service_tenants"},
		{"bad flag bool", "", nil, []string{"-self-service-tenants", "nah"}, "self_service_tenants"},
		{"unknown flag", "", nil, []string{"-colour", "red"}, "colour"},
		{"bcrypt cost too low", "", map[string]string{"PARLEY_BCRYPT_COST": "3"}, nil, "bcrypt_cost"},
		{"bcrypt cost too high", `{"bcrypt_cost": 32}`, nil, nil, "bcrypt_cost"},
		{"short jwt key", "", map[string]string{"PARLEY_JWT_KEY": "short"}, nil, "jwt_key"},
		{"zero access ttl", `{"access_token_ttl": "0s"}`, nil, nil, "lifetimes"},
		{"negative refresh ttl", "", map[string]string{"PARLEY_REFRESH_TOKEN_TTL": "-1h"}, nil, "lifetimes"},
		{"zero invite ttl", "", map[string]string{"PARLEY_INVITE_TTL": "0s"}, nil, "lifetimes"},
		{"zero ping", "", map[string]string{"PARLEY_PING_INTERVAL": "0s"}, nil, "ping_interval"},
		{"empty queue", "", map[string]string{"PARLEY_SUBSCRIBER_QUEUE": "0"}, nil, "subscriber_queue"},
		{"empty listen", "", nil, []string{"-listen", ""}, "listen"},
		{"empty data dir", `{"data_dir": ""}`, nil, nil, "data_dir"},
		{"unknown log level", "", map[string]string{"PARLEY_LOG_LEVEL": "loud"}, nil, "log_level"},
		{"negative shutdown timeout", "", map[string]string{"PARLEY_SHUTDOWN_TIMEOUT": "-1s"}, nil, "shutdown_timeout"},
		{"negative cap", "", map[string]string{"PARLEY_MAX_STREAMS_PER_USER": "-1"}, nil, "max_*"},
		{"cap not a number", `{"max_rooms_per_tenant": "many"}`, nil, nil, "max_rooms_per_tenant"},
		{"certificate without key", "", map[string]string{"PARLEY_TLS_CERT": "cert.pem"}, nil, "tls_cert and tls_key"},
		{"key without certificate", `{"tls_key": "key.pem"}`, nil, nil, "tls_cert and tls_key"},
		{"NATS with SQLite", "", map[string]string{"PARLEY_NATS_URL": "nats://127.0.0.1:4222"}, nil, "nats_url needs database_url"},
		{"NATS URL not nats://", `{"nats_url": "http://127.0.0.1:4222", "database_url": "postgres://db/parley"}`, nil, nil, "nats_url must be"},
		{"cluster without jwt key", "", map[string]string{"PARLEY_NATS_URL": "nats://127.0.0.1:4222", "PARLEY_DATABASE_URL": "postgres://db/parley",
			"PARLEY_PUSH_VAPID_PRIVATE_KEY": "k"}, nil, "jwt_key must be set"},
		{"cluster without VAPID key", "", map[string]string{"PARLEY_NATS_URL": "nats://127.0.0.1:4222", "PARLEY_DATABASE_URL": "postgres://db/parley",
			"PARLEY_JWT_KEY": strings.Repeat("k", 32)}, nil, "push_vapid_private_key must be set"},
		{"zero bus gap wait", "", map[string]string{"PARLEY_BUS_GAP_WAIT": "0s"}, nil, "bus_gap_wait"},
		{"size with a strange unit", `{"upload_max_bytes": "10 parsecs"}`, nil, nil, "upload_max_bytes"},
		{"zero upload size", "", map[string]string{"PARLEY_UPLOAD_MAX_BYTES": "0"}, nil, "upload_max_bytes"},
		{"negative quota", `{"max_upload_bytes_per_tenant": -1}`, nil, nil, "max_upload_bytes_per_tenant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"-config", writeFile(t, tc.file)}, args...)
			}
			_, err := Load(quietFlags(), args, env(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen, c.BcryptCost, c.SubscriberQueue = "", 1, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"listen", "bcrypt_cost", "subscriber_queue"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"10485760": 10 << 20, "10MiB": 10 << 20, "10MB": 10 << 20, "10M": 10 << 20, "10mb": 10 << 20,
		"512KiB": 512 << 10, "5GiB": 5 << 30, "0": 0, " 7 ": 7,
	} {
		var c Config
		if err := byteSize(func(c *Config) *int64 { return &c.MaxUploadBytesPerTenant })(&c, in); err != nil || c.MaxUploadBytesPerTenant != want {
			t.Errorf("%q: %d, %v; want %d", in, c.MaxUploadBytesPerTenant, err, want)
		}
	}
}
