package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/internal/fault"
	"parley/internal/limit"
	"parley/rooms"
)

func (h *handlers) createRoom(c *gin.Context) {
	withBody(h, c, func(in struct {
		Name       string `json:"name"`
		Topic      string `json:"topic"`
		Visibility string `json:"visibility"`
	}) {
		room, err := h.Rooms.Create(c.Request.Context(), principal(c), rooms.NewRoom{Name: in.Name, Topic: in.Topic, Visibility: in.Visibility})
		h.render(c, http.StatusCreated, room, err)
	})
}

func (h *handlers) listRooms(c *gin.Context) {
	scope := c.DefaultQuery("scope", rooms.ScopeMine)
	if scope != rooms.ScopeMine && scope != rooms.ScopePublic && scope != rooms.ScopeAll {
		h.fail(c, fault.Field("scope", "must be mine, public or all"))
		return
	}
	list, err := h.Rooms.List(c.Request.Context(), principal(c), scope)
	h.render(c, http.StatusOK, list, err)
}

func (h *handlers) getRoom(c *gin.Context) {
	room, err := h.Rooms.Get(c.Request.Context(), principal(c), c.Param("room"))
	h.render(c, http.StatusOK, room, err)
}

func (h *handlers) patchRoom(c *gin.Context) {
	withBody(h, c, func(in struct {
		Name       *string `json:"name"`
		Topic      *string `json:"topic"`
		Visibility *string `json:"visibility"`
		Archived   *bool   `json:"archived"`
	}) {
		room, err := h.Rooms.Update(c.Request.Context(), principal(c), c.Param("room"),
			rooms.RoomChange{Name: in.Name, Topic: in.Topic, Visibility: in.Visibility, Archived: in.Archived})
		h.render(c, http.StatusOK, room, err)
	})
}

func (h *handlers) deleteRoom(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Rooms.Delete(c.Request.Context(), principal(c), c.Param("room")))
}

func (h *handlers) joinRoom(c *gin.Context) {
	room, err := h.Rooms.Join(c.Request.Context(), principal(c), c.Param("room"))
	h.render(c, http.StatusOK, room, err)
}

func (h *handlers) listMembers(c *gin.Context) {
	members, err := h.Rooms.Members(c.Request.Context(), principal(c), c.Param("room"))
	h.render(c, http.StatusOK, members, err)
}

func (h *handlers) putMember(c *gin.Context) {
	withBody(h, c, func(in struct {
		Role string `json:"role"`
	}) {
		m, err := h.Rooms.SetMember(c.Request.Context(), principal(c), c.Param("room"), c.Param("user"), in.Role)
		h.render(c, http.StatusOK, m, err)
	})
}

func (h *handlers) deleteMember(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Rooms.RemoveMember(c.Request.Context(), principal(c), c.Param("room"), c.Param("user")))
}

func (h *handlers) markRead(c *gin.Context) {
	withBody(h, c, func(in struct {
		Seq *int64 `json:"seq"`
	}) {
		if in.Seq == nil {
			h.fail(c, fault.Field("seq", "is required"))
			return
		}
		h.render(c, http.StatusNoContent, nil, h.Rooms.MarkRead(c.Request.Context(), principal(c), c.Param("room"), *in.Seq))
	})
}

// newMessage is a post as clients send it.
type newMessage struct {
	Body     string `json:"body"`
	ClientID string `json:"client_id"`
	AsUser   string `json:"as_user"`
	ReplyTo  string `json:"reply_to"`
	// Attachments are upload ids (POST /rooms/{room}/uploads).
	Attachments []string `json:"attachments"`
}

func (m newMessage) domain() rooms.NewMessage {
	return rooms.NewMessage{Body: m.Body, ClientID: m.ClientID, AsUser: m.AsUser, ReplyTo: m.ReplyTo, Attachments: m.Attachments}
}

// createdStatus is 201 when something new was stored, else 200 (a retry).
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (h *handlers) openDM(c *gin.Context) {
	withBody(h, c, func(in struct {
		UserID string `json:"user_id"`
	}) {
		room, created, err := h.Rooms.OpenDM(c.Request.Context(), principal(c), in.UserID)
		h.render(c, createdStatus(created), room, err)
	})
}

