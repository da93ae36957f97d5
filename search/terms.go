// Package search is Parley's full-text search of messages: how text becomes
// index terms (so that Chinese, which has no spaces, is found by any part of
// a word, and English regardless of case and simple endings), where a query
// matches a body, and the SQLite index.
package search

import (
	"fmt"
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
)

// MaxQuery bounds a query, in characters.
const MaxQuery = 200

// maxQueryTerms bounds how many terms one query may AND together.
const maxQueryTerms = 16

// span is a word or a run of CJK characters of a text: its bytes, and where
// it is in code points [start, end).
type span struct {
	text       string
	start, end int
	wide       bool // Chinese, Japanese or Korean: indexed as overlapping pairs
}

// isWide reports whether r is written without spaces between words.
func isWide(r rune) bool {
	// Below the first of these scripts (Hangul Jamo), the tables need not be
	// searched: most text is Latin (TestFirstWide).
	return r >= firstWide && unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// firstWide is the lowest code point of the scripts isWide looks for.
const firstWide = 0x1100

// spans cuts text into words (letters and digits) and runs of CJK
// characters. Bytes that are not UTF-8 count as a code point each, as in
// []rune(text), and belong to no span.
func spans(text string) iter.Seq[span] {
	return func(yield func(span) bool) {
		n := 0 // code points before i
		for i := 0; i < len(text); {
			r, size := utf8.DecodeRuneInString(text[i:])
			wide := isWide(r)
			if !wide && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				i, n = i+size, n+1
				continue
			}
			start, startN := i, n
			for i, n = i+size, n+1; i < len(text); i, n = i+size, n+1 {
				var next rune
				next, size = utf8.DecodeRuneInString(text[i:])
				if isWide(next) != wide || (!wide && !unicode.IsLetter(next) && !unicode.IsDigit(next) && !unicode.IsMark(next)) {
					break
				}
			}
			if !yield(span{text: text[start:i], start: startN, end: n, wide: wide}) {
				return
			}
		}
	}
}

// pairs calls add with each two neighbouring characters of a CJK run, in order.
func pairs(run string, add func(string)) {
	_, first := utf8.DecodeRuneInString(run)
	for i := 0; i+first < len(run); {
		_, second := utf8.DecodeRuneInString(run[i+first:])
		add(run[i : i+first+second])
		i, first = i+first, second
	}
}

// stem is a word's index form: lower case, English endings taken off
// ("Parties" and "party" are one term).
func stem(word string) string { return (*stemmer)(nil).stem(word) }

// stemmer is stem remembering the stems of the words it met last: snowball
// takes microseconds a word, and chat repeats its words. A nil stemmer
// remembers nothing. Not safe for concurrent use.
type stemmer struct {
	stems map[string]string // lower case English word → its stem
}

// maxStems bounds a stemmer's memory: it remembers at most this many words
// (of at most 32 letters), then starts again.
const maxStems = 4096

func newStemmer() *stemmer { return &stemmer{stems: make(map[string]string)} }

func (s *stemmer) stem(word string) string {
	var buf [32]byte
	lower := buf[:0]
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case c >= utf8.RuneSelf:
			return stemWide(word)
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c < 'a' || c > 'z':
			return strings.ToLower(word) // not an English word: as it is
		}
		lower = append(lower, c)
	}
	if s == nil || len(lower) > len(buf) {
		return english.Stem(string(lower), true) // a long word is rare, and not kept
	}
	if st, ok := s.stems[string(lower)]; ok {
		return st
	}
	w := string(lower)
	st := english.Stem(w, true)
	if len(s.stems) == maxStems {
		clear(s.stems)
	}
	s.stems[w] = st
	return st
}

// stemWide is stem for a word that is not all ASCII: most are kept as they
// are, but a few letters lower to ASCII (the Kelvin sign K to k).
func stemWide(word string) string {
	w := strings.ToLower(word)
	for _, r := range w {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) {
			return w
		}
	}
	return english.Stem(w, true)
}

// Terms is the text the index stores for a body: words as stems, and each
// run of CJK characters as its overlapping pairs followed by its last
// character (大家你好 → 大家 家你 你好 好), so that every character starts a term.
func Terms(body string) string { return (*stemmer)(nil).terms(body) }

// terms is Terms with s's memory of stems.
func (s *stemmer) terms(body string) string {
	var b strings.Builder
	add := func(term string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(term)
	}
	for sp := range spans(body) {
		if !sp.wide {
			add(s.stem(sp.text))
			continue
		}
		pairs(sp.text, add)
		_, last := utf8.DecodeLastRuneInString(sp.text)
		add(sp.text[len(sp.text)-last:])
	}
	return b.String()
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
	for s := range spans(text) {
		switch {
		case !s.wide:
			w := stem(s.text)
			if !q.words[w] {
				q.words[w] = true
				parts = append(parts, w)
				tsParts = append(tsParts, lexeme(w))
			}
		case s.end-s.start == 1:
			q.runs = append(q.runs, []rune(s.text))
			parts = append(parts, s.text+"*")
			tsParts = append(tsParts, lexeme(s.text)+":*")
		default:
			q.runs = append(q.runs, []rune(s.text))
			var terms, lexemes []string
			pairs(s.text, func(pair string) {
				terms = append(terms, pair)
				lexemes = append(lexemes, lexeme(pair))
			})
			parts = append(parts, `"`+strings.Join(terms, " ")+`"`)
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
	for s := range spans(body) {
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
