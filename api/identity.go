package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/store"
)

type tokenResponse struct {
	User         auth.UserJSON `json:"user"`
	AccessToken  string        `json:"access_token"`
	RefreshToken string        `json:"refresh_token"`
	ExpiresIn    int           `json:"expires_in"`
}

func viewPair(p auth.TokenPair) tokenResponse {
	return tokenResponse{User: auth.ViewUser(p.User), AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, ExpiresIn: p.ExpiresIn}
}

type tenantJSON struct {
	ID           string    `json:"id"`
	Slug         string    `json:"slug"`
	Name         string    `json:"name"`
	SignupPolicy string    `json:"signup_policy"`
	CreatedAt    time.Time `json:"created_at"`
}

func viewTenant(t store.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Slug: t.Slug, Name: t.Name, SignupPolicy: t.SignupPolicy, CreatedAt: t.CreatedAt.UTC()}
}

// withBody decodes the JSON body (at most 1 MiB) into a T and hands it to fn.
func withBody[T any](h *handlers, c *gin.Context, fn func(in T)) {
	withBodyUpTo(h, c, maxBodyBytes, fn)
}

// withBodyUpTo is withBody for a body of at most limit bytes.
func withBodyUpTo[T any](h *handlers, c *gin.Context, limit int64, fn func(in T)) {
	var in T
	if err := bindJSONUpTo(c, &in, limit); err != nil {
		h.fail(c, err)
		return
	}
	fn(in)
}

func (h *handlers) createTenant(c *gin.Context) {
	withBody(h, c, func(in struct {
		Slug  string `json:"slug"`
		Name  string `json:"name"`
		Admin struct {
			Username    string `json:"username"`
			Password    string `json:"password"`
			DisplayName string `json:"display_name"`
		} `json:"admin"`
	}) {
		admin := auth.NewAdmin{Username: in.Admin.Username, Password: in.Admin.Password, DisplayName: in.Admin.DisplayName}
		tenant, pair, err := h.Auth.CreateTenant(c.Request.Context(), in.Slug, in.Name, admin, true)
		if err != nil {
			h.fail(c, err)
			return
		}
		c.JSON(http.StatusCreated, struct {
			Tenant tenantJSON `json:"tenant"`
			tokenResponse
		}{viewTenant(tenant), viewPair(pair)})
	})
}

