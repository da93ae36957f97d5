package auth_test

import (
	"context"
	"net/http"
	"testing"

	"parley/internal/testkit"
)

// BenchmarkAuthenticate guards the first step of every request: a user's
// access token and a tenant's API key, each seen before (the verified token
// and the session, user and key rows come from memory).
func BenchmarkAuthenticate(b *testing.B) {
	s := testkit.Start(b)
	owner := s.CreateTenant(b, "bench", "owner")
	var key struct {
		Key string `json:"key"`
	}
	s.Must(b, http.StatusCreated, "POST", "/api/v1/apikeys", owner.Token,
		map[string]any{"name": "bench", "scopes": []string{"messages:write"}}, &key)
	for _, bc := range []struct{ name, bearer string }{{"access_token", owner.Token}, {"api_key", key.Key}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := s.App.Auth.Authenticate(ctx, bc.bearer); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.App.Auth.Authenticate(ctx, bc.bearer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
