// Command parley runs the Parley chat server and its operator commands.
//
//	parley [serve] [flags]                                     start the server (default)
//	parley tenant create --slug S --name N --admin USER        create a tenant; prints the admin's password once
//	parley apikey create --tenant SLUG --name N --scopes a,b   create an API key; prints it once
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"parley/auth"
	"parley/config"
	"parley/internal/app"
	"parley/internal/logbuf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  parley [serve] [-config FILE] [-listen ADDR] [-data-dir DIR] [-database FILE] [-self-service-tenants BOOL] [-log-level L]
  parley tenant create --slug SLUG --name NAME --admin USERNAME [serve flags]
  parley apikey create --tenant SLUG --name NAME --scopes users:write,rooms:write,messages:write,tokens:write [serve flags]

Every setting can also come from the environment as PARLEY_<NAME> (e.g. PARLEY_LISTEN, PARLEY_DATA_DIR).`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := config.Load(nil, args, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "tenant", "apikey":
		if len(args) == 0 || args[0] != "create" {
			return fmt.Errorf("unknown command %q\n%s", strings.Join(append([]string{cmd}, args...), " "), usage)
		}
		return create(ctx, cmd, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// create runs `tenant create` and `apikey create` against the configured database.
func create(ctx context.Context, what string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(what+" create", flag.ContinueOnError)
	slug := fs.String("slug", "", "tenant slug")
	tenant := fs.String("tenant", "", "tenant slug (apikey create)")
	name := fs.String("name", "", "tenant or key name")
	admin := fs.String("admin", "", "admin username (tenant create)")
	scopes := fs.String("scopes", "", "comma-separated scopes (apikey create)")
	cfg, err := config.Load(fs, args, getenv)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, newLogger(cfg.LogLevel, stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	switch what {
	case "tenant":
		if *slug == "" || *name == "" || *admin == "" {
			return errors.New("tenant create needs --slug, --name and --admin")
		}
		password := generatePassword()
		t, _, err := a.Auth.CreateTenant(ctx, *slug, *name, auth.NewAdmin{Username: *admin, Password: password}, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tenant %s (%s) created\nadmin:    %s\npassword: %s\n(the password is shown only now)\n", t.Slug, t.ID, *admin, password)
	case "apikey":
		if *tenant == "" || *name == "" || *scopes == "" {
			return errors.New("apikey create needs --tenant, --name and --scopes")
		}
		k, err := a.Auth.CreateKeyForTenant(ctx, *tenant, *name, strings.Split(*scopes, ","))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "api key %s (%s) created with scopes %s\nkey: %s\n(the key is shown only now)\n", k.Name, k.ID, k.Scopes, k.Secret)
	}
	return nil
}

func generatePassword() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// logFlushInterval is how long a served log line may wait in the buffer.
const logFlushInterval = 100 * time.Millisecond

// serve runs the server with its log batched: one write per line (an access
// line per request) costs more than the line. Warnings and errors go out at
// once; the rest within logFlushInterval, and all of it before serve returns.
func serve(ctx context.Context, cfg config.Config, stderr io.Writer) error {
	buf := logbuf.New(stderr)
	flushCtx, stopFlush := context.WithCancel(context.WithoutCancel(ctx))
	flushed := make(chan struct{})
	go func() { defer close(flushed); buf.Run(flushCtx, logFlushInterval) }()
	defer func() { stopFlush(); <-flushed }()
	log := newLogger(cfg.LogLevel, buf)
	return app.Serve(ctx, cfg, slog.New(logbuf.Handler(log.Handler(), buf, slog.LevelWarn)))
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
