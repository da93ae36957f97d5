package auth

import (
	"strings"
	"testing"

	"parley/internal/fault"
)

func TestCheckSlug(t *testing.T) {
	for slug, ok := range map[string]bool{
		"acme": true, "a1": true, "9lives": true, "my-team": true, "a-": true,
		strings.Repeat("a", 39): true, strings.Repeat("a", 40): false,
		"": false, "a": false, "-acme": false, "Acme": false, "ac_me": false, "ac me": false,
		"acmé": false, "acme\n": false,
	} {
		if err := checkSlug("slug", slug); (err == nil) != ok {
			t.Errorf("checkSlug(%q) = %v, want ok=%v", slug, err, ok)
		}
	}
}

func TestCheckUsername(t *testing.T) {
	for name, ok := range map[string]bool{
		"bob": true, "Bob_O.Neil-2": true, strings.Repeat("x", 32): true,
		"": false, "ab": false, strings.Repeat("x", 33): false, "bob smith": false,
		"bob@example": false, "böb": false, "bob\n": false,
	} {
		err := checkUsername(name)
		if (err == nil) != ok {
			t.Errorf("checkUsername(%q) = %v, want ok=%v", name, err, ok)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("checkUsername(%q): %v is not an Invalid fault", name, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"12345678": true, "ééééééé1": true, strings.Repeat("p", 72): true,
		"": false, "1234567": false, strings.Repeat("p", 73): false,
		strings.Repeat("é", 37): false, // 74 bytes: bcrypt would ignore the tail
	} {
		if err := checkPassword(pw); (err == nil) != ok {
			t.Errorf("checkPassword(%d bytes) = %v, want ok=%v", len(pw), err, ok)
		}
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in       string
		required bool
		want     string
		ok       bool
	}{
		{"  Acme  ", true, "Acme", true},
		{"   ", true, "", false},
		{"", false, "", true},
		{strings.Repeat("ü", 64), true, strings.Repeat("ü", 64), true},
		{strings.Repeat("ü", 65), true, "", false},
		{"Zoe\u0308", true, "Zoë", true},                                     // NFC: e + combining diaeresis becomes ë
		{strings.Repeat("e\u0301", 64), true, strings.Repeat("é", 64), true}, // counted after normalising
		{"张伟 Wei", true, "张伟 Wei", true},
		{"Ana 👩🏽\u200d💻", true, "Ana 👩🏽\u200d💻", true}, // a joiner inside an emoji sequence
		{"🏳\ufe0f\u200d🌈", true, "🏳\ufe0f\u200d🌈", true},
		{"ad\x00min", true, "", false},
		{"ad\nmin", true, "", false},
		{"ad\rmin", true, "", false},
		{"tab\there", true, "", false},
		{"evil\u202Egnp.exe", true, "", false}, // right-to-left override
		{"\u2066isolate\u2069", true, "", false},
		{"ali\u200bce", true, "", false}, // zero-width space
		{"ali\u200dce", true, "", false}, // a joiner between letters hides a difference
		{"\u200d👩", true, "", false},
		{"ali\ufeffce", true, "", false}, // BOM / zero-width no-break space
		{"ali\u00adce", true, "", false}, // soft hyphen
		{"\u3164", true, "", false},      // Hangul filler: a name that looks empty
		{"line\u2028break", true, "", false},
		{"private\ue000", true, "", false},
		{"bad\xffutf8", true, "", false},
	}
	for _, tc := range tests {
		got, err := CleanName("name", tc.in, MaxNameLen, tc.required)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanName(%q, %v) = %q, %v", tc.in, tc.required, got, err)
		}
		if fe, ok := fault.As(err); err != nil && (!ok || fe.Field != "name" || fe.Kind != fault.Invalid) {
			t.Errorf("CleanName(%q): %v is not an Invalid fault naming the field", tc.in, err)
		}
	}
}

func TestCheckRolesAndPolicies(t *testing.T) {
	for _, r := range []string{RoleOwner, RoleAdmin, RoleMember} {
		if checkTenantRole(r) != nil {
			t.Errorf("role %q refused", r)
		}
	}
	for _, r := range []string{"", "root", "Admin"} {
		if checkTenantRole(r) == nil {
			t.Errorf("role %q accepted", r)
		}
	}
	for _, p := range []string{SignupOpen, SignupInvite, SignupClosed} {
		if checkSignupPolicy(p) != nil {
			t.Errorf("policy %q refused", p)
		}
	}
	for _, p := range []string{"", "Open", "anyone"} {
		if checkSignupPolicy(p) == nil {
			t.Errorf("policy %q accepted", p)
		}
	}
}

func TestPasswords(t *testing.T) {
	p := NewPasswords(4)
	h, err := p.Hash("correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	if h == "correct-horse" || !strings.HasPrefix(h, "$2") {
		t.Fatalf("hash %q is not a bcrypt hash", h)
	}
	h2, _ := p.Hash("correct-horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !p.Check(h, "correct-horse") {
		t.Error("right password refused")
	}
	for _, wrong := range []string{"", "correct-hors", "Correct-horse", "correct-horse "} {
		if p.Check(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	if p.Check("", "") || p.Check("", "anything") {
		t.Error("a user without a password can log in")
	}
	if p.Check("not-a-hash", "x") {
		t.Error("a damaged hash matched")
	}
}

func TestCheckLogin(t *testing.T) {
	tests := []struct {
		slug, user, pass string
		field            string
	}{
		{"acme", "bob", "x", ""},
		{"", "bob", "x", "tenant"},
		{"ACME", "bob", "x", "tenant"},
		{"acme", "", "x", "username"},
		{"acme", strings.Repeat("b", 33), "x", "username"},
		{"acme", "bob", "", "password"},
		{"acme", "bob", strings.Repeat("p", 73), "password"},
	}
	for _, tc := range tests {
		err := checkLogin(tc.slug, tc.user, tc.pass)
		fe, _ := fault.As(err)
		if (tc.field == "" && err != nil) || (tc.field != "" && (fe == nil || fe.Field != tc.field)) {
			t.Errorf("checkLogin(%q, %q, %d bytes) = %v, want field %q", tc.slug, tc.user, len(tc.pass), err, tc.field)
		}
	}
}

func TestCheckSecret(t *testing.T) {
	if checkSecret("refresh_token", "", true) == nil || checkSecret("refresh_token", strings.Repeat("a", 257), false) == nil {
		t.Error("missing or over-long secret accepted")
	}
	if checkSecret("invite_code", "", false) != nil || checkSecret("x", strings.Repeat("a", 256), true) != nil {
		t.Error("a fine secret refused")
	}
}
