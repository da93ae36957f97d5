package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/audit"
)

func (h *handlers) listAudit(c *gin.Context) {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.Audit.List(c.Request.Context(), principal(c), audit.Query{Before: c.Query("before"), Limit: int(limit)})
	h.render(c, http.StatusOK, page, err)
}
