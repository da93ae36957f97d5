package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"parley/rooms"
)

// writeTimeout bounds one write to a stream: a client that stops reading is
// cut off rather than holding the handler forever.
const writeTimeout = 10 * time.Second

// events serves GET /api/v1/events and /api/v1/rooms/{room}/events: first the
// missed events after Last-Event-ID, then live ones, with a ping comment to
// keep idle connections open, until the token expires or access ends.
func (h *handlers) events(c *gin.Context) {
	p := principal(c)
	cursor := c.GetHeader("Last-Event-ID")
	if cursor == "" {
		cursor = c.Query("last_event_id")
	}
	ctx := c.Request.Context()
	st, err := h.Rooms.OpenStream(ctx, p, c.Param("room"), cursor)
	if err != nil {
		h.fail(c, err)
		return
	}
	defer st.Close()

	w := c.Writer
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(frame []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := w.Write(frame)
		return err
	}
	flush := func() bool { return rc.Flush() == nil }
	if write([]byte("retry: 3000\n\n")) != nil || !flush() {
		return
	}
	last, err := st.Replay(ctx, write)
	if err != nil || !flush() {
		return
	}

	ping := time.NewTicker(h.PingInterval)
	defer ping.Stop()
	expiry := time.NewTimer(time.Until(p.ExpiresAt))
	defer expiry.Stop()
	// send writes a live event unless replay already covered it.
	send := func(ev *rooms.Event) error {
		if ev.ID != 0 && ev.ID <= last {
			return nil
		}
		last = max(last, ev.ID)
		return write(ev.Frame)
	}
	for {
		select {
		case ev := <-st.Events():
			if send(ev) != nil {
				return
			}
			// Write whatever else is queued before one flush.
			for more := true; more; {
				select {
				case ev := <-st.Events():
					if send(ev) != nil {
						return
					}
				default:
					more = false
				}
			}
			if !flush() {
				return
			}
		case <-ping.C:
			if write([]byte(": ping\n\n")) != nil || !flush() {
				return
			}
		case <-expiry.C:
			_ = write(rooms.TokenExpiredFrame())
			flush()
			return
		case <-st.Done():
			if st.Reason() == rooms.EndRoomGone {
				// Deliver the room.left / room.deleted that ended this one-room stream.
				for {
					select {
					case ev := <-st.Events():
						if send(ev) != nil {
							return
						}
					default:
						flush()
						return
					}
				}
			}
			return
		case <-ctx.Done():
			return
		case <-h.Shutdown:
			return
		}
	}
}
