package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every interface string exists in English and in Chinese (singular forms,
// "<key>.one", only where a language has them).
func TestEveryStringInBothLanguages(t *testing.T) {
	key := regexp.MustCompile(`(?m)^\s*'([^']+)':`)
	keys := map[string][]string{}
	for _, lang := range []string{"en", "zh"} {
		raw, err := os.ReadFile(filepath.Join("static", "locales", lang+".js"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range key.FindAllStringSubmatch(string(raw), -1) {
			keys[lang] = append(keys[lang], m[1])
		}
		if len(keys[lang]) < 100 {
			t.Fatalf("%s.js: only %d strings found; has its format changed?", lang, len(keys[lang]))
		}
	}
	for _, pair := range [][2]string{{"en", "zh"}, {"zh", "en"}} {
		for _, k := range keys[pair[0]] {
			if !slices.Contains(keys[pair[1]], k) && !strings.HasSuffix(k, ".one") {
				t.Errorf("%q is in %s.js but not in %s.js", k, pair[0], pair[1])
			}
		}
	}
}
