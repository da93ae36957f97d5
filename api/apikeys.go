package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

func (h *handlers) mintToken(c *gin.Context) {
	withBody(h, c, func(in struct {
		UserID string `json:"user_id"`
	}) {
		p := principal(c)
		// Only a caller allowed to mint tokens learns what the body lacks.
		if err := h.Auth.Require(p, "tokens.create"); err != nil {
			h.fail(c, err)
			return
		}
		if in.UserID == "" {
			h.fail(c, fault.Field("user_id", "is required"))
			return
		}
		pair, err := h.Auth.IssueFor(c.Request.Context(), p, in.UserID)
		h.render(c, http.StatusCreated, viewPair(pair), err)
	})
}

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Key        string     `json:"key,omitempty"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// viewKey renders a key; secret is set only in the answer that creates it.
func viewKey(k store.APIKey, secret string) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID, Name: k.Name, Key: secret, Prefix: auth.KeyPrefix + k.Prefix, Scopes: auth.SplitScopes(k.Scopes),
		CreatedAt: k.CreatedAt.UTC()}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if k.LastUsedAt != nil {
		t := k.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

func (h *handlers) createKey(c *gin.Context) {
	withBody(h, c, func(in struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}) {
		k, err := h.Auth.CreateKey(c.Request.Context(), principal(c), in.Name, in.Scopes)
		h.render(c, http.StatusCreated, viewKey(k.APIKey, k.Secret), err)
	})
}

func (h *handlers) listKeys(c *gin.Context) {
	keys, err := h.Auth.ListKeys(c.Request.Context(), principal(c))
	renderList(h, c, keys, err, func(k store.APIKey) apiKeyJSON { return viewKey(k, "") })
}

func (h *handlers) revokeKey(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Auth.RevokeKey(c.Request.Context(), principal(c), c.Param("id")))
}
