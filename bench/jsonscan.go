package bench

import (
	"bytes"
	"time"
)

// A few allocation-free helpers to pull fields out of the event payloads of
// tens of thousands of streams without decoding whole JSON documents.

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at or
// after b[i], or -1 if it is not complete.
func skipValue(b []byte, i int) int {
	i = skipWS(b, i)
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return -1
	case '{', '[':
		depth, inStr := 0, false
		for ; i < len(b); i++ {
			c := b[i]
			if inStr {
				if c == '\\' {
					i++
				} else if c == '"' {
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isWS(b[j]) {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// jsonField returns the raw value of key among the top-level members of the
// JSON object obj (nested objects are skipped whole), or nil.
func jsonField(obj []byte, key string) []byte {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipWS(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil
		}
		kEnd := skipValue(obj, i)
		if kEnd < 0 {
			return nil
		}
		k := obj[i+1 : kEnd-1]
		i = skipWS(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		vStart := skipWS(obj, i+1)
		vEnd := skipValue(obj, vStart)
		if vEnd < 0 {
			return nil
		}
		if string(k) == key {
			return obj[vStart:vEnd]
		}
		i = skipWS(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

// BenchMessage is what a subscriber needs from a message.created payload.
type BenchMessage struct {
	K         int64 // the tool's message number
	SentNs    int64 // when the poster sent it (unix ns)
	Seq       int64 // the room's sequence number (0 if absent)
	CreatedNs int64 // the message's created_at (unix ns, 0 if absent or unparsable)
}

var benchPrefix = []byte(`"bench k=`)

// ParseBenchMessage reads a message.created payload
// {"room_id":…,"message":{…,"seq":N,…,"body":"bench k=<k> t=<ns>",…,"created_at":"…"}}.
// ok is false when the body is not one of the tool's messages.
func ParseBenchMessage(data []byte) (m BenchMessage, ok bool) {
	msg := jsonField(data, "message")
	if msg == nil {
		return m, false
	}
	body := jsonField(msg, "body")
	if !bytes.HasPrefix(body, benchPrefix) {
		return m, false
	}
	rest := body[len(benchPrefix):]
	m.K, rest, ok = leadingInt(rest)
	if !ok || !bytes.HasPrefix(rest, []byte(" t=")) {
		return BenchMessage{}, false
	}
	m.SentNs, _, ok = leadingInt(rest[3:])
	if !ok {
		return BenchMessage{}, false
	}
	if v := jsonField(msg, "seq"); v != nil {
		m.Seq, _, _ = leadingInt(v)
	}
	if v := jsonField(msg, "created_at"); len(v) > 2 && v[0] == '"' {
		if t, err := time.Parse(time.RFC3339Nano, string(v[1:len(v)-1])); err == nil {
			m.CreatedNs = t.UnixNano()
		}
	}
	return m, true
}

func leadingInt(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19 {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	return n, b[i:], i > 0
}
