package rooms

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"parley/internal/fault"
)

// sseEvent is one event as a browser's EventSource dispatches it.
type sseEvent struct {
	lastID, name, data string
}

// parseSSE reads a complete text/event-stream exactly as the WHATWG HTML
// standard ("Interpreting an event stream") says, including its three line
// endings, so that it sees what a browser sees. An unterminated last line is
// dropped, as a browser drops it.
func parseSSE(stream []byte) []sseEvent {
	var events []sseEvent
	var lastID, name string
	var data strings.Builder
	for len(stream) > 0 {
		end := bytes.IndexAny(stream, "\r\n")
		if end < 0 {
			break
		}
		line := string(stream[:end])
		if stream[end] == '\r' && end+1 < len(stream) && stream[end+1] == '\n' {
			end++
		}
		stream = stream[end+1:]
		field, value, hasColon := strings.Cut(line, ":")
		if hasColon {
			value = strings.TrimPrefix(value, " ")
		}
		switch {
		case line == "":
			if data.Len() == 0 {
				name = ""
				continue
			}
			ev := sseEvent{lastID: lastID, name: name, data: strings.TrimSuffix(data.String(), "\n")}
			if ev.name == "" {
				ev.name = "message"
			}
			events = append(events, ev)
			name = ""
			data.Reset()
		case field == "":
			// a comment
		case field == "event":
			name = value
		case field == "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case field == "id" && !strings.Contains(value, "\x00"):
			lastID = value
		}
	}
	return events
}

// A frame is exactly one event with the data it was given, whatever the
// event name, the payload (line breaks, a forged "id:"/"event:" block) or the id.
func FuzzEncodeFrame(f *testing.F) {
	f.Add(int64(1), EvMessageCreated, []byte(`{"room_id":"r1","message":{"body":"hi"}}`))
	f.Add(int64(0), EvTokenExpired, []byte(`{}`))
	f.Add(int64(-5), "", []byte(""))
	f.Add(int64(1<<62), "a:b", []byte("\n"))
	f.Add(int64(7), "room.left\n\nevent: room.deleted", []byte(`{}`))
	f.Add(int64(7), EvMessageCreated, []byte("{}\n\nid: 99\nevent: room.deleted\ndata: {\"room_id\":\"r1\"}"))
	f.Add(int64(7), EvMessageCreated, []byte("a\rb\r\nc\n\r"))
	f.Add(int64(7), "x\ry", []byte("data: forged\r\r"))
	f.Fuzz(func(t *testing.T, id int64, name string, payload []byte) {
		frame := encodeFrame(id, name, payload)
		wantID := ""
		if id > 0 {
			wantID = strconv.FormatInt(id, 10)
		}
		wantName := strings.NewReplacer("\r", "", "\n", "").Replace(name)
		if wantName == "" {
			wantName = "message"
		}
		wantData := strings.ReplaceAll(strings.ReplaceAll(string(payload), "\r\n", "\n"), "\r", "\n")
		want := sseEvent{lastID: wantID, name: wantName, data: wantData}
		if got := parseSSE(frame); len(got) != 1 || got[0] != want {
			t.Fatalf("frame %q parses as %q, want exactly %q", frame, got, want)
		}
		// Followed by a ping and another frame, as on a stream: nothing of the
		// first leaks into the next event.
		next := encodeFrame(0, EvTokenExpired, []byte(`{}`))
		stream := append(append(append([]byte{}, frame...), ": ping\n\n"...), next...)
		got := parseSSE(stream)
		if len(got) != 2 || got[0] != want || got[1] != (sseEvent{lastID: wantID, name: EvTokenExpired, data: "{}"}) {
			t.Fatalf("stream %q parses as %q", stream, got)
		}
	})
}

// issuedCursor is every cursor the server writes: an event id in plain decimal.
var issuedCursor = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})$`)

// A Last-Event-ID is accepted only in the form the server writes, and
// anything else is a 400 naming the field, never a panic or a guess.
func FuzzParseCursor(f *testing.F) {
	for _, seed := range []string{"", "0", "1", "42", "9223372036854775807", "9223372036854775808",
		"-1", "+1", "01", "-0", " 1", "1 ", "1e3", "0x10", "१२", "１２", "12\x00", strings.Repeat("9", 200)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseCursor(raw)
		if err != nil {
			if fe, ok := fault.As(err); !ok || fe.Kind != fault.Invalid || fe.Field != "last_event_id" {
				t.Fatalf("ParseCursor(%q) failed with %v, want a last_event_id field fault", raw, err)
			}
			if issuedCursor.MatchString(raw) && len(raw) < 19 {
				t.Fatalf("ParseCursor(%q) refused a cursor the server could have issued", raw)
			}
			return
		}
		switch {
		case raw == "":
			if n != noCursor {
				t.Fatalf(`ParseCursor("") = %d, want live-only`, n)
			}
		case !issuedCursor.MatchString(raw) || strconv.FormatInt(n, 10) != raw:
			t.Fatalf("ParseCursor(%q) accepted it as %d", raw, n)
		}
	})
}
