// Package search is Parley's full-text search of messages: how text becomes
// index terms (so that Chinese, which has no spaces, is found by any part of
// a word, and English regardless of case and simple endings), where a query
// matches a body, and the SQLite index.
package search

import (
	"fmt"
	"strings"
	"sync"
	"unicode"

	"github.com/kljensen/snowball/english"
)

// MaxQuery bounds a query, in characters.
const MaxQuery = 200

// maxQueryTerms bounds how many terms one query may AND together.
const maxQueryTerms = 16

// span is a piece of text, in code points [start, end).
type span struct {
	text       []rune
	start, end int
	wide       bool // Chinese, Japanese or Korean: indexed as overlapping pairs
}

// firstWide is below every code point of the scripts isWide names (Hangul
// Jamo start at U+1100, the others above).
const firstWide = 0x1100

// isWide reports whether r is written without spaces between words.
func isWide(r rune) bool {
	if r < firstWide { // most text: no table lookups
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// spans cuts text into words (letters and digits) and runs of CJK characters.
func spans(text string) []span {
	var out []span
	runes := []rune(text)
	for i := 0; i < len(runes); {
		r := runes[i]
		wide := isWide(r)
		if !wide && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			i++
			continue
		}
		j := i + 1
		for j < len(runes) {
			next := runes[j]
			if isWide(next) != wide || (!wide && !unicode.IsLetter(next) && !unicode.IsDigit(next) && !unicode.IsMark(next)) {
				break
			}
			j++
		}
		out = append(out, span{text: runes[i:j], start: i, end: j, wide: wide})
		i = j
	}
	return out
}

// stem is a word's index form: lower case, English endings taken off
// ("Parties" and "party" are one term).
func stem(word []rune) string { return stemLower(strings.ToLower(string(word))) }

// stemLower is the stem of a lower-case word.
func stemLower(w string) string {
	for _, r := range w {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) {
			return w // not an English word: as it is
		}
	}
	return english.Stem(w, true)
}

// Terms is the text the index stores for a body: words as stems, and each
// run of CJK characters as its overlapping pairs followed by its last
// character (大家你好 → 大家 家你 你好 好), so that every character starts a term.
func Terms(body string) string { return terms(body, stem) }

func terms(body string, stem func([]rune) string) string {
	var b strings.Builder
	add := func(term string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(term)
	}
	for _, s := range spans(body) {
		if !s.wide {
			add(stem(s.text))
			continue
		}
		for i := 0; i+1 < len(s.text); i++ {
			add(string(s.text[i : i+2]))
		}
		add(string(s.text[len(s.text)-1]))
	}
	return b.String()
}

// stemCache remembers the stems of the words it has seen: English stemming
// was most of Terms' CPU, and a chat's words repeat (docs/PERFORMANCE.md,
// "Night: the writer's pages"). It is safe for concurrent use.
type stemCache struct {
	mu sync.Mutex
	m  map[string]string // lower-case word -> stem
}

// Bounds of a stemCache: the words it keeps (then it starts afresh), and the
// longest word it keeps, in bytes.
const (
	maxStems    = 8192
	maxStemWord = 32
)

// Terms is Terms(body), with the stems remembered.
func (c *stemCache) Terms(body string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return terms(body, c.stem)
}

// stem is stem(word), remembered; the caller holds c.mu.
func (c *stemCache) stem(word []rune) string {
	w := strings.ToLower(string(word))
	if len(w) > maxStemWord {
		return stemLower(w)
	}
	if st, ok := c.m[w]; ok {
		return st
	}
	if c.m == nil || len(c.m) >= maxStems {
		c.m = make(map[string]string, 256)
	}
	st := stemLower(w)
	c.m[w] = st
	return st
}

// Query is a parsed search: what the index must match, and what to highlight.
type Query struct {
	Match   string          // an FTS MATCH expression (SQLite)
	TSQuery string          // the same as a tsquery (PostgreSQL)
	words   map[string]bool // stems of the words asked for
	runs    [][]rune        // CJK runs asked for, found as they are
}

// ErrEmpty is returned for a query with nothing to search for.
var ErrEmpty = fmt.Errorf("the query has no letters or digits to search for")

