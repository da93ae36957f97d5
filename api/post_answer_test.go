package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"parley/internal/testkit"
	"parley/rooms"
)

// The answer to a new post is the very JSON its message.created event
// carries (encoded once, at the write), and exactly what encoding the
// message for the answer would give; a retry answers the same message.
func TestPostAnswerIsTheMessageItsEventCarries(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "wire", "public")
	st := s.Open(t, "/api/v1/rooms/"+r.ID+"/events", alice.Token, "")
	defer st.Close()
	path := "/api/v1/rooms/" + r.ID + "/messages"
	var first message
	for i, tc := range []struct {
		name  string
		body  map[string]string
		reply bool // answers the first message
	}{
		{"plain", map[string]string{"body": "hello"}, false},
		{"html and quotes", map[string]string{"body": `<b>"fish" & chips</b>`, "client_id": "html-1"}, false},
		{"line breaks and separators", map[string]string{"body": "one\ntwo\u2028three\u2029", "client_id": "lines"}, false},
		{"wide and emoji", map[string]string{"body": "你好 👋 @alice", "client_id": "你好"}, false},
		{"reply", map[string]string{"body": "answering"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reply {
				tc.body["reply_to"] = first.ID
			}
			got := s.Do(t, "POST", path, alice.Token, tc.body)
			if got.Status != http.StatusCreated {
				t.Fatalf("status %d %s", got.Status, got.Body)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			var ev struct {
				RoomID  string          `json:"room_id"`
				Message json.RawMessage `json:"message"`
			}
			st.NextNamed(t, "message.created", wait).Decode(t, &ev)
			if ev.RoomID != r.ID || !bytes.Equal(ev.Message, got.Body) {
				t.Fatalf("the answer\n%s\nis not the event's message\n%s", got.Body, ev.Message)
			}
			var m rooms.MessageJSON
			got.Decode(t, &m)
			if tc.reply && (m.ReplyTo == nil || m.ReplyTo.ID != first.ID) {
				t.Fatalf("reply_to not shown: %s", got.Body)
			}
			if again, _ := json.Marshal(m); !bytes.Equal(again, got.Body) {
				t.Fatalf("the answer\n%s\nis not the message encoded\n%s", got.Body, again)
			}
			if i == 0 {
				got.Decode(t, &first)
			}
			if tc.body["client_id"] == "" {
				return
			}
			retry := s.Do(t, "POST", path, alice.Token, tc.body)
			var again rooms.MessageJSON
			retry.Decode(t, &again)
			if retry.Status != http.StatusOK || again.ID != m.ID || again.Body != m.Body || !again.CreatedAt.Equal(m.CreatedAt) {
				t.Fatalf("retry: %d %s after %s", retry.Status, retry.Body, got.Body)
			}
		})
	}
}
