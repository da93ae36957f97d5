package web_test

// Keyboard-only use, focus after actions, what screen readers hear, and a
// tour of every screen and state through the accessibility check in English
// and Chinese.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// press types keys (kb.Tab, kb.Enter, text…) into whatever has the focus
// the way a real keyboard does: per key a raw key-down, a char event for a
// printable key (not with Ctrl, Alt or Meta), a key-up. So, as with a real
// keyboard, a key whose key-down the page handles types nothing.
func (b *browser) press(keys string, mods ...chromedp.Modifier) {
	b.t.Helper()
	var held int64
	for _, m := range mods {
		held |= int64(m)
	}
	b.do(fmt.Sprintf("press %q", keys), chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		for _, r := range keys {
			for _, ev := range kb.Encode(r) {
				ev.Modifiers |= held
				if ev.Type == kb.KeyDown {
					ev.Type = kb.KeyRawDown
				} else if ev.Type == kb.KeyChar && held&^int64(chromedp.ModifierShift) != 0 {
					continue
				}
				if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, *ev); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}

// waitFocus waits until the element with the focus matches sel.
func (b *browser) waitFocus(sel string) {
	b.t.Helper()
	b.waitJS("the focus is on "+sel, fmt.Sprintf(`document.activeElement?.matches(%s) === true`, jsString(sel)))
}

// tabTo presses Tab until the focus is on sel, at most max times.
func (b *browser) tabTo(sel string, max int) {
	b.t.Helper()
	for range max {
		b.press(kb.Tab)
		if evaluate[bool](b, fmt.Sprintf(`document.activeElement?.matches(%s) === true`, jsString(sel))) {
			return
		}
	}
	b.t.Fatalf("%s: %d Tabs do not reach %s (the focus is on %s)", b.name, max, sel, b.focused())
}

// focused describes the element with the focus: #id, else its data-testid,
// else its tag.
func (b *browser) focused() string {
	b.t.Helper()
	return evaluate[string](b, `(() => {
		const e = document.activeElement;
		if (!e || e === document.body) return 'body';
		return e.id ? '#' + e.id : e.dataset.testid || e.tagName.toLowerCase();
	})()`)
}

// focusRingContrast is the contrast ratio between the focused element's
// focus ring and what is around it on screen (sampled just outside the ring
// on its left, right, top and bottom; the lowest counts), or 0 without a ring.
const focusRingContrast = `(() => {
	const e = document.activeElement;
	const ring = getComputedStyle(e);
	if (ring.outlineStyle === 'none' || parseFloat(ring.outlineWidth) < 2) return { ratio: 0, ring: 'none' };
	const lum = (color) => {
		const [r, g, b] = color.match(/[\d.]+/g).slice(0, 3).map((v) => {
			v /= 255;
			return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
		});
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const opaque = (color) => { const a = color.match(/[\d.]+/g); return a.length < 4 || Number(a[3]) > 0; };
	const backgroundAt = (x, y) => {
		let el = document.elementsFromPoint(x, y).find((el) => !e.contains(el) && el !== e);
		for (; el; el = el.parentElement) {
			const bg = getComputedStyle(el).backgroundColor;
			if (opaque(bg)) return bg;
		}
		return getComputedStyle(document.body).backgroundColor;
	};
	const r = e.getBoundingClientRect();
	const out = parseFloat(ring.outlineOffset) + parseFloat(ring.outlineWidth) + 1;
	const points = [[r.left - out, r.top + r.height / 2], [r.right + out, r.top + r.height / 2],
		[r.left + r.width / 2, r.top - out], [r.left + r.width / 2, r.bottom + out]]
		.filter(([x, y]) => x >= 0 && y >= 0 && x < innerWidth && y < innerHeight);
	const l1 = lum(ring.outlineColor);
	const worst = { ratio: Infinity };
	for (const [x, y] of points) {
		const bg = backgroundAt(x, y);
		const l2 = lum(bg);
		const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		if (ratio < worst.ratio) Object.assign(worst, { ratio, ring: ring.outlineColor, next: bg, at: [Math.round(x), Math.round(y)] });
	}
	return worst;
})()`

// checkFocusRing fails the test when the focused element's focus ring has
// less than 3:1 against what surrounds it, in light or in dark.
func (b *browser) checkFocusRing(where string) {
	b.t.Helper()
	scheme := b.colorScheme()
	for _, s := range []string{"light", "dark"} {
		b.setColorScheme(s)
		var worst struct {
			Ratio float64
			Ring  string
			Next  string
			At    []int
		}
		if raw := evaluate[[]byte](b, focusRingContrast); json.Unmarshal(raw, &worst) != nil || worst.Ratio < 3 {
			b.t.Errorf("%s: the focus ring on %s (%s) has a contrast of %.2f:1 (%s next to %s at %v), want 3:1 or more",
				b.name, where, s, worst.Ratio, worst.Ring, worst.Next, worst.At)
		}
	}
	b.setColorScheme(scheme)
}

// roomWithHistory creates a public room owned by token's user, has joiner
// join it, and posts the bodies, taking turns between the two.
func roomWithHistory(t *testing.T, base, owner, joiner, name string, bodies []string) string {
	t.Helper()
	var room struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, base+"/api/v1/rooms", owner, map[string]string{"name": name, "visibility": "public"}, &room)
	apiCall(t, http.MethodPost, base+"/api/v1/rooms/"+room.ID+"/join", joiner, nil, nil)
	for i, body := range bodies {
		token := owner
		if i%4 == 3 {
			token = joiner
		}
		apiCall(t, http.MethodPost, base+"/api/v1/rooms/"+room.ID+"/messages", token, map[string]string{"body": body}, nil)
	}
	return room.ID
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, i+1)
	}
	return out
}

