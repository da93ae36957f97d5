package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// anyBody has a field of every kind the handlers' request bodies use.
type anyBody struct {
	Name     string   `json:"name"`
	Topic    *string  `json:"topic"`
	Archived *bool    `json:"archived"`
	Seq      int64    `json:"seq"`
	Limit    *int64   `json:"limit"`
	Scopes   []string `json:"scopes"`
	Admin    struct {
		Username string `json:"username"`
	} `json:"admin"`
	Keys *struct {
		Auth string `json:"auth"`
	} `json:"keys"`
}

// bindOutcome runs bindJSON on one request and renders its error as a
// handler would: the status and error body a client gets (200 if accepted).
func bindOutcome(contentType string, body []byte) (int, errorBody) {
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	c.Request.Header.Set("Content-Type", contentType)
	var dst anyBody
	if err := bindJSON(c, &dst); err != nil {
		fail(c, slog.New(slog.NewTextHandler(io.Discard, nil)), err)
		var out errorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	return http.StatusOK, errorBody{}
}

// checkRefusal holds for every refused body: a client error with a code and
// a message that shows no Go internals.
func checkRefusal(t *testing.T, body []byte, status int, out errorBody) {
	t.Helper()
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		t.Fatalf("body %q: status %d, want 400, 413 or 415", body, status)
	}
	msg := out.Error.Message
	if out.Error.Code == "" || msg == "" || strings.Contains(msg, "struct") || strings.Contains(msg, "api.") || len(out.Error.Field) > 70 {
		t.Fatalf("body %q: error %+v", body, out.Error)
	}
}

// Whatever the body, bindJSON accepts one JSON object of known fields or
// answers a 4xx fault; it never panics and never a 500.
func FuzzBindJSON(f *testing.F) {
	gin.SetMode(gin.TestMode)
	for _, seed := range []string{
		`{"name":"a","topic":null,"archived":true,"seq":3,"limit":5,"scopes":["x"],"admin":{"username":"u"},"keys":{"auth":"k"}}`,
		`{}`, ``, ` `, `null`, `[]`, `"x"`, `1`, `{"name":1}`, `{"admin":"x"}`, `{"scopes":"x"}`, `{"seq":1.5}`,
		`{"seq":1e400}`, `{"seq":-9223372036854775809}`, `{"archived":"yes"}`, `{"nope":1}`, `{"NAME":"case"}`,
		`{"name":"a","name":"b"}`, `{} {}`, `{}x`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}", `{"keys":{"auth":{}}}`,
		`{"a` + strings.Repeat("b", 500) + `":1}`, strings.Repeat(`{"keys":`, 50), `{"scopes":` + strings.Repeat("[", 20000) + `}`,
	} {
		f.Add("application/json", []byte(seed))
	}
	f.Add("application/json; charset=utf-8", []byte(`{}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("", []byte(`{}`))
	f.Add("application/json; a=", []byte(`{}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		status, out := bindOutcome(contentType, body)
		if status != http.StatusOK {
			checkRefusal(t, body, status, out)
			return
		}
		if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			t.Fatalf("accepted %q, which is not one JSON object", body)
		}
	})
}

// Bodies too big or too deep for the fuzzer to build are refused as cleanly.
func TestBindJSONRefusesHostileBodies(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tests := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"just over 1 MiB", `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, ""},
		{"arrays nested 100,000 deep", `{"scopes":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, http.StatusBadRequest, ""},
		{"objects nested 50,000 deep", strings.Repeat(`{"a":`, 50000) + `1` + strings.Repeat("}", 50000), http.StatusBadRequest, ""},
		{"a million-digit number", `{"seq":` + strings.Repeat("9", 1000000) + `}`, http.StatusBadRequest, "seq"},
		{"a huge unknown field name", `{"` + strings.Repeat("x", 900000) + `":1}`, http.StatusBadRequest, strings.Repeat("x", 64) + "…"},
		{"an array body", `[{"name":"a"}]`, http.StatusBadRequest, ""},
		{"null", `null`, http.StatusBadRequest, ""},
		{"an object where a string goes", `{"name":{}}`, http.StatusBadRequest, "name"},
		{"a string where an object goes", `{"admin":"root"}`, http.StatusBadRequest, "admin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := bindOutcome("application/json", []byte(tc.body))
			if status != tc.status || out.Error.Field != tc.field {
				t.Fatalf("status %d, error %+v; want %d with field %q", status, out.Error, tc.status, tc.field)
			}
			checkRefusal(t, []byte(tc.body[:min(len(tc.body), 80)]), status, out)
		})
	}
}
