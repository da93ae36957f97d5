package auth

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"parley/internal/fault"
)

var (
	slugPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}$`)
	usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,32}$`)
)

const (
	minPasswordLen = 8
	maxPasswordLen = 72  // bcrypt ignores bytes past 72; refuse rather than silently truncate
	MaxNameLen     = 64  // display, workspace and API key names
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

// CleanName is the one check for every name a person chooses (display,
// workspace, room and API key names, room topics): it normalises the text to
// NFC, trims it, and refuses control and invisible formatting characters
// (NUL, CR/LF, bidi overrides such as U+202E, zero-width characters), which
// could forge lines in logs, reorder what others read or make two different
// names look the same. maxLen counts characters after normalising.
func CleanName(field, name string, maxLen int, required bool) (string, error) {
	if !utf8.ValidString(name) {
		return "", fault.Field(field, "is not valid UTF-8")
	}
	name = norm.NFC.String(name)
	// Checked before trimming: a line break at either end is refused too,
	// not quietly dropped.
	runes := []rune(name)
	for i, r := range runes {
		if invisible(r) && !(r == zeroWidthJoiner && joinsEmoji(runes, i)) {
			return "", fault.Field(field, fmt.Sprintf("must not contain control or invisible formatting characters (found U+%04X)", r))
		}
	}
	name = strings.TrimSpace(name)
	if name == "" && required {
		return "", fault.Field(field, "is required")
	}
	if n := utf8.RuneCountInString(name); n > maxLen {
		return "", fault.Field(field, fmt.Sprintf("must be at most %d characters", maxLen))
	}
	return name, nil
}

const (
	zeroWidthJoiner   = '\u200d'
	emojiPresentation = '\ufe0f'
)

// invisible reports characters that are not shown as themselves: controls,
// format characters (bidi controls, zero-width spaces and joiners, the BOM),
// line and paragraph separators, private-use characters and the other
// default-ignorable fillers (e.g. U+3164, which looks like nothing at all).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point)
}

// joinsEmoji reports whether the zero-width joiner at runes[i] glues two
// emoji into one (as in a family or a profession emoji), its only use in a
// name; between letters it would only hide a difference.
func joinsEmoji(runes []rune, i int) bool {
	if i == 0 || i == len(runes)-1 {
		return false
	}
	prev, next := runes[i-1], runes[i+1]
	return (unicode.In(prev, unicode.So, unicode.Sk) || prev == emojiPresentation) && unicode.Is(unicode.So, next)
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