func (h *handlers) setNotifications(c *gin.Context) {
	withBody(h, c, func(in struct {
		Level string `json:"level"`
	}) {
		h.render(c, http.StatusNoContent, nil, h.Rooms.SetNotifications(c.Request.Context(), principal(c), c.Param("room"), in.Level))
	})
}

func (h *handlers) typing(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Rooms.Typing(c.Request.Context(), principal(c), c.Param("room")))
}

func (h *handlers) postMessage(c *gin.Context) {
	withBody(h, c, func(in newMessage) {
		msg, created, err := h.Rooms.Post(c.Request.Context(), principal(c), c.Param("room"), in.domain())
		h.renderEncoded(c, createdStatus(created), msg, msg.Encoded(), err)
	})
}

func (h *handlers) postMessageBatch(c *gin.Context) {
	withBodyUpTo(h, c, maxBatchBodyBytes, func(in struct {
		Messages []newMessage `json:"messages"`
	}) {
		msgs := make([]rooms.NewMessage, len(in.Messages))
		for i, m := range in.Messages {
			msgs[i] = m.domain()
		}
		p := principal(c)
		h.limitedRun(c, func() (func(), error) {
			return h.Limits.PostMany(c.Request.Context(), limit.Caller{ID: p.Subject(), IsKey: p.IsKey()}, max(len(msgs), 1))
		}, func() {
			posted, err := h.Rooms.PostBatch(c.Request.Context(), p, c.Param("room"), msgs)
			created := false
			for _, m := range posted {
				created = created || m.Created
			}
			h.render(c, createdStatus(created), gin.H{"results": posted}, err)
		})
	})
}

func (h *handlers) history(c *gin.Context) {
	var q rooms.HistoryQuery
	var err error
	const maxSeq = 1 << 62
	if q.BeforeSeq, err = queryInt(c, "before_seq", 0, 1, maxSeq); err == nil {
		if q.AfterSeq, err = queryInt(c, "after_seq", rooms.NoSeq, 0, maxSeq); err == nil {
			var limit int64
			limit, err = queryInt(c, "limit", 50, 1, 200)
			q.Limit = int(limit)
		}
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	msgs, more, err := h.Rooms.History(c.Request.Context(), principal(c), c.Param("room"), q)
	h.render(c, http.StatusOK, gin.H{"messages": msgs, "has_more": more}, err)
}

func (h *handlers) editMessage(c *gin.Context) {
	withBody(h, c, func(in struct {
		Body string `json:"body"`
	}) {
		msg, err := h.Rooms.Edit(c.Request.Context(), principal(c), c.Param("room"), c.Param("id"), in.Body)
		h.render(c, http.StatusOK, msg, err)
	})
}

func (h *handlers) deleteMessage(c *gin.Context) {
	h.render(c, http.StatusNoContent, nil, h.Rooms.DeleteMessage(c.Request.Context(), principal(c), c.Param("room"), c.Param("id")))
}

func (h *handlers) putReaction(c *gin.Context)    { h.react(c, true) }
func (h *handlers) deleteReaction(c *gin.Context) { h.react(c, false) }

func (h *handlers) react(c *gin.Context, add bool) {
	err := h.Rooms.React(c.Request.Context(), principal(c), c.Param("room"), c.Param("id"), c.Param("emoji"), add)
	h.render(c, http.StatusNoContent, nil, err)
}

func (h *handlers) mentions(c *gin.Context) {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		h.fail(c, err)
		return
	}
	msgs, more, err := h.Rooms.Mentions(c.Request.Context(), principal(c), c.Query("before"), int(limit))
	h.render(c, http.StatusOK, gin.H{"messages": msgs, "has_more": more}, err)
}

func (h *handlers) search(c *gin.Context) {
	limit, err := queryInt(c, "limit", 20, 1, 50)
	if err != nil {
		h.fail(c, err)
		return
	}
	results, more, next, err := h.Rooms.Search(c.Request.Context(), principal(c),
		rooms.SearchRequest{Text: c.Query("q"), RoomID: c.Query("room"), Before: c.Query("before"), Limit: int(limit)})
	h.render(c, http.StatusOK, gin.H{"results": results, "has_more": more, "next": next}, err)
}
