package api_test

import (
	"net/http"
	"strings"
	"testing"

	"parley/internal/testkit"
)

// Names people choose (display, workspace, room and API key names, topics)
// are where impersonation happens: a right-to-left override, a zero-width
// space or a line break makes a name read as something else.
var invisibleNames = map[string]string{
	"NUL":                 "Ali\x00ce",
	"line feed":           "Alice\nAdmin",
	"carriage return":     "Alice\rBob",
	"right-to-left":       "Alice\u202Egnp.exe",
	"zero-width space":    "Al\u200bice",
	"zero-width joiner":   "Al\u200dice",
	"byte order mark":     "\ufeffAlice",
	"left-to-right mark":  "Alice\u200e",
	"Hangul filler":       "\u3164",
	"paragraph separator": "Alice\u2029",
}

func TestInvisibleCharactersInNamesAreRefusedEverywhere(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	owner := s.CreateTenant(t, "names", "alice")
	bob := s.Signup(t, "names", "bob")
	var rm room
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", owner.Token, map[string]string{"name": "general"}, &rm)

	// Each request puts the bad name into one field; field says which.
	requests := []struct {
		method, path, token, field string
		body                       func(name string) any
	}{
		{"POST", "/api/v1/tenants", "", "name", func(n string) any {
			return map[string]any{"slug": "other", "name": n, "admin": map[string]string{"username": "carol", "password": testkit.Password}}
		}},
		{"POST", "/api/v1/tenants", "", "admin.display_name", func(n string) any {
			return map[string]any{"slug": "other", "name": "Other", "admin": map[string]string{"username": "carol", "password": testkit.Password, "display_name": n}}
		}},
		{"POST", "/api/v1/auth/signup", "", "display_name", func(n string) any {
			return map[string]string{"tenant": "names", "username": "mallory", "password": testkit.Password, "display_name": n}
		}},
		{"PATCH", "/api/v1/tenant", owner.Token, "name", func(n string) any { return map[string]string{"name": n} }},
		{"POST", "/api/v1/users", owner.Token, "display_name", func(n string) any {
			return map[string]string{"username": "dave", "display_name": n}
		}},
		{"POST", "/api/v1/apikeys", owner.Token, "name", func(n string) any {
			return map[string]any{"name": n, "scopes": []string{"rooms:write"}}
		}},
		{"POST", "/api/v1/rooms", bob.Token, "name", func(n string) any { return map[string]string{"name": n} }},
		{"POST", "/api/v1/rooms", bob.Token, "topic", func(n string) any { return map[string]string{"name": "ok", "topic": n} }},
		{"PATCH", "/api/v1/rooms/" + rm.ID, owner.Token, "name", func(n string) any { return map[string]string{"name": n} }},
		{"PATCH", "/api/v1/rooms/" + rm.ID, owner.Token, "topic", func(n string) any { return map[string]string{"topic": n} }},
	}
	before := snapshot(t, s)
	for _, rq := range requests {
		for what, name := range invisibleNames {
			r := s.Do(t, rq.method, rq.path, rq.token, rq.body(name))
			if e := errorOf(t, r); r.Status != http.StatusBadRequest || e.Error.Code != "invalid_request" || e.Error.Field != rq.field {
				t.Errorf("%s %s with a %s in %s: %d %s, want 400 invalid_request naming %s", rq.method, rq.path, what, rq.field, r.Status, r.Body, rq.field)
			}
		}
	}
	assertUnchanged(t, s, before)
}

func TestNamesAreStoredNormalised(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t)
	const decomposed, composed = "Zoe\u0308 Ama\u0301lie", "Zo\u00eb Am\u00e1lie"
	var created struct {
		Tenant tenantJSON `json:"tenant"`
		User   userJSON   `json:"user"`
		Token  string     `json:"access_token"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/tenants", "", map[string]any{
		"slug": "nfc", "name": decomposed, "admin": map[string]string{"username": "zoe", "password": testkit.Password, "display_name": " " + decomposed + " "},
	}, &created)
	if created.Tenant.Name != composed || created.User.DisplayName != composed {
		t.Errorf("tenant %q, display name %q, want both %q", created.Tenant.Name, created.User.DisplayName, composed)
	}
	var rm struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms", created.Token, map[string]string{"name": decomposed, "topic": decomposed}, &rm)
	if rm.Name != composed || rm.Topic != composed {
		t.Errorf("room %+v, want name and topic %q", rm, composed)
	}
	var key struct {
		Name string `json:"name"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/apikeys", created.Token, map[string]any{"name": decomposed, "scopes": []string{"rooms:write"}}, &key)
	if key.Name != composed {
		t.Errorf("key name %q, want %q", key.Name, composed)
	}
	// Emoji sequences glued with a zero-width joiner stay allowed.
	const emoji = "Ana 👩🏽\u200d💻"
	var u userJSON
	s.Must(t, http.StatusCreated, "POST", "/api/v1/users", created.Token, map[string]string{"username": "ana", "display_name": emoji}, &u)
	if u.DisplayName != emoji {
		t.Errorf("display name %q, want %q", u.DisplayName, emoji)
	}
	if strings.Contains(string(s.Do(t, "GET", "/api/v1/users?q=zoe", created.Token, nil).Body), decomposed) {
		t.Error("a decomposed name was stored")
	}
}
