package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"parley/internal/fault"
)

// maxBodyBytes bounds a request body; a batch of messages may be larger
// (100 messages of 4,000 characters, escaped).
const (
	maxBodyBytes      = 1 << 20
	maxBatchBodyBytes = 4 << 20
)

// bindJSON decodes the request body into dst strictly: JSON content type, at
// most 1 MiB, one object, no unknown fields.
func bindJSON(c *gin.Context, dst any) error { return bindJSONUpTo(c, dst, maxBodyBytes) }

// bindJSONUpTo is bindJSON for a body of at most limit bytes.
func bindJSONUpTo(c *gin.Context, dst any, limit int64) error {
	if ct := c.GetHeader("Content-Type"); ct != "application/json" { // the usual header needs no parsing
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fault.New(fault.Unsupported, "send the body as Content-Type: application/json")
		}
	}
	raw, err := readBody(http.MaxBytesReader(c.Writer, c.Request.Body, limit), c.Request.ContentLength, limit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.New(fault.TooLarge, fmt.Sprintf("the body is larger than %d MiB", limit>>20))
		}
		return fault.New(fault.Invalid, "could not read the body")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
		return fault.New(fault.Invalid, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeFault(err)
	}
	// Only white space may follow the object (checked in place: the
	// decoder's More and Token cost more than the rest of the decode).
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) != 0 {
		return fault.New(fault.Invalid, "the body must be a single JSON object")
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		if field, ok := nulAt(raw); ok {
			return fault.Field(field, nulMessage)
		}
	}
	return nil
}

// readBody reads a body into a buffer of its declared length, when it
// declares one within limit (io.ReadAll would start at 512 bytes and grow):
// net/http ends the body at that length.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	raw := make([]byte, length)
	_, err := io.ReadFull(r, raw)
	return raw, err
}

// NUL characters are refused in any text: no field needs one, and
// PostgreSQL cannot store one, so both databases answer alike.
const nulMessage = "must not contain NUL characters (U+0000)"

var errNUL = fault.New(fault.Invalid, "the path and query must not contain NUL characters (%00)")

// nulAt finds a NUL in a JSON value's keys or strings and names where, as
// fields are named in errors (admin.display_name, messages[2].body). The
// escape seen in the raw body may also be a literal backslash and "u0000".
func nulAt(raw []byte) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	var walk func(path string, v any) (string, bool)
	walk = func(path string, v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return path, strings.ContainsRune(v, 0)
		case []any:
			for i, e := range v {
				if p, ok := walk(fmt.Sprintf("%s[%d]", path, i), e); ok {
					return p, true
				}
			}
		case map[string]any:
			for k, e := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if strings.ContainsRune(k, 0) {
					return p, true
				}
				if p, ok := walk(p, e); ok {
					return p, true
				}
			}
		}
		return "", false
	}
	return walk("", v)
}

// refuseNUL refuses a path or query with a NUL character (%00), for the
// same reason.
func (h *handlers) refuseNUL(c *gin.Context) {
	if strings.ContainsRune(c.Request.URL.Path, 0) || strings.Contains(c.Request.URL.RawQuery, "%00") {
		h.fail(c, errNUL)
		c.Abort()
		return
	}
	c.Next()
}

// bindOptionalJSON is bindJSON for a body that may be left out altogether.
func bindOptionalJSON(c *gin.Context, dst any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return bindJSON(c, dst)
}

func decodeFault(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fault.Field(typeErr.Field, "must be "+jsonKind(typeErr.Type))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.Invalid, "the body is not valid JSON")
	case errors.Is(err, io.EOF):
		return fault.New(fault.Invalid, "the body is empty")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.Field(shorten(field, 64), "is not a known field")
	}
	return fault.New(fault.Invalid, fmt.Sprintf("the body could not be read: %v", err))
}

// jsonKind names what a field of Go type t takes, in JSON's terms.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// shorten cuts s to at most n bytes on a character boundary: a client's
// unknown field name is echoed back, but not at any length.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(c *gin.Context, name string, def, lo, hi int64) (int64, error) {
	raw, ok := c.GetQuery(name)
	if !ok || raw == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fault.Field(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}
