package auth

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"parley/internal/fault"
)

var (
	slugPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}$`)
	usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,32}$`)
)

const (
	minPasswordLen = 8
	maxPasswordLen = 72 // bcrypt ignores bytes past 72; refuse rather than silently truncate
	maxNameLen     = 64
	maxSecretLen   = 256 // refresh tokens and invite codes are far shorter
)

// Tenant roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Signup policies.
const (
	SignupOpen   = "open"
	SignupInvite = "invite"
	SignupClosed = "closed"
)

// checkSlug checks a tenant slug sent in the request field named field.
func checkSlug(field, slug string) error {
	if !slugPattern.MatchString(slug) {
		return fault.Field(field, "must match ^[a-z0-9][a-z0-9-]{1,38}$")
	}
	return nil
}

func checkUsername(name string) error {
	if !usernamePattern.MatchString(name) {
		return fault.Field("username", "must be 3 to 32 letters, digits, '_', '.' or '-'")
	}
	return nil
}

func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < minPasswordLen {
		return fault.Field("password", "must be at least 8 characters")
	}
	if len(pw) > maxPasswordLen {
		return fault.Field("password", "must be at most 72 bytes")
	}
	return nil
}

// checkLogin checks the shape of log-in credentials. No account can match
// malformed ones, and saying so reveals nothing about which accounts exist.
func checkLogin(slug, username, password string) error {
	if err := checkSlug("tenant", slug); err != nil {
		return err
	}
	if err := checkUsername(username); err != nil {
		return err
	}
	if password == "" {
		return fault.Field("password", "is required")
	}
	if len(password) > maxPasswordLen {
		return fault.Field("password", "must be at most 72 bytes")
	}
	return nil
}

// checkSecret checks an opaque secret the client hands back (a refresh token,
// an invite code): present if required, and not absurdly long.
func checkSecret(field, secret string, required bool) error {
	if secret == "" && required {
		return fault.Field(field, "is required")
	}
	if len(secret) > maxSecretLen {
		return fault.Field(field, "is too long")
	}
	return nil
}

// cleanName trims a display or tenant name and checks its length.
func cleanName(field, name string, required bool) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" && required {
		return "", fault.Field(field, "is required")
	}
	if utf8.RuneCountInString(name) > maxNameLen {
		return "", fault.Field(field, "must be at most 64 characters")
	}
	return name, nil
}

func checkTenantRole(role string) error {
	switch role {
	case RoleOwner, RoleAdmin, RoleMember:
		return nil
	}
	return fault.Field("role", "must be owner, admin or member")
}

func checkSignupPolicy(p string) error {
	switch p {
	case SignupOpen, SignupInvite, SignupClosed:
		return nil
	}
	return fault.Field("signup_policy", "must be open, invite or closed")
}
