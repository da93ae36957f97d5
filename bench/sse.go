package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Event is one dispatched server-sent event. Its byte slices are only valid
// until the next call to Next.
type Event struct {
	ID   []byte // the last event ID seen on the stream (persists across events)
	Type []byte // "message" when the event had no event: line
	Data []byte // data: lines joined with "\n"
}

// SSEReader parses a text/event-stream per the WHATWG rules that matter here:
// `field: value` lines (one leading space stripped), `:` comment lines ignored,
// multiple data lines joined with "\n", dispatch on a blank line, an event with
// no data is not dispatched, an incomplete event at EOF is dropped. Lines end in
// LF or CRLF. It allocates nothing per event once its buffers have grown.
type SSEReader struct {
	br       *bufio.Reader
	line     []byte // scratch for lines longer than br's buffer
	data     []byte
	evType   []byte
	id       []byte
	hasType  bool
	Retry    int // last retry: value in ms, 0 if none
	Comments int // comment lines seen (e.g. ": ping")
	Lines    int // lines read, of any kind
}

// NewSSEReader reads events from br.
func NewSSEReader(br *bufio.Reader) *SSEReader {
	return &SSEReader{br: br}
}

var defaultType = []byte("message")

// ErrLineTooLong is returned for a line longer than 1 MiB.
var ErrLineTooLong = errors.New("sse: line too long")

const maxLine = 1 << 20

func (r *SSEReader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if err == nil {
		return trimEOL(b), nil
	}
	if err != bufio.ErrBufferFull {
		if err == io.EOF && len(b) > 0 {
			// Trailing line without its end: the event it belongs to cannot be
			// complete, so it is dropped with the stream.
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.line = append(r.line[:0], b...)
	for {
		b, err = r.br.ReadSlice('\n')
		r.line = append(r.line, b...)
		if len(r.line) > maxLine {
			return nil, ErrLineTooLong
		}
		if err == nil {
			return trimEOL(r.line), nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Next returns the next dispatched event, or the read error (io.EOF when the
// stream ends cleanly between events).
func (r *SSEReader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		r.Lines++
		if len(line) == 0 {
			if len(r.data) == 0 {
				r.hasType = false
				r.evType = r.evType[:0]
				continue
			}
			ev := Event{ID: r.id, Data: r.data[:len(r.data)-1], Type: defaultType}
			if r.hasType && len(r.evType) > 0 {
				ev.Type = r.evType
			}
			r.data = r.data[:0]
			r.hasType = false
			return ev, nil
		}
		if line[0] == ':' {
			r.Comments++
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			r.data = append(r.data, value...)
			r.data = append(r.data, '\n')
		case "event":
			r.evType = append(r.evType[:0], value...)
			r.hasType = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = append(r.id[:0], value...)
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				r.Retry = n
			}
		}
	}
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
