package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// pressAcrossRedraw puts the finger down on sel, makes the app draw the
// screen of path meanwhile (as when the previous tap's screen arrives late on
// a busy phone) and lifts the finger where it went down.
func (b *browser) pressAcrossRedraw(sel, path string) {
	b.t.Helper()
	b.waitVisible(sel)
	at := evaluate[[]float64](b, fmt.Sprintf(`(() => {
		const r = document.querySelector(%s).getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2];
	})()`, jsString(sel)))
	b.do("press "+sel, chromedp.MouseEvent(chromedp.MousePressed, at[0], at[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
	evaluate[bool](b, fmt.Sprintf(`(location.hash = %s) !== ''`, jsString("#"+path)))
	b.waitJS("the screen "+path+" is drawn", fmt.Sprintf(`document.getElementById('view').dataset.route === %s`, jsString(path)))
	b.do("release "+sel, chromedp.MouseEvent(chromedp.MouseReleased, at[0], at[1], chromedp.ButtonLeft, chromedp.ClickCount(1)))
}

// ownerLoggedIn starts a server with the workspace slug, owned by username,
// who is logged in on a phone of their own.
func ownerLoggedIn(t *testing.T, slug, username string) (*server, *browser) {
	t.Helper()
	chromium := findChromium(t)
	srv := startServer(t, nil)
	apiTenant(t, srv.URL, slug, username, username)
	b := newBrowser(t, chromium, username)
	t.Cleanup(b.checkClean)
	b.login(srv.URL, slug, username)
	return srv, b
}

// TestBrowserTapDuringRedraw: a tap on an admin section or a tab of the tab
// bar lands even when the screen is redrawn between the finger going down and
// coming up (the lost tap that made TestBrowserWorkspaceChatAndAdmin flaky on a
// busy machine, and that a phone on a slow network saw too).
func TestBrowserTapDuringRedraw(t *testing.T) {
	_, dana := ownerLoggedIn(t, "taps", "dana")
	dana.click("[data-testid=nav-admin]")
	dana.click("[data-testid=admin-tab-users]")
	dana.waitVisible("[data-testid=user-list]")
	dana.checkA11y("admin users")

	for _, c := range []struct{ tap, redraw, want, shown string }{
		{"[data-testid=admin-tab-keys]", "/admin/rooms", "/admin/keys", "#apikey-form"},
		{"[data-testid=nav-me]", "/browse", "/me", "[data-testid=logout]"},
	} {
		dana.pressAcrossRedraw(c.tap, c.redraw)
		dana.waitJS("the tap on "+c.tap+" leads to "+c.want, fmt.Sprintf(`location.hash === %s`, jsString("#"+c.want)))
		dana.settle()
		dana.waitVisible(c.shown)
		dana.checkA11y(c.want)
	}
}

// TestBrowserLateAnswerStaysPut: when the answer to a request comes after the
// person has moved on (a room created on a slow network, then Back), the
// screen they moved to stays: the late answer navigates nowhere.
func TestBrowserLateAnswerStaysPut(t *testing.T) {
	srv, erin := ownerLoggedIn(t, "late", "erin")

	erin.click("[data-testid=new-room]")
	erin.checkA11y("new room")
	erin.fill("#new-room-form-name", "slowpoke")
	release := srv.gate.hold(func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/api/v1/rooms"
	})
	defer release()
	evaluate[bool](erin, `(window.submitButton = document.querySelector('[data-testid=new-room-form-submit]')) !== null`)
	erin.click("[data-testid=new-room-form-submit]")
	erin.waitJS("the room is being created", `window.submitButton.getAttribute('aria-busy') === 'true'`)
	erin.click("[data-testid=back]")
	release()
	erin.waitJS("the room is created", `!window.submitButton.hasAttribute('aria-busy')`)
	erin.waitVisible(`[data-testid=room-item][data-name="slowpoke"]`)
	if hash := evaluate[string](erin, `location.hash`); hash != "#/rooms" {
		t.Errorf("after the late answer the screen is %s, want #/rooms where the person went", hash)
	}
}
