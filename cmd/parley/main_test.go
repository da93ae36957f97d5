package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

// cliRun runs the parley command with env as its environment.
func cliRun(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "PARLEY_BCRYPT_COST" {
			return "4" // cheap hashing keeps the test fast
		}
		return ""
	}
	err = run(context.Background(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

var (
	cliPassword = regexp.MustCompile(`(?m)^password: (\S+)$`)
	cliKey      = regexp.MustCompile(`(?m)^key: (pk_\S+)$`)
)

// printed returns what a command printed on the line re matches.
func printed(t *testing.T, re *regexp.Regexp, out string) string {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the command printed no line like %s:\n%s", re, out)
	}
	return m[1]
}

func TestTenantCreatePrintsAPasswordThatLogsIn(t *testing.T) {
	dir := t.TempDir()
	// Self-service tenants are off: the operator's command is not self-service.
	env := map[string]string{"PARLEY_SELF_SERVICE_TENANTS": "false"}
	out, errOut, err := cliRun(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme Inc", "--admin", "alice", "-data-dir", dir)
	if err != nil {
		t.Fatalf("tenant create: %v\n%s", err, errOut)
	}
	password := printed(t, cliPassword, out)
	if len(password) < 16 {
		t.Errorf("generated password %q is short", password)
	}
	if strings.Count(out, password) != 1 || strings.Contains(errOut, password) {
		t.Errorf("the password is printed other than once on stdout:\n%s\n--- stderr:\n%s", out, errOut)
	}
	if !strings.Contains(out, "acme") || !strings.Contains(out, "alice") {
		t.Errorf("output does not name the tenant and admin:\n%s", out)
	}
	if st, err := os.Stat(filepath.Join(dir, "jwt.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("signing key not kept in the data dir with mode 0600: %v", err)
	}

	// Again: a second password for the same tenant is never made.
	out2, _, err := cliRun(t, env, "tenant", "create", "--slug", "acme", "--name", "Again", "--admin", "bob", "-data-dir", dir)
	if err == nil || cliPassword.MatchString(out2) {
		t.Errorf("second tenant create with the same slug: err %v, output:\n%s", err, out2)
	}

	// A server on that data dir lets the admin in, as the tenant's owner.
	s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir; c.SelfServiceTenant = false })
	var tr testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": password}, &tr)
	if tr.User.Role != "owner" {
		t.Errorf("admin role %q, want owner", tr.User.Role)
	}
	var tenant struct {
		Name string `json:"name"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", tr.AccessToken, nil, &tenant)
	if tenant.Name != "Acme Inc" {
		t.Errorf("tenant name %q", tenant.Name)
	}
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/tenant", tr.AccessToken, map[string]string{"signup_policy": "invite"}, nil)
	if n := s.Count(t, &store.Tenant{}); n != 1 {
		t.Errorf("%d tenants, want 1", n)
	}
	if n := s.Count(t, &store.User{}); n != 1 {
		t.Errorf("%d users, want 1 (the failed second create left one behind?)", n)
	}
}

func TestTenantCreateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no slug":       {"--name", "N", "--admin", "alice"},
		"no name":       {"--slug", "acme", "--admin", "alice"},
		"no admin":      {"--slug", "acme", "--name", "N"},
		"bad slug":      {"--slug", "Acme!", "--name", "N", "--admin", "alice"},
		"bad username":  {"--slug", "acme", "--name", "N", "--admin", "a b"},
		"unknown flag":  {"--slug", "acme", "--name", "N", "--admin", "alice", "--colour", "red"},
		"bad config":    {"--slug", "acme", "--name", "N", "--admin", "alice", "-config", filepath.Join(dir, "missing.json")},
		"bad log level": {"--slug", "acme", "--name", "N", "--admin", "alice", "-log-level", "loud"},
	} {
		out, _, err := cliRun(t, nil, append([]string{"tenant", "create", "-data-dir", dir}, args...)...)
		if err == nil {
			t.Errorf("%s: accepted:\n%s", name, out)
		}
		if cliPassword.MatchString(out) {
			t.Errorf("%s: printed a password:\n%s", name, out)
		}
	}
	s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir })
	if n := s.Count(t, &store.Tenant{}); n != 0 {
		t.Errorf("refused commands created %d tenants", n)
	}
}

func TestAPIKeyCreatePrintsAWorkingKey(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PARLEY_DATA_DIR": dir} // the data dir from the environment this time
	if _, errOut, err := cliRun(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme", "--admin", "alice"); err != nil {
		t.Fatalf("tenant create: %v\n%s", err, errOut)
	}
	out, errOut, err := cliRun(t, env, "apikey", "create", "--tenant", "acme", "--name", "Backend", "--scopes", "users:write,tokens:write")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	key := printed(t, cliKey, out)
	if strings.Contains(errOut, key) {
		t.Error("the key went to stderr")
	}
	s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir })
	var u struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key, map[string]string{"username": "bob", "password": testkit.Password}, &u)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key, map[string]string{"user_id": u.ID}, nil)
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "bob", "password": testkit.Password}, nil)

	if _, _, err := cliRun(t, env, "apikey", "create", "--tenant", "nosuch", "--name", "B", "--scopes", "users:write"); err == nil {
		t.Error("apikey create for an unknown tenant succeeded")
	}
}

func TestCommands(t *testing.T) {
	out, _, err := cliRun(t, nil, "help")
	if err != nil || !strings.Contains(out, "tenant create") || !strings.Contains(out, "PARLEY_") {
		t.Errorf("help: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"frobnicate"}, {"tenant"}, {"tenant", "delete"}, {"apikey", "list"}} {
		if _, _, err := cliRun(t, nil, args...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: %v", args, err)
		}
	}
	// serve with an invalid config fails before listening.
	if _, _, err := cliRun(t, map[string]string{"PARLEY_BCRYPT_COST": "2"}, "serve", "-data-dir", t.TempDir()); err == nil {
		t.Error("serve with bcrypt_cost 2 started")
	}
}