const lastMessage = "#message-list [data-testid=message]:last-child"

// actionsLabel matches the label of a message's actions button: whose
// message, and its time ("01:53 PM" in English).
func actionsLabel(whose string) *regexp.Regexp {
	return regexp.MustCompile(`^Actions for ` + whose + ` message at \d\d:\d\d( [AP]M)?$`)
}

// TestBrowserKeyboardOnly: log in (a wrong password first), open a room, send,
// edit and delete a message with Tab, Enter, Escape and the arrow keys only,
// checking where the focus is after each step. The message list is one tab
// stop: from the header the composer is four Tabs away, with 13 messages.
func TestBrowserKeyboardOnly(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, seedAtFullSpeed)
	kim := apiTenant(t, srv.URL, "keys", "kim", "Owner")
	lee := apiSignup(t, srv.URL, "keys", "lee", "Lee")
	roomWithHistory(t, srv.URL, kim, lee, "general", numbered("earlier", 13))
	otherRoom := roomWithHistory(t, srv.URL, kim, lee, "random", nil)
	b := newBrowser(t, chromium, "kim")
	defer b.checkClean()

	// Log in: a wrong password puts the focus on the error, not on <body>.
	b.open(srv.URL + "/#/login")
	b.press(kb.Tab)
	b.waitFocus("#login-tenant")
	b.checkFocusRing("a field")
	b.press("keys" + kb.Tab)
	b.waitFocus("#login-username")
	b.press("kim" + kb.Tab)
	b.waitFocus("#login-password")
	b.press("not-the-password" + kb.Enter)
	b.waitFocus("#login-error")
	b.checkA11y("log-in error")
	b.press(kb.Tab, chromedp.ModifierShift)
	b.waitFocus("#login-password")
	b.press("a", chromedp.ModifierCtrl)
	b.press(password + kb.Enter)
	b.waitVisible("[data-testid=room-list]")
	b.waitFocus("#view-title")

	// Open the room. News in another room (which moves it up the list) leaves
	// the focus where it is.
	b.tabTo(`[data-testid=room-item][data-name="general"]`, 5)
	b.checkFocusRing("a room")
	evaluate[bool](b, `(window.focusedRoom = document.activeElement) !== null`)
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+otherRoom+"/messages", lee, map[string]string{"body": "meanwhile"}, nil)
	b.waitVisible(`[data-testid=room-list] li:first-child [data-testid=room-item][data-name="random"] [data-testid=unread]`)
	if !evaluate[bool](b, `document.activeElement === window.focusedRoom`) {
		t.Errorf("news in another room moved the focus from the room I was on to %s", b.focused())
	}
	b.press(kb.Enter)
	b.waitVisible("#composer-input")
	b.waitFocus("#view-title")
	b.checkA11y("chat")

	// Header to composer: members, the message list (one stop, the newest
	// message), its actions, the composer.
	var stops []string
	for range 6 {
		b.press(kb.Tab)
		stops = append(stops, b.focused())
		b.checkFocusRing(stops[len(stops)-1])
		if stops[len(stops)-1] == "#composer-input" {
			break
		}
	}
	if want := []string{"room-members", "message", "msg-more", "#composer-input"}; strings.Join(stops, " ") != strings.Join(want, " ") {
		t.Errorf("Tab from the header goes through %v, want %v", stops, want)
	}
	label := evaluate[string](b, `document.querySelector('#message-list [data-author=lee] [data-testid=msg-more]').getAttribute('aria-label')`)
	if !actionsLabel("Lee's").MatchString(label) {
		t.Errorf("the actions button of Lee's message is labelled %q", label)
	}

	// Send with Enter: the focus stays in the composer.
	b.press("typed with keys" + kb.Enter)
	b.waitJS("the message is sent", hasMessage("typed with keys", "sent"))
	b.waitFocus("#composer-input")

	// Its actions: Shift+Tab reaches them; Escape closes the menu.
	b.press(kb.Tab, chromedp.ModifierShift)
	b.waitFocus(lastMessage + " [data-testid=msg-more]")
	label = evaluate[string](b, `document.activeElement.getAttribute('aria-label')`)
	if !actionsLabel("your").MatchString(label) {
		t.Errorf("the actions button of my message is labelled %q", label)
	}
	b.checkFocusRing("the actions button of my message")
	b.press(kb.Enter)
	b.waitFocus(lastMessage + " [data-testid=msg-reply]")
	b.checkFocusRing("Reply in my message's menu")
	b.checkA11y("message actions")
	b.press(kb.Escape)
	b.waitFocus(lastMessage + " [data-testid=msg-more][aria-expanded=false]")

	// Edit (the menu: Reply, React, Edit, Delete).
	b.press(kb.Enter)
	b.waitFocus(lastMessage + " [data-testid=msg-reply]")
	b.press(kb.Tab + kb.Tab)
	b.waitFocus(lastMessage + " [data-testid=msg-edit]")
	b.press(kb.Enter)
	b.waitFocus("#composer-input")
	b.press("a", chromedp.ModifierCtrl)
	b.press("edited with keys" + kb.Enter)
	b.waitMessage("edited with keys")
	b.waitFocus("#composer-input")

	// Delete: Escape in the dialog gives the focus back to the actions button;
	// confirming puts it on the message, now "Message deleted".
	b.press(kb.Tab, chromedp.ModifierShift)
	b.waitFocus(lastMessage + " [data-testid=msg-more]")
	id := evaluate[string](b, `document.querySelector('`+lastMessage+`').dataset.id`)
	askToDelete := func() {
		b.press(kb.Enter)
		b.waitFocus(lastMessage + " [data-testid=msg-reply]")
		b.press(kb.Tab + kb.Tab + kb.Tab)
		b.waitFocus(lastMessage + " [data-testid=msg-delete]")
		b.press(kb.Enter)
		b.waitFocus("[data-testid=dialog] *")
	}
	askToDelete()
	b.checkA11y("delete dialog")
	b.press(kb.Escape)
	b.waitGone("[data-testid=dialog]")
	b.waitFocus(lastMessage + " [data-testid=msg-more]")
	askToDelete()
	b.press(kb.Tab)
	b.waitFocus("[data-testid=dialog-ok]")
	b.checkFocusRing("the dialog's button")
	b.press(kb.Enter)
	deleted := fmt.Sprintf(`#message-list [data-testid=message][data-id=%s]`, jsString(id))
	b.waitJS("the message is deleted", fmt.Sprintf(`document.querySelector(%s)?.textContent.includes('Message deleted') === true`, jsString(deleted)))
	b.waitFocus(deleted)
	b.checkFocusRing("a deleted message")

	// The arrow keys move along the list; Tab leaves it for the composer.
	b.press(kb.ArrowUp)
	b.waitFocus("#message-list [data-testid=message]:nth-last-child(2)")
	b.press(kb.Home)
	b.waitFocus("#message-list [data-testid=message]:first-child")
	b.press(kb.End)
	b.waitFocus(deleted)
	b.press(kb.Tab)
	b.waitFocus("#composer-input")
}

