package bench

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

type gotEvent struct{ id, typ, data string }

func readAll(t *testing.T, input string, bufSize int) ([]gotEvent, *SSEReader, error) {
	t.Helper()
	r := NewSSEReader(bufio.NewReaderSize(strings.NewReader(input), bufSize))
	var out []gotEvent
	for {
		ev, err := r.Next()
		if err != nil {
			return out, r, err
		}
		out = append(out, gotEvent{string(ev.ID), string(ev.Type), string(ev.Data)})
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name     string
		input    string
		want     []gotEvent
		wantErr  error
		retry    int
		comments int
	}{
		{
			name:  "parley stream",
			input: "retry: 3000\n\nid: c1\nevent: message.created\ndata: {\"seq\":1}\n\n: ping\n\nid: c2\nevent: room.updated\ndata: {}\n\n",
			want: []gotEvent{
				{"c1", "message.created", `{"seq":1}`},
				{"c2", "room.updated", "{}"},
			},
			wantErr: io.EOF, retry: 3000, comments: 1,
		},
		{
			name:    "default type and multi-line data",
			input:   "data: a\ndata: b\ndata\n\n",
			want:    []gotEvent{{"", "message", "a\nb\n"}},
			wantErr: io.EOF,
		},
		{
			name:    "crlf line endings",
			input:   "id: 7\r\nevent: x\r\ndata: y\r\n\r\n",
			want:    []gotEvent{{"7", "x", "y"}},
			wantErr: io.EOF,
		},
		{
			name:    "no space after colon, only one space stripped",
			input:   "data:a\n\ndata:  b\n\n",
			want:    []gotEvent{{"", "message", "a"}, {"", "message", " b"}},
			wantErr: io.EOF,
		},
		{
			name:    "event without data is not dispatched and its type is reset",
			input:   "event: lonely\n\ndata: z\n\n",
			want:    []gotEvent{{"", "message", "z"}},
			wantErr: io.EOF,
		},
		{
			name:    "id persists across events",
			input:   "id: a\ndata: 1\n\ndata: 2\n\n",
			want:    []gotEvent{{"a", "message", "1"}, {"a", "message", "2"}},
			wantErr: io.EOF,
		},
		{
			name:    "id with NUL is ignored",
			input:   "id: a\x00b\ndata: 1\n\n",
			want:    []gotEvent{{"", "message", "1"}},
			wantErr: io.EOF,
		},
		{
			name:    "unknown fields and bad retry ignored",
			input:   "foo: bar\nretry: 12x\ndata: 1\n\n",
			want:    []gotEvent{{"", "message", "1"}},
			wantErr: io.EOF,
		},
		{
			name:    "line longer than the buffer",
			input:   "event: big\ndata: " + long + "\n\n",
			want:    []gotEvent{{"", "big", long}},
			wantErr: io.EOF,
		},
		{
			name:    "incomplete event at EOF is dropped",
			input:   "data: done\n\ndata: half\n",
			want:    []gotEvent{{"", "message", "done"}},
			wantErr: io.EOF,
		},
		{
			name:    "truncated line at EOF",
			input:   "data: done\n\ndata: ha",
			want:    []gotEvent{{"", "message", "done"}},
			wantErr: io.ErrUnexpectedEOF,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, r, err := readAll(t, tc.input, 16)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
			if r.Retry != tc.retry {
				t.Errorf("retry = %d, want %d", r.Retry, tc.retry)
			}
			if r.Comments != tc.comments {
				t.Errorf("comments = %d, want %d", r.Comments, tc.comments)
			}
		})
	}
}

func TestParseBenchMessage(t *testing.T) {
	const real = `{"room_id":"r1","message":{"id":"m1","room_id":"r1","seq":42,"author":{"id":"u","username":"u1","display_name":"A \\\"quoted\\\" {brace}","role":"member","disabled":false,"created_at":"2020-01-01T00:00:00Z"},"body":"bench k=17 t=1764090000123456789","client_id":"bench-17","created_at":"2026-11-25T19:00:00.123456789Z"}}`
	created := time.Date(2026, 11, 25, 19, 0, 0, 123456789, time.UTC).UnixNano()
	tests := []struct {
		name string
		data string
		want BenchMessage
		ok   bool
	}{
		{"parley payload (author's created_at is skipped)", real, BenchMessage{17, 1764090000123456789, 42, created}, true},
		{"whitespace", `{ "message" : { "seq" : 5 , "body" : "bench k=1 t=2" } }`, BenchMessage{1, 2, 5, 0}, true},
		{"field order", `{"message":{"created_at":"2026-11-25T19:00:00.123456789Z","body":"bench k=1 t=2","seq":9},"room_id":"r"}`, BenchMessage{1, 2, 9, created}, true},
		{"no seq", `{"message":{"body":"bench k=1 t=2"}}`, BenchMessage{1, 2, 0, 0}, true},
		{"bad created_at", `{"message":{"body":"bench k=1 t=2","created_at":"yesterday"}}`, BenchMessage{1, 2, 0, 0}, true},
		{"body text elsewhere only", `{"message":{"seq":3,"body":"hello","client_id":"bench k=1 t=2"}}`, BenchMessage{}, false},
		{"not a bench body", `{"message":{"seq":3,"body":"hello"}}`, BenchMessage{}, false},
		{"no time", `{"message":{"seq":3,"body":"bench k=3"}}`, BenchMessage{}, false},
		{"empty number", `{"message":{"body":"bench k= t=5"}}`, BenchMessage{}, false},
		{"no message", `{"room":{"id":"r"}}`, BenchMessage{}, false},
		{"truncated", `{"message":{"body":"bench k=1 t=2"`, BenchMessage{}, false},
		{"not json", `bench k=1 t=2`, BenchMessage{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseBenchMessage([]byte(tc.data))
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestJSONField(t *testing.T) {
	obj := `{"a":1,"b":{"a":2,"c":[1,{"a":3}]},"s":"x\"y}","t":true,"n":null,"last":"z"}`
	tests := []struct {
		key, want string
	}{
		{"a", "1"},
		{"b", `{"a":2,"c":[1,{"a":3}]}`},
		{"s", `"x\"y}"`},
		{"t", "true"},
		{"n", "null"},
		{"last", `"z"`},
		{"c", ""},
	}
	for _, tc := range tests {
		if got := string(jsonField([]byte(obj), tc.key)); got != tc.want {
			t.Errorf("jsonField(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if jsonField([]byte(`[1,2]`), "a") != nil {
		t.Error("non-object should give nil")
	}
}
