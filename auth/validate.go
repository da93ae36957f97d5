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

func checkSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return fault.Field("slug", "must match ^[a-z0-9][a-z0-9-]{1,38}$")
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
