package search

import "testing"

// BenchmarkTerms measures turning a body into index terms, for the load
// tool's bodies and for chat, with and without a stemmer's memory.
func BenchmarkTerms(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"load", "bench k=123456 t=1764199999123456789"},
		{"chat", "Can someone review my pull request please, the deploy is waiting"},
		{"chinese", "大家早上好，今天的会议改到下午三点"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Terms(bc.body)
			}
		})
		b.Run(bc.name+"/remembered", func(b *testing.B) {
			b.ReportAllocs()
			s := newStemmer()
			for b.Loop() {
				_ = s.terms(bc.body)
			}
		})
	}
}
