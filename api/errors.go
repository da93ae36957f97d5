// Package api holds Parley's HTTP handlers: thin Gin functions that parse a
// request, call one domain function and render its result or its error.
package api

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"parley/internal/fault"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf maps each fault kind to its HTTP status and error code: the one
// place where domain errors meet HTTP.
var statusOf = map[fault.Kind]struct {
	status int
	code   string
}{
	fault.Invalid:         {http.StatusBadRequest, "invalid_request"},
	fault.Unauthenticated: {http.StatusUnauthorized, "unauthenticated"},
	fault.Forbidden:       {http.StatusForbidden, "forbidden"},
	fault.NotFound:        {http.StatusNotFound, "not_found"},
	fault.Conflict:        {http.StatusConflict, "conflict"},
	fault.TooLarge:        {http.StatusRequestEntityTooLarge, "too_large"},
	fault.Unsupported:     {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	fault.RateLimited:     {http.StatusTooManyRequests, "rate_limited"},
	fault.Unavailable:     {http.StatusServiceUnavailable, "unavailable"},
	fault.QuotaExceeded:   {http.StatusForbidden, "quota_exceeded"},
	fault.TooManyStreams:  {http.StatusTooManyRequests, "too_many_streams"},
}

// fail renders err as the API's JSON error and stops the request.
func fail(c *gin.Context, log *slog.Logger, err error) {
	fe, ok := fault.As(err)
	if !ok {
		log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "request_id", requestIDOf(c), "err", err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{errorDetail{"internal", "something went wrong on our side", ""}})
		return
	}
	m := statusOf[fe.Kind]
	switch fe.Kind {
	case fault.RateLimited, fault.TooManyStreams:
		c.Header("Retry-After", strconv.Itoa(max(1, int(fe.RetryAfter.Seconds()))))
	case fault.Unauthenticated:
		c.Header("WWW-Authenticate", `Bearer realm="parley"`)
	}
	c.AbortWithStatusJSON(m.status, errorBody{errorDetail{m.code, fe.Message, fe.Field}})
}

// notFoundRoute answers unknown paths.
func notFoundRoute(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusNotFound, errorBody{errorDetail{"not_found", "no such endpoint or file", ""}})
}

func methodNotAllowed(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{errorDetail{"method_not_allowed", "this endpoint does not take " + c.Request.Method, ""}})
}
