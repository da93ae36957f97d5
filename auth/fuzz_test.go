package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"parley/internal/fault"
)

// fuzzSigner issues tokens that stay valid for a century, so that tokens in
// the committed seed corpus keep being accepted.
func fuzzSigner() *Signer { return NewSigner(testKey, 100*365*24*time.Hour) }

var strictB64 = base64.RawURLEncoding.Strict()

// signedByUs is the property Parse must guarantee, checked by hand: three
// strictly encoded segments, a header saying HS256, an HMAC-SHA256 of the
// first two under our key, and claims naming a user, tenant and login that
// are in force now.
func signedByUs(t *testing.T, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %q: not three segments", token)
	}
	var header map[string]any
	raw, err := strictB64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &header) != nil || header["alg"] != "HS256" {
		t.Fatalf("accepted %q: header %q is not HS256", token, raw)
	}
	sig, err := strictB64.DecodeString(parts[2])
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("accepted %q: not signed with our key", token)
	}
	// jwt/v5 also reads a time written as a JSON string; json.Number does too.
	var claims struct {
		Sub string       `json:"sub"`
		Tid string       `json:"tid"`
		Sid string       `json:"sid"`
		Exp *json.Number `json:"exp"`
		Nbf *json.Number `json:"nbf"`
		Iat *json.Number `json:"iat"`
	}
	raw, err = strictB64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		t.Fatalf("accepted %q: claims %q do not decode", token, raw)
	}
	now := float64(time.Now().Unix())
	seconds := func(n *json.Number, absent float64) float64 {
		if n == nil {
			return absent
		}
		f, err := n.Float64()
		if err != nil {
			t.Fatalf("accepted %q: claims %q hold a time that is no number", token, raw)
		}
		return f
	}
	switch {
	case claims.Sub == "" || claims.Tid == "" || claims.Sid == "":
		t.Fatalf("accepted %q: claims %q lack sub, tid or sid", token, raw)
	case seconds(claims.Exp, 0) <= now-1:
		t.Fatalf("accepted %q: claims %q have no exp in the future", token, raw)
	case seconds(claims.Nbf, 0) > now+1, seconds(claims.Iat, 0) > now+1:
		t.Fatalf("accepted %q: claims %q are not yet valid", token, raw)
	}
}

// respell changes the two unused low bits of a base64url string's last
// character: lenient decoding reads the same bytes, strict decoding refuses.
func respell(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

// Parse accepts nothing that our key did not sign with HS256, whatever the
// bytes: a mutated token, another spelling of a signature, another algorithm.
func FuzzSignerParse(f *testing.F) {
	s := fuzzSigner()
	issued, _, err := s.Issue("u1", "t1", RoleMember, "s1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(issued, ".")
	f.Add(issued)
	f.Add(issued + "=")
	f.Add(respell(issued))
	f.Add(" " + issued)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1])
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add(strings.Repeat("a.", 1000))
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		if _, err := s.Parse(token); err == nil {
			signedByUs(t, token)
		}
	})
}

// Tokens that really are HMAC-SHA256 under our key, with any header and
// claims: accepted only when the header says HS256 and the claims hold.
func FuzzSignerParseSignedHeaders(f *testing.F) {
	s := fuzzSigner()
	claims := `{"sub":"u1","tid":"t1","sid":"s1","role":"member","iat":1767225600,"exp":4102444800}`
	for _, header := range []string{
		`{"alg":"HS256","typ":"JWT"}`, `{"alg":"none"}`, `{"alg":"HS512"}`, `{"alg":"hs256"}`, `{"alg":"RS256"}`,
		`{"alg":"none","alg":"HS256"}`, `{"alg":"HS256","alg":"none"}`, `{"alg":["HS256"]}`, `{"ALG":"HS256"}`,
		`{"alg":"HS256","crit":["b64"],"b64":false}`, `[]`, `null`, `"HS256"`,
	} {
		f.Add([]byte(header), []byte(claims))
	}
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"sub":"u1","tid":"t1","sid":"s1","exp":"4102444800"}`))
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"sub":"u1","tid":"t1","sid":"s1","exp":4102444800,"nbf":4102444000}`))
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"sub":"u1","tid":"t1","sid":"s1","exp":1e400}`))
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"sub":1,"tid":"t1","sid":"s1","exp":4102444800}`))
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		mac := hmac.New(sha256.New, testKey)
		mac.Write([]byte(signing))
		token := signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		if _, err := s.Parse(token); err == nil {
			signedByUs(t, token)
		}
	})
}

