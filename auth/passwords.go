package auth

import (
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes and checks passwords with bcrypt (salted, slow by design).
type Passwords struct {
	cost  int
	dummy []byte // compared against when the user does not exist, to equalise timing
}

// NewPasswords returns a hasher of the given bcrypt cost.
func NewPasswords(cost int) *Passwords {
	dummy, _ := bcrypt.GenerateFromPassword([]byte("parley-timing-equaliser"), cost)
	return &Passwords{cost: cost, dummy: dummy}
}

// Hash returns the salted hash of password.
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	return string(h), err
}

// Check reports whether password matches hash; an empty hash (a user without a
// password) never matches but takes as long as a real check.
func (p *Passwords) Check(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return err == nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)
}
