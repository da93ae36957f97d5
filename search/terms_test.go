package search

import (
	"fmt"
	"reflect"
	"testing"
	"unicode"
)

var termsCases = []struct{ body, want string }{
	{"大家你好啊", "大家 家你 你好 好啊 啊"},
	{"Parties and CATS!", "parti and cat"},
	{"hello世界 ok", "hello 世界 界 ok"},
	{"日", "日"},
	{"", ""},
	{"snake_case v2.0", "snake case v2 0"},
	{"Internationalizations internationalizations", "internation internation"},
	{"Pneumonoultramicroscopicsilicovolcanoconioses PARTIES", "pneumonoultramicroscopicsilicovolcanoconios parti"},
}

func TestTerms(t *testing.T) {
	for _, c := range termsCases {
		if got := Terms(c.body); got != c.want {
			t.Errorf("Terms(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}

// The cache answers as Terms does: on a word's first sight, when it has it,
// for words too long to keep, and after it started afresh when full.
func TestStemCacheTerms(t *testing.T) {
	var c stemCache
	for round := range 3 {
		if round == 2 {
			for i := range maxStems {
				c.Terms(fmt.Sprint("filler", i))
			}
		}
		for _, tc := range termsCases {
			if got := c.Terms(tc.body); got != tc.want {
				t.Errorf("round %d: Terms(%q) = %q, want %q", round, tc.body, got, tc.want)
			}
		}
	}
	if len(c.m) > maxStems {
		t.Errorf("the cache holds %d words, want at most %d", len(c.m), maxStems)
	}
}

// BenchmarkTerms is the index's work per message body outside SQLite.
func BenchmarkTerms(b *testing.B) {
	const body = "Shipping the orders tomorrow morning, thanks for waiting! bench k=12345"
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			Terms(body)
		}
	})
	b.Run("cached", func(b *testing.B) {
		var c stemCache
		for b.Loop() {
			c.Terms(body)
		}
	})
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

// No code point below firstWide belongs to a script isWide names.
func TestFirstWide(t *testing.T) {
	for r := rune(0); r < firstWide; r++ {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			t.Fatalf("%U is wide, below firstWide %U", r, firstWide)
		}
	}
}
