package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/push"
)

func (h *handlers) pushKey(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"public_key": h.Push.PublicKey()})
}

func (h *handlers) subscribePush(c *gin.Context) {
	withBody(h, c, func(in struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}) {
		id, err := h.Push.Subscribe(c.Request.Context(), principal(c), push.NewSubscription{
			Endpoint: in.Endpoint, P256dh: in.Keys.P256dh, Auth: in.Keys.Auth})
		h.render(c, http.StatusCreated, gin.H{"id": id}, err)
	})
}

func (h *handlers) unsubscribePush(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Push.Unsubscribe(c.Request.Context(), principal(c), c.Param("id")))
}
