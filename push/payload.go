package push

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"parley/rooms"
)

// recordSize pads every push to the same length, so its size tells a push
// service nothing about the message.
const recordSize = 2048

// previewLen bounds the text of a message carried in a push.
const previewLen = 120

// Payload is what a push carries: no more than the notification shows.
type Payload struct {
	RoomID    string `json:"room_id"`
	RoomName  string `json:"room_name,omitempty"` // empty for a direct message: its name is the author
	Kind      string `json:"kind"`
	MessageID string `json:"message_id"`
	Seq       int64  `json:"seq"`
	Author    string `json:"author"`
	Body      string `json:"body"`
	Mention   bool   `json:"mention,omitempty"` // the message mentions the recipient
}

func newPayload(room roomInfo, m rooms.MessageJSON, recipient string) []byte {
	p := Payload{RoomID: m.RoomID, Kind: room.Kind, MessageID: m.ID, Seq: m.Seq,
		Author: m.Author.DisplayName, Body: preview(m.Body)}
	if p.Author == "" {
		p.Author = m.Author.Username
	}
	if p.Body == "" && len(m.Attachments) > 0 {
		p.Body = preview("📎 " + m.Attachments[0].Name) // a photo or file sent without words
	}
	if room.Kind != rooms.KindDM {
		p.RoomName = room.Name
	}
	for _, id := range m.Mentions {
		p.Mention = p.Mention || id == recipient
	}
	raw, _ := json.Marshal(p) // plain strings and numbers
	return raw
}

// preview is the start of a message, on one line.
func preview(body string) string {
	line := strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(line) <= previewLen {
		return line
	}
	runes := []rune(line)
	return string(runes[:previewLen-1]) + "…"
}