// ParseQuery turns what a person typed into a query: every word and every
// CJK run must occur (a run of two or more characters as consecutive pairs,
// one character as the start of a term).
func ParseQuery(text string) (Query, error) {
	q := Query{words: map[string]bool{}}
	var parts, tsParts []string
	for _, s := range spans(text) {
		switch {
		case !s.wide:
			w := stem(s.text)
			if !q.words[w] {
				q.words[w] = true
				parts = append(parts, w)
				tsParts = append(tsParts, lexeme(w))
			}
		case len(s.text) == 1:
			q.runs = append(q.runs, s.text)
			parts = append(parts, string(s.text)+"*")
			tsParts = append(tsParts, lexeme(string(s.text))+":*")
		default:
			q.runs = append(q.runs, s.text)
			pairs := make([]string, 0, len(s.text)-1)
			lexemes := make([]string, 0, len(s.text)-1)
			for i := 0; i+1 < len(s.text); i++ {
				pairs = append(pairs, string(s.text[i:i+2]))
				lexemes = append(lexemes, lexeme(string(s.text[i:i+2])))
			}
			parts = append(parts, `"`+strings.Join(pairs, " ")+`"`)
			tsParts = append(tsParts, "("+strings.Join(lexemes, " <-> ")+")")
		}
	}
	if len(parts) == 0 {
		return q, ErrEmpty
	}
	if len(parts) > maxQueryTerms {
		parts, tsParts = parts[:maxQueryTerms], tsParts[:maxQueryTerms]
	}
	// Terms hold only letters and digits, lower-cased: no FTS operator
	// (AND, OR, NOT, NEAR are upper case) or quote can come from the query.
	// A tsquery quotes each of them (lexeme): every operator is ours.
	q.Match = strings.Join(parts, " ")
	q.TSQuery = strings.Join(tsParts, " & ")
	return q, nil
}

// lexeme quotes a term for a tsvector or tsquery: taken as it is, never
// parsed or stemmed again by PostgreSQL.
func lexeme(term string) string {
	return "'" + strings.NewReplacer(`'`, `''`, `\`, `\`).Replace(term) + "'"
}

// maxLexemeBytes keeps terms under PostgreSQL's limit for one lexeme (2 kB).
// A longer word cannot be searched for anyway: a query has MaxQuery
// characters at most.
const maxLexemeBytes = 1024

// TSVector is Terms(body) as a tsvector literal, with each term's position,
// so that a query's consecutive pairs (你好 好啊) must be neighbours, as in
// SQLite's phrase match.
func TSVector(body string) string {
	var b strings.Builder
	pos := 0
	for _, term := range strings.Fields(Terms(body)) {
		pos++
		if len(term) > maxLexemeBytes {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(lexeme(term))
		fmt.Fprintf(&b, ":%d", min(pos, maxPosition))
	}
	return b.String()
}

// maxPosition is the highest position a tsvector keeps.
const maxPosition = 16383

// Highlights returns where the query matches body, as [start, end) offsets
// in code points, in order and without overlap.
func (q Query) Highlights(body string) [][2]int {
	var found [][2]int
	runes := []rune(body)
	for _, s := range spans(body) {
		if !s.wide && q.words[stem(s.text)] {
			found = append(found, [2]int{s.start, s.end})
		}
	}
	for _, run := range q.runs {
		for i := 0; i+len(run) <= len(runes); i++ {
			if string(runes[i:i+len(run)]) == string(run) {
				found = append(found, [2]int{i, i + len(run)})
			}
		}
	}
	return merge(found)
}

func merge(found [][2]int) [][2]int {
	if len(found) == 0 {
		return [][2]int{}
	}
	for i := 1; i < len(found); i++ { // insertion sort: a body has few matches
		for j := i; j > 0 && found[j][0] < found[j-1][0]; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	out := [][2]int{found[0]}
	for _, f := range found[1:] {
		last := &out[len(out)-1]
		if f[0] <= last[1] {
			last[1] = max(last[1], f[1])
		} else {
			out = append(out, f)
		}
	}
	return out
}
