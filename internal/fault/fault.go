// Package fault describes failures that a client caused or may see, by kind.
// Domain packages return them (wrapped with %w as they travel up); the api
// package turns each kind into one HTTP status and error code, in one place.
package fault

import (
	"errors"
	"time"
)

// Kind says what went wrong, independent of transport.
type Kind int

const (
	Invalid Kind = iota + 1
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	TooLarge
	Unsupported
	RateLimited
	Unavailable
	QuotaExceeded  // a cap on how many of something an owner may have (rooms, users, keys...)
	TooManyStreams // the user already has as many event streams open as allowed
)

// Error is a failure to report to the client as it is.
type Error struct {
	Kind       Kind
	Message    string
	Field      string        // the request field at fault, for Invalid
	RetryAfter time.Duration // for RateLimited and TooManyStreams
	Limit      string        // the setting of the limit that refused the request, for metrics
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// New returns an error of the given kind.
func New(kind Kind, message string) *Error { return &Error{Kind: kind, Message: message} }

// Field returns an Invalid error about one request field.
func Field(field, message string) *Error {
	return &Error{Kind: Invalid, Field: field, Message: message}
}

// OverLimit returns an error of kind (QuotaExceeded, TooManyStreams or
// RateLimited) for the limit named by its setting.
func OverLimit(kind Kind, limit, message string) *Error {
	return &Error{Kind: kind, Limit: limit, Message: message}
}

// As finds the *Error in err's chain.
func As(err error) (*Error, bool) {
	if err == nil { // no fault, and no allocation for errors.As's target
		return nil, false
	}
	var fe *Error
	ok := errors.As(err, &fe)
	return fe, ok
}

// Is reports whether err carries a fault of this kind.
func Is(err error, kind Kind) bool {
	fe, ok := As(err)
	return ok && fe.Kind == kind
}