// TestBrowserQuietLiveRegion: opening a room with history, and loading older
// pages, puts nothing into what screen readers announce; a message from
// someone else arriving live is announced once; one's own never.
func TestBrowserQuietLiveRegion(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, seedAtFullSpeed)
	kim := apiTenant(t, srv.URL, "quiet", "kim", "Owner")
	lee := apiSignup(t, srv.URL, "quiet", "lee", "Lee")
	roomID := roomWithHistory(t, srv.URL, kim, lee, "general", numbered("history", 70))
	b := newBrowser(t, chromium, "kim")
	defer b.checkClean()
	b.login(srv.URL, "quiet", "kim")
	b.openRoom("general")

	// announced is the text of every live region on the page (the announcer,
	// the toast, the connection banner, alerts), and whether the messages
	// themselves sit in one.
	const announced = `[...document.querySelectorAll('[aria-live], [role=log], [role=status], [role=alert]')].map((e) => e.textContent).join('\n')`
	const listIsLive = `document.getElementById('message-list').closest('[aria-live], [role=log], [role=status], [role=alert]') !== null`
	if evaluate[bool](b, listIsLive) {
		t.Error("the message list is inside a live region: opening a room would read its history aloud")
	}
	if text := evaluate[string](b, announced); strings.Contains(text, "history") {
		t.Errorf("opening the room announces its history: %q", text)
	}
	evaluate[bool](b, `(document.querySelector('.log').scrollTop = 0) === 0`)
	b.waitJS("the older page is loaded", `document.querySelectorAll('#message-list [data-testid=message]').length === 70`)
	if text := evaluate[string](b, announced); strings.Contains(text, "history") {
		t.Errorf("loading older messages announces them: %q", text)
	}

	// Live from Lee: announced once, also after Lee edits it.
	var msg struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+roomID+"/messages", lee, map[string]string{"body": "live from lee"}, &msg)
	b.waitMessage("live from lee")
	apiCall(t, http.MethodPatch, srv.URL+"/api/v1/rooms/"+roomID+"/messages/"+msg.ID, lee, map[string]string{"body": "live from lee, edited"}, nil)
	b.waitMessage("live from lee, edited")
	// My own message, sent and echoed by the stream: never announced.
	b.send("my own words")
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+roomID+"/messages", lee, map[string]string{"body": "second from lee"}, nil)
	b.waitMessage("second from lee")
	const announcer = `document.querySelector('[data-testid=chat-announcer]').textContent`
	b.waitJS("Lee's second message is announced", announcer+`.includes('Lee: second from lee')`)
	text := evaluate[string](b, announced)
	if n := strings.Count(text, "live from lee"); n != 1 {
		t.Errorf("Lee's live message is announced %d times, want once: %q", n, text)
	}
	if strings.Contains(text, "my own words") || strings.Contains(text, "history") {
		t.Errorf("the announcements hold my own message or history: %q", text)
	}
}

