package rooms

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// messagePayload, put together by hand around the message's JSON, is
// exactly what encoding/json makes of the same shape, whatever the room id.
func TestMessagePayloadIsWhatEncodingJSONWrites(t *testing.T) {
	msg := MessageJSON{ID: "m1", Body: `<b>"hi" & bye</b>` + "\u2028", CreatedAt: time.Unix(1, 5).UTC(),
		Mentions: []string{}, Reactions: []ReactionJSON{}}
	for _, roomID := range []string{
		"0193b1c2-7f3e-7a1b-9c2d-3e4f5a6b7c8d", "", `a"b\c`, "<x>&y", "é", "\u2028", "\x00\n\t", "\xff",
	} {
		encoded := encodeMessage(&msg)
		want, err := json.Marshal(struct {
			RoomID  string      `json:"room_id"`
			Message MessageJSON `json:"message"`
		}{roomID, msg})
		if err != nil {
			t.Fatal(err)
		}
		if got := messagePayload(roomID, encoded); !bytes.Equal(got, want) {
			t.Errorf("room %q:\n got %s\nwant %s", roomID, got, want)
		}
		if !bytes.Equal(msg.Encoded(), encoded) {
			t.Errorf("Encoded() is not what encodeMessage returned")
		}
	}
}
