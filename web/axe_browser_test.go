package web_test

// The accessibility gate of the browser tests: axe-core (npm package
// axe-core, installed by .ci/run) runs in the page through the DevTools
// protocol, so the page's Content-Security-Policy stays as strict as it is.
//
// Every browser test calls b.checkA11y("screen name") on each screen it
// visits, once the screen shows what it is about. The check runs axe in light
// and dark and fails the test on any serious or critical violation. When the
// test ends (and passed so far), every screen it checked is opened again in
// the other interface language (English / Chinese) and checked there too.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// axeDefault is where .ci/run installs axe-core (git-ignored), relative to
// this package; PARLEY_AXE_JS names another axe.min.js.
const axeDefault = "testdata/axe/node_modules/axe-core/axe.min.js"

var loadAxe = sync.OnceValues(func() (string, error) {
	path := os.Getenv("PARLEY_AXE_JS")
	if path == "" {
		path = axeDefault
	}
	src, err := os.ReadFile(filepath.Clean(path))
	return string(src), err
})

// axeSource returns axe-core's script, or "" when it is not installed and the
// browser tests are not required (the check is then skipped, said once per
// browser); when they are required, a missing axe-core fails the test.
func (b *browser) axeSource() string {
	b.t.Helper()
	src, err := loadAxe()
	if err == nil {
		return src
	}
	const how = "install it with: npm install --no-save --no-package-lock --prefix web/testdata/axe axe-core@4.14.1 (as .ci/run does), or point PARLEY_AXE_JS at axe.min.js"
	if os.Getenv("PARLEY_REQUIRE_BROWSER") == "1" {
		b.t.Fatalf("axe-core is missing (%v): PARLEY_REQUIRE_BROWSER=1 requires the accessibility checks; %s", err, how)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.axeMissingSaid {
		b.axeMissingSaid = true
		b.t.Logf("axe-core is missing (%v): skipping the accessibility checks; %s", err, how)
	}
	return ""
}

// axeViolation is the part of an axe-core result a person needs to fix it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "  [%s] %s: %s (%s)\n", v.Impact, v.ID, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		html := n.HTML
		if len(html) > 160 {
			html = html[:160] + "…"
		}
		fmt.Fprintf(&s, "    at %v: %s\n      %s\n", n.Target, html, strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
	}
	return s.String()
}

// screenIdle is true once the screen of the URL is drawn and has loaded what
// it shows (nothing marked aria-busy).
const screenIdle = `document.getElementById('view').dataset.route === location.hash.slice(1).split('?')[0]
	&& !document.querySelector('#view [aria-busy="true"]')`

// checkA11y runs axe-core on the screen as it is, in light and dark, and fails
// the test on every serious or critical violation. screen names it in the
// failure. Call it on each screen (and state: dialog open, error shown…) a
// test visits.
func (b *browser) checkA11y(screen string) {
	b.t.Helper()
	src := b.axeSource()
	if src == "" {
		return
	}
	b.waitJS(screen+" has loaded", screenIdle)
	if !evaluate[bool](b, `typeof window.axe === 'object'`) {
		// Runtime.evaluate: DevTools code, which the page's CSP does not restrict.
		b.do("inject axe-core", chromedp.Evaluate[chromedp.Void](src))
	}
	where := evaluate[[]string](b, `[location.hash.slice(1).split('?')[0], document.documentElement.lang]`)
	scheme := b.colorScheme()
	for _, s := range []string{"light", "dark"} {
		b.setColorScheme(s)
		b.runAxe(fmt.Sprintf("%s (%s, %s, %s)", screen, where[0], where[1], s))
	}
	b.setColorScheme(scheme)
	b.recordChecked(screen, where[0], where[1])
}

func (b *browser) runAxe(what string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*waitTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, { resultTypes: ['violations'] })
		.then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.failed("run axe-core on "+what, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal(raw, &violations); err != nil {
		b.t.Fatalf("%s: axe-core's answer: %v", b.name, err)
	}
	if len(violations) > 0 {
		var report strings.Builder
		for _, v := range violations {
			report.WriteString(v.String())
		}
		b.t.Errorf("%s: %s: %d serious or critical accessibility violation(s):\n%s", b.name, what, len(violations), report.String())
	}
}

// recordChecked remembers a checked screen; the first time, it arranges the
// check of every checked screen in the other language when the test ends.
func (b *browser) recordChecked(screen, path, lang string) {
	b.mu.Lock()
	first := b.checked == nil
	if first {
		b.checked = map[string]*checkedScreen{}
	}
	c := b.checked[path]
	if c == nil {
		c = &checkedScreen{name: screen, path: path}
		b.checked[path] = c
		b.checkedOrder = append(b.checkedOrder, path)
	}
	if !slices.Contains(c.langs, baseLang(lang)) {
		c.langs = append(c.langs, baseLang(lang))
	}
	b.mu.Unlock()
	if first {
		b.t.Cleanup(b.checkOtherLanguages)
	}
}

type checkedScreen struct {
	name  string
	path  string
	langs []string // "en", "zh"
}

func baseLang(lang string) string {
	return strings.ToLower(strings.SplitN(lang, "-", 2)[0])
}

// checkOtherLanguages opens each checked screen again in the interface
// language it was not checked in, and checks it there.
func (b *browser) checkOtherLanguages() {
	if b.t.Failed() {
		return
	}
	origin := evaluate[string](b, `location.origin`)
	for _, lang := range []string{"en", "zh"} {
		loaded := false
		for _, path := range b.checkedOrder {
			c := b.checked[path]
			if slices.Contains(c.langs, lang) {
				continue
			}
			if !loaded {
				// A new page (the query differs), which starts in the language set.
				evaluate[bool](b, fmt.Sprintf(`(localStorage.setItem('parley.lang', %s), true)`, jsString(lang)))
				b.open(origin + "/?lang=" + lang + "#" + path)
				loaded = true
			} else {
				evaluate[bool](b, fmt.Sprintf(`(location.hash = %s) !== ''`, jsString("#"+path)))
			}
			b.checkA11y(c.name + " in " + lang)
		}
	}
}