// TestBrowserFocusAfterActions: revoking an API key puts the focus on the next
// key's Revoke, and on the list once it is empty; a form's wrong field is
// marked invalid, described by its error, and focused.
func TestBrowserFocusAfterActions(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, nil)
	owner := apiTenant(t, srv.URL, "focus", "fay", "Owner")
	for _, name := range []string{"first-key", "second-key"} {
		apiCall(t, http.MethodPost, srv.URL+"/api/v1/apikeys", owner, map[string]any{"name": name, "scopes": []string{"messages:write"}}, nil)
	}
	b := newBrowser(t, chromium, "fay")
	defer b.checkClean()

	// Sign-up with a short password: the field says why, and has the focus.
	b.open(srv.URL + "/#/signup")
	b.fill("#signup-tenant", "focus")
	b.fill("#signup-username", "newbie")
	b.typeText("#signup-password", "short") // typed: minlength applies only to what a person types
	b.click("[data-testid=signup-submit]")
	b.waitFocus("#signup-password[aria-invalid=true]")
	if d := evaluate[string](b, `document.getElementById('signup-password').getAttribute('aria-describedby')`); !strings.Contains(d, "signup-password-invalid") {
		t.Errorf("the invalid password field is described by %q, not by its error", d)
	}
	if msg := evaluate[string](b, `document.getElementById('signup-password-invalid').textContent`); msg != "Use at least 8 characters." {
		t.Errorf("the password's error says %q", msg)
	}
	b.checkA11y("sign-up with an invalid field")
	b.typeText("#signup-password", password)
	b.waitJS("the field is valid again", `!document.getElementById('signup-password').hasAttribute('aria-invalid')`)

	b.login(srv.URL, "focus", "fay")
	b.click("[data-testid=nav-admin]")
	b.click("[data-testid=admin-tab-keys]")
	b.waitVisible(`[data-testid=apikey][data-name="second-key"]`)
	for _, c := range []struct{ revoke, then string }{
		{"first-key", `[data-testid=apikey][data-name="second-key"] [data-testid=apikey-revoke]`},
		{"second-key", `[data-testid=apikey-list]`},
	} {
		b.do("focus Revoke", chromedp.Focus(chromedp.CSS(fmt.Sprintf(`[data-testid=apikey][data-name=%s] [data-testid=apikey-revoke]`, jsString(c.revoke)))))
		b.press(kb.Enter)
		b.waitFocus("[data-testid=dialog] *")
		b.press(kb.Tab)
		b.waitFocus("[data-testid=dialog-ok]")
		b.press(kb.Enter)
		b.waitGone(fmt.Sprintf(`[data-testid=apikey][data-name=%s]`, jsString(c.revoke)))
		b.waitFocus(c.then)
	}
	b.checkA11y("admin keys, none left")
}