// wellFormedKey is the one shape of an API key: pk_, 8 characters of
// lower-case base32, _, and 256 bits in 43 characters of base64url, whose
// last character therefore carries two zero bits.
var wellFormedKey = regexp.MustCompile(`^pk_[a-z2-7]{8}_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`)

// The key parser accepts exactly the keys we hand out, and from them reads
// the public prefix the key is looked up by.
func FuzzKeyPublicPrefix(f *testing.F) {
	_, generated := newKeySecret()
	f.Add(generated)
	f.Add(strings.ToUpper(generated))
	f.Add(respell(generated))
	f.Add(generated[:8] + "\n" + generated[9:len(generated)-1])
	f.Add(generated[:20] + "\n" + generated[21:])
	f.Add("pk_abcdefgh_" + strings.Repeat("A", 43))
	f.Add("pk_abcdefgh=_" + strings.Repeat("A", 42))
	f.Add("pk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, secret string) {
		prefix, ok := keyPublicPrefix(secret)
		if !ok {
			if wellFormedKey.MatchString(secret) {
				t.Fatalf("refused the well-formed key %q", secret)
			}
			return
		}
		if !wellFormedKey.MatchString(secret) || prefix != secret[3:11] {
			t.Fatalf("accepted %q with prefix %q", secret, prefix)
		}
	})
}

// Every key CreateKey hands out is one the parser accepts.
func TestGeneratedKeysAreWellFormed(t *testing.T) {
	for range 1000 {
		prefix, secret := newKeySecret()
		if got, ok := keyPublicPrefix(secret); !ok || got != prefix || !wellFormedKey.MatchString(secret) {
			t.Fatalf("generated key %q: parsed as %q, %v", secret, got, ok)
		}
	}
}

// Every name a person picks comes out NFC, trimmed, within its length and
// free of controls and invisible characters (a zero-width joiner only inside
// an emoji), or is refused as a 400 on its field; and a cleaned name is
// clean: cleaning it again changes nothing.
func FuzzCleanName(f *testing.F) {
	for _, seed := range []string{
		"Alice", "  Bob  ", "e\u0301", "👩🏽\u200d💻", "a\u200db", "\u200d👩", "👩\u200d", "evil\u202egnp.exe",
		"line\nbreak", "nul\x00", "\ufeffbom", "\u3164", "\u2028", "\xff\xfe", " \u0301x", "\u00a0x\u00a0",
		"\u1100\u1161\u11a8", strings.Repeat("é", 64), strings.Repeat("e\u0301", 64),
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, name string, required bool) {
		const maxLen = 64
		out, err := CleanName("name", name, maxLen, required)
		if err != nil {
			if fe, ok := fault.As(err); !ok || fe.Kind != fault.Invalid || fe.Field != "name" {
				t.Fatalf("CleanName(%q) failed with %v, want a 400 on the field", name, err)
			}
			return
		}
		runes := []rune(out)
		switch {
		case !utf8.ValidString(out) || !norm.NFC.IsNormalString(out):
			t.Fatalf("CleanName(%q) = %q, not NFC", name, out)
		case strings.TrimSpace(out) != out:
			t.Fatalf("CleanName(%q) = %q, not trimmed", name, out)
		case len(runes) > maxLen, required && out == "":
			t.Fatalf("CleanName(%q) = %q, wrong length", name, out)
		}
		for i, r := range runes {
			shown := !unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point)
			if !shown && !(r == '\u200d' && i > 0 && i < len(runes)-1) {
				t.Fatalf("CleanName(%q) = %q keeps U+%04X", name, out, r)
			}
		}
		if again, err := CleanName("name", out, maxLen, required); err != nil || again != out {
			t.Fatalf("CleanName(%q) = %q, but cleaning that gives %q, %v", name, out, again, err)
		}
	})
}
