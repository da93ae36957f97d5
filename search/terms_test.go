package search

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestTerms(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"大家你好啊", "大家 家你 你好 好啊 啊"},
		{"Parties and CATS!", "parti and cat"},
		{"hello世界 ok", "hello 世界 界 ok"},
		{"日", "日"},
		{"", ""},
		{"snake_case v2.0", "snake case v2 0"},
		{"\u212Aelvins run", "kelvin run"}, // the Kelvin sign lowers to ASCII: an English word
	} {
		if got := Terms(c.body); got != c.want {
			t.Errorf("Terms(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}

func TestParseQueryAndHighlights(t *testing.T) {
	for _, c := range []struct {
		query, match, body string
		highlights         [][2]int
	}{
		{"你好", `"你好"`, "大家你好啊，你好", [][2]int{{2, 4}, {6, 8}}},
		{"你好啊", `"你好 好啊"`, "大家你好啊", [][2]int{{2, 5}}},
		{"好", "好*", "你好", [][2]int{{1, 2}}},
		{"Party", "parti", "Two parties, one PARTY.", [][2]int{{4, 11}, {17, 22}}},
		{"cat dog", "cat dog", "dogs & cats", [][2]int{{0, 4}, {7, 11}}},
		{"OR NOT \"x", "or not x", "or", [][2]int{{0, 2}}},
		{"😀 emoji", "emoji", "😀 emoji", [][2]int{{2, 7}}},
	} {
		q, err := ParseQuery(c.query)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", c.query, err)
		}
		if q.Match != c.match {
			t.Errorf("ParseQuery(%q).Match = %q, want %q", c.query, q.Match, c.match)
		}
		if got := q.Highlights(c.body); !reflect.DeepEqual(got, c.highlights) {
			t.Errorf("%q in %q: highlights %v, want %v", c.query, c.body, got, c.highlights)
		}
	}
	for _, empty := range []string{"", "  ", "!!! ???", "😀"} {
		if _, err := ParseQuery(empty); err != ErrEmpty {
			t.Errorf("ParseQuery(%q): %v, want ErrEmpty", empty, err)
		}
	}
}

// isWide skips the tables below firstWide: nothing of theirs lies there.
func TestFirstWide(t *testing.T) {
	for _, table := range []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul} {
		if len(table.R16) > 0 && rune(table.R16[0].Lo) < firstWide {
			t.Errorf("a table of isWide starts at %U, below firstWide %U", table.R16[0].Lo, firstWide)
		}
	}
}

// A stemmer that remembers stems gives the terms Terms gives, also once its
// memory is full and starts again.
func TestStemmerRemembersTheSameStems(t *testing.T) {
	s := newStemmer()
	bodies := []string{"Parties and CATS!", "parties cats running", "\u212Aelvins", "Ünïcode wörds", "x2 2x",
		strings.Repeat("internationalizations", 3), "大家你好啊 running", "ǅemal İstanbul"}
	for i := range maxStems + 10 {
		bodies = append(bodies, fmt.Sprintf("word%c%c running", 'a'+i%26, 'a'+i/26%26), fmt.Sprint("parties ", i))
	}
	for _, body := range bodies {
		if got, want := s.terms(body), Terms(body); got != want {
			t.Fatalf("remembering stems, %q became %q, want %q", body, got, want)
		}
	}
	if len(s.stems) > maxStems {
		t.Errorf("the stemmer remembers %d words, more than %d", len(s.stems), maxStems)
	}
	for w := range s.stems {
		if len(w) > 32 {
			t.Errorf("the stemmer remembers a word of %d letters", len(w))
		}
	}
}