// TestBrowserEnterSends: on a touch screen (coarse pointer) with a hardware
// keyboard, Enter sends and Shift+Enter adds a line; with "Enter starts a new
// line" chosen on the Me screen, Enter adds a line and Ctrl+Enter sends.
func TestBrowserEnterSends(t *testing.T) {
	_, b := ownerLoggedIn(t, "enter", "ivy")
	b.do("touch screen", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	if !evaluate[bool](b, `matchMedia('(pointer: coarse)').matches`) {
		t.Fatal("the emulated touch screen does not make the pointer coarse; the test would prove nothing")
	}
	b.click("[data-testid=new-room]")
	b.fill("#new-room-form-name", "tablet")
	b.click("[data-testid=new-room-form-submit]")
	b.waitVisible("#composer-input")
	b.do("focus the composer", chromedp.Focus(chromedp.CSS("#composer-input")))

	b.press("line one")
	b.press(kb.Enter, chromedp.ModifierShift)
	b.press("line two" + kb.Enter)
	b.waitJS("Enter sends, Shift+Enter made a line", hasMessage("line one\nline two", "sent"))
	b.waitJS("the composer is empty again", `document.getElementById('composer-input').value === ''`)

	b.click("[data-testid=back]")
	b.click("[data-testid=nav-me]")
	b.choose("#prefs-enter", "newline")
	b.checkA11y("me")
	b.openRoom("tablet")
	if hint := evaluate[string](b, `document.getElementById('composer-input').getAttribute('enterkeyhint')`); hint != "enter" {
		t.Errorf("with Enter for new lines, the keyboard's Enter key is labelled %q, want enter", hint)
	}
	b.do("focus the composer", chromedp.Focus(chromedp.CSS("#composer-input")))
	b.press("first" + kb.Enter + "second")
	if v := b.value("#composer-input"); v != "first\nsecond" {
		t.Errorf("with Enter for new lines, the composer holds %q", v)
	}
	b.press(kb.Enter, chromedp.ModifierCtrl)
	b.waitJS("Ctrl+Enter sends", hasMessage("first\nsecond", "sent"))
}