func (h *handlers) signup(c *gin.Context) {
	withBody(h, c, func(in struct {
		Tenant      string `json:"tenant"`
		Username    string `json:"username"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
		InviteCode  string `json:"invite_code"`
	}) {
		pair, err := h.Auth.Signup(c.Request.Context(), in.Tenant, in.Username, in.Password, in.DisplayName, in.InviteCode)
		h.render(c, http.StatusCreated, viewPair(pair), err)
	})
}

func (h *handlers) login(c *gin.Context) {
	withBody(h, c, func(in struct {
		Tenant   string `json:"tenant"`
		Username string `json:"username"`
		Password string `json:"password"`
	}) {
		pair, err := h.Auth.Login(c.Request.Context(), in.Tenant, in.Username, in.Password, c.ClientIP())
		h.render(c, http.StatusOK, viewPair(pair), err)
	})
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *handlers) refresh(c *gin.Context) {
	withBody(h, c, func(in refreshBody) {
		pair, err := h.Auth.Refresh(c.Request.Context(), in.RefreshToken)
		h.render(c, http.StatusOK, viewPair(pair), err)
	})
}

func (h *handlers) logout(c *gin.Context) {
	withBody(h, c, func(in refreshBody) {
		h.render(c, http.StatusNoContent, nil, h.Auth.Logout(c.Request.Context(), principal(c), in.RefreshToken))
	})
}

func (h *handlers) me(c *gin.Context) {
	u, err := h.Auth.Me(c.Request.Context(), principal(c))
	h.render(c, http.StatusOK, auth.ViewUser(u), err)
}

func (h *handlers) patchMe(c *gin.Context) {
	withBody(h, c, func(in struct {
		DisplayName string `json:"display_name"`
	}) {
		u, err := h.Auth.UpdateMe(c.Request.Context(), principal(c), in.DisplayName)
		h.render(c, http.StatusOK, auth.ViewUser(u), err)
	})
}

func (h *handlers) changePassword(c *gin.Context) {
	withBody(h, c, func(in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}) {
		h.render(c, http.StatusNoContent, nil, h.Auth.ChangePassword(c.Request.Context(), principal(c), in.CurrentPassword, in.NewPassword, c.ClientIP()))
	})
}

func (h *handlers) getTenant(c *gin.Context) {
	t, err := h.Auth.Tenant(c.Request.Context(), principal(c))
	h.render(c, http.StatusOK, viewTenant(t), err)
}

func (h *handlers) patchTenant(c *gin.Context) {
	withBody(h, c, func(in struct {
		Name         *string `json:"name"`
		SignupPolicy *string `json:"signup_policy"`
	}) {
		t, err := h.Auth.UpdateTenant(c.Request.Context(), principal(c), auth.TenantChange{Name: in.Name, SignupPolicy: in.SignupPolicy})
		h.render(c, http.StatusOK, viewTenant(t), err)
	})
}

type inviteJSON struct {
	Code      string    `json:"code,omitempty"`
	Prefix    string    `json:"prefix"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// viewInvite renders an invite; code is set only in the answer that creates it.
func viewInvite(inv store.Invite, code string) inviteJSON {
	return inviteJSON{Code: code, Prefix: inv.Prefix, MaxUses: inv.MaxUses, Uses: inv.Uses, CreatedBy: inv.CreatedBy,
		CreatedAt: inv.CreatedAt.UTC(), ExpiresAt: inv.ExpiresAt.UTC()}
}

func (h *handlers) createInvite(c *gin.Context) {
	var in struct {
		MaxUses *int `json:"max_uses"`
	}
	if err := bindOptionalJSON(c, &in); err != nil {
		h.fail(c, err)
		return
	}
	inv, err := h.Auth.CreateInvite(c.Request.Context(), principal(c), in.MaxUses)
	h.render(c, http.StatusCreated, viewInvite(inv.Invite, inv.Code), err)
}

func (h *handlers) listInvites(c *gin.Context) {
	invites, err := h.Auth.ListInvites(c.Request.Context(), principal(c))
	renderList(h, c, invites, err, func(inv store.Invite) inviteJSON { return viewInvite(inv, "") })
}

func (h *handlers) revokeInvite(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Auth.RevokeInvite(c.Request.Context(), principal(c), c.Param("code")))
}

func (h *handlers) listUsers(c *gin.Context) {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		h.fail(c, err)
		return
	}
	offset, err := queryInt(c, "offset", 0, 0, 1<<31)
	if err != nil {
		h.fail(c, err)
		return
	}
	users, err := h.Auth.ListUsers(c.Request.Context(), principal(c), auth.UserQuery{Prefix: c.Query("q"), Limit: int(limit), Offset: int(offset)})
	renderList(h, c, users, err, auth.ViewUser)
}

func (h *handlers) createUser(c *gin.Context) {
	withBody(h, c, func(in struct {
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Password    string `json:"password"`
		Role        string `json:"role"`
	}) {
		u, err := h.Auth.CreateUser(c.Request.Context(), principal(c), auth.NewUser{Username: in.Username, DisplayName: in.DisplayName, Password: in.Password, Role: in.Role})
		h.render(c, http.StatusCreated, auth.ViewUser(u), err)
	})
}

func (h *handlers) patchUser(c *gin.Context) {
	withBody(h, c, func(in struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}) {
		u, err := h.Auth.UpdateUser(c.Request.Context(), principal(c), c.Param("id"), auth.UserChange{Role: in.Role, Disabled: in.Disabled})
		h.render(c, http.StatusOK, auth.ViewUser(u), err)
	})
}
