package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

func TestAPIKeyCreateCommand(t *testing.T) {
	dir := t.TempDir()
	out, _, err := cliRun(t, nil, "tenant", "create", "--slug", "acme", "--name", "Acme", "--admin", "alice", "-data-dir", dir)
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	password := printed(t, cliPassword, out)

	// Refused commands print no key and store nothing.
	for name, args := range map[string][]string{
		"no scopes":      {"--tenant", "acme", "--name", "Backend"},
		"no name":        {"--tenant", "acme", "--scopes", "users:write"},
		"no tenant":      {"--name", "Backend", "--scopes", "users:write"},
		"unknown scope":  {"--tenant", "acme", "--name", "Backend", "--scopes", "users:write,root"},
		"unknown tenant": {"--tenant", "nope", "--name", "Backend", "--scopes", "users:write"},
		"unknown flag":   {"--tenant", "acme", "--name", "Backend", "--scopes", "users:write", "--role", "admin"},
	} {
		out, errOut, err := cliRun(t, nil, append([]string{"apikey", "create", "-data-dir", dir}, args...)...)
		if err == nil {
			t.Errorf("%s: apikey create succeeded:\n%s", name, out)
		}
		if strings.Contains(out+errOut, "pk_") {
			t.Errorf("%s: printed a key:\n%s%s", name, out, errOut)
		}
	}
	if out, _, err := cliRun(t, nil, "apikey", "list", "-data-dir", dir); err == nil {
		t.Errorf("apikey list is not a command, yet succeeded:\n%s", out)
	}

	out, errOut, err := cliRun(t, nil, "apikey", "create", "--tenant", "acme", "--name", "Acme Backend",
		"--scopes", "users:write, tokens:write", "-data-dir", dir)
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	key := printed(t, cliKey, out)
	if !strings.Contains(out, "shown only now") || !strings.Contains(out, "Acme Backend") {
		t.Errorf("apikey create output:\n%s", out)
	}
	if strings.Contains(errOut, key) {
		t.Errorf("the key went to stderr (the log):\n%s", errOut)
	}

	// A server on the same data dir takes the key, within its scopes.
	s := testkit.Start(t, func(c *config.Config) { c.DataDir = dir })
	var bob struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", key, map[string]string{"username": "bob"}, &bob)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tokens", key, map[string]string{"user_id": bob.ID}, nil)
	s.Must(t, http.StatusForbidden, "POST", "/api/v1/rooms", key, map[string]string{"name": "no rooms:write"}, nil)

	// The admin sees the key listed without its secret, created by the operator.
	var login testkit.TokenResponse
	s.Must(t, http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "username": "alice", "password": password}, &login)
	var keys []map[string]any
	s.Must(t, http.StatusOK, "GET", "/api/v1/apikeys", login.AccessToken, nil, &keys)
	if len(keys) != 1 || keys[0]["name"] != "Acme Backend" || !strings.HasPrefix(key, keys[0]["prefix"].(string)+"_") {
		t.Fatalf("listed keys %v for key %s", keys, key)
	}
	if _, shown := keys[0]["key"]; shown {
		t.Fatalf("the list shows the key: %v", keys[0])
	}
	if scopes, _ := keys[0]["scopes"].([]any); len(scopes) != 2 || scopes[0] != "users:write" || scopes[1] != "tokens:write" {
		t.Fatalf("scopes %v", keys[0]["scopes"])
	}
	var stored store.APIKey
	if err := s.App.Store.Read(context.Background()).Take(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if stored.Hash == key || strings.Contains(stored.Hash, key[len("pk_")+len(stored.Prefix)+1:]) || stored.CreatedBy != "operator" {
		t.Fatalf("stored key %+v", stored)
	}
}
