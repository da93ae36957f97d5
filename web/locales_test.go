package web_test

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"parley/web"
)

var (
	localeEntry = regexp.MustCompile(`(?m)^\s*'([^']+)':\s*(.+?),?\s*$`)
	placeholder = regexp.MustCompile(`\{\w+\}`)
)

// readLocale returns a locale file's strings by key (values as written, quotes and all).
func readLocale(t *testing.T, code string) map[string]string {
	t.Helper()
	src, err := fs.ReadFile(web.Static(), "locales/"+code+".js")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, m := range localeEntry.FindAllStringSubmatch(string(src), -1) {
		entries[m[1]] = m[2]
	}
	if len(entries) < 50 {
		t.Fatalf("locales/%s.js: read only %d strings; has its layout changed?", code, len(entries))
	}
	return entries
}

// TestEveryStringInBothLanguages: every English string has its Chinese one
// (singular ".one" forms aside: Chinese has none) with the same
// {placeholders}, and Chinese has no string English lacks.
func TestEveryStringInBothLanguages(t *testing.T) {
	en, zh := readLocale(t, "en"), readLocale(t, "zh")
	for key, text := range en {
		if strings.HasSuffix(key, ".one") {
			continue
		}
		other, ok := zh[key]
		if !ok {
			t.Errorf("locales/zh.js lacks %q (English: %s)", key, text)
			continue
		}
		want, got := placeholder.FindAllString(text, -1), placeholder.FindAllString(other, -1)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%q: English has placeholders %v, Chinese %v", key, want, got)
		}
	}
	for key := range zh {
		if _, ok := en[key]; !ok {
			t.Errorf("locales/zh.js has %q, which English lacks", key)
		}
	}
}
