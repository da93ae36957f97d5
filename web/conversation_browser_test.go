package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"parley/config"
)

// twoInATeam starts a server (configured further by configure) where Alice
// (owner of tenant acme) and Bob are both in the public room "team", and
// returns their tokens and the room id.
func twoInATeam(t *testing.T, aliceName, bobName string, configure ...func(*config.Config)) (srv *server, aliceToken, bobToken, roomID string) {
	t.Helper()
	srv = startServer(t, func(c *config.Config) {
		seedAtFullSpeed(c)
		for _, f := range configure {
			f(c)
		}
	})
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/tenants", "", map[string]any{
		"slug": "acme", "name": "Acme", "admin": map[string]string{"username": "alice", "password": password, "display_name": aliceName},
	}, nil)
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/auth/signup", "", map[string]string{
		"tenant": "acme", "username": "bob", "password": password, "display_name": bobName}, nil)
	aliceToken, bobToken = apiLogin(t, srv.URL, "acme", "alice"), apiLogin(t, srv.URL, "acme", "bob")
	var room struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms", aliceToken, map[string]string{"name": "team"}, &room)
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+room.ID+"/join", bobToken, nil, nil)
	return srv, aliceToken, bobToken, room.ID
}

// messageWith is a JavaScript expression for the message whose text is body.
func messageWith(body string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#message-list [data-testid=message]')].find((m) => m.querySelector('.msg-body')?.textContent === %s)`, jsString(body))
}

// openActions opens the ⋯ menu of the message with this text and clicks an action in it.
func (b *browser) openActions(body, action string) {
	b.t.Helper()
	b.waitJS("the message is there: "+body, messageWith(body)+" !== undefined")
	evaluate[bool](b, fmt.Sprintf(`(() => {
		const m = %s;
		m.querySelector('[data-testid=msg-more]').click();
		m.querySelector('[data-testid=%s]').click();
		return true;
	})()`, messageWith(body), action))
}

// TestBrowserRepliesReactionsAndMentions: Bob answers a message with a
// reply that mentions Alice, picked from the @ suggestions; Alice sees the
// quote, the highlighted mention, the "@" badge and the Mentions screen, and
// a tap on a quote or a mention takes her to the message, loading older
// history when it is far back. Reactions from the fixed picker and typed in
// reach the other phone live, with counts and who reacted. Formatting shows
// as elements, links are safe.
func TestBrowserRepliesReactionsAndMentions(t *testing.T) {
	chromium := findChromium(t)
	srv, aliceToken, _, roomID := twoInATeam(t, "Alice Liddell", "Bob Builder")
	messages := srv.URL + "/api/v1/rooms/" + roomID + "/messages"
	var original struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": "the original plan"}, &original)
	for i := 1; i <= 70; i++ {
		apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": fmt.Sprintf("filler %d", i)}, nil)
	}
	apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": "back to the plan", "reply_to": original.ID}, nil)

	alice := newBrowser(t, chromium, "alice")
	bob := newBrowser(t, chromium, "bob")
	defer alice.checkClean()
	defer bob.checkClean()
	alice.login(srv.URL, "acme", "alice")
	bob.login(srv.URL, "acme", "bob")
	bob.openRoom("team")

	// A quote of a message far back: a tap loads older history and shows it.
	bob.waitJS("the quote shows", messageWith("back to the plan")+`.querySelector('[data-testid=msg-quote]').textContent.includes('the original plan')`)
	if evaluate[bool](bob, messageWith("the original plan")+" !== undefined") {
		t.Fatal("the original is loaded before the jump; the test needs it far back")
	}
	evaluate[bool](bob, messageWith("back to the plan")+`.querySelector('[data-testid=msg-quote]').click() === undefined`)
	bob.waitJS("the original is loaded and highlighted", `(() => { const m = `+messageWith("the original plan")+`; return m && m.classList.contains('flash') && document.activeElement === m; })()`)

	// Reply, with @ suggestions by display name.
	bob.openActions("filler 70", "msg-reply")
	bob.waitVisible("[data-testid=reply-note]")
	bob.do("type a mention", chromedp.SendKeys(chromedp.CSS("#composer-input"), "@lidd"))
	bob.waitJS("Alice is suggested", `document.querySelector('[data-testid=mention-option][data-username="alice"]') !== null`)
	bob.checkA11y("chat, replying, @ suggestions")
	bob.screenshot("chat-mention-suggest")
	bob.click(`[data-testid=mention-option][data-username="alice"]`)
	if got := bob.value("#composer-input"); got != "@alice " {
		t.Fatalf("after picking the suggestion the composer holds %q", got)
	}
	bob.do("type the rest", chromedp.SendKeys(chromedp.CSS("#composer-input"), "agreed, *fully* - see `make ship` and https://example.com/plan_b. javascript:alert(1)"))
	bob.click("[data-testid=send]")
	const sent = "@alice agreed, fully - see make ship and https://example.com/plan_b. javascript:alert(1)"
	bob.waitJS("the reply is sent", hasMessage(sent, "sent"))
	if !evaluate[bool](bob, messageWith(sent)+`.querySelector('[data-testid=msg-quote]').textContent.includes('filler 70')`) {
		t.Error("the sent reply does not quote its original")
	}

	// Alice: the "@" badge in the room list, then the Mentions screen.
	alice.waitJS("the @ badge shows", `document.querySelector('[data-testid=room-item][data-name="team"] [data-testid=mention-badge]') !== null`)
	alice.click("[data-testid=open-mentions]")
	alice.waitVisible("[data-testid=mention-item]")
	alice.checkA11y("mentions")
	alice.screenshot("mentions")
	alice.click("[data-testid=mention-item]")
	alice.waitJS("the mentioned message is shown in its room", `(() => { const m = `+messageWith(sent)+`; return m && m.classList.contains('flash'); })()`)
	checks := map[string]string{
		"the mention of Alice is highlighted":    messageWith(sent) + `.querySelector('[data-testid=mention].me')?.textContent === '@alice'`,
		"bold is an element":                     messageWith(sent) + `.querySelector('strong')?.textContent === 'fully'`,
		"code is an element":                     messageWith(sent) + `.querySelector('code')?.textContent === 'make ship'`,
		"the link is safe and ends before the .": messageWith(sent) + `.querySelector('a.msg-link')?.href === 'https://example.com/plan_b' && ` + messageWith(sent) + `.querySelector('a.msg-link').rel === 'noopener noreferrer'`,
		"javascript: is no link":                 `[...document.querySelectorAll('#message-list a')].every((a) => a.protocol === 'https:' || a.protocol === 'http:')`,
		"the quote names Bob's original":         messageWith(sent) + `.querySelector('[data-testid=msg-quote] .quote-body').textContent === 'filler 70'`,
	}
	for what, js := range checks {
		if !evaluate[bool](alice, js) {
			t.Errorf("alice: %s", what)
		}
	}
	alice.click("[data-testid=back]")
	alice.waitGone(`[data-testid=room-item][data-name="team"] [data-testid=mention-badge]`)
	alice.openRoom("team")

	// Reactions: Bob picks 👍, Alice adds hers and a typed 🦄; counts and names travel live.
	bob.openActions(sent, "msg-react")
	bob.click(`[data-testid=quick-reaction][data-emoji="👍"]`)
	chip := func(emoji string) string {
		return messageWith(sent) + fmt.Sprintf(`?.querySelector('[data-testid=reaction][data-emoji=%s]')`, jsString(emoji))
	}
	alice.waitJS("Bob's 👍 arrives", chip("👍")+`?.textContent === '👍1'`)
	if label := evaluate[string](alice, chip("👍")+`.getAttribute('aria-label')`); label != "👍 1: Bob Builder" {
		t.Errorf("the reaction's label is %q", label)
	}
	alice.click(`[data-testid=reaction][data-emoji="👍"]`)
	bob.waitJS("Alice's 👍 arrives", chip("👍")+`?.textContent === '👍2' && `+chip("👍")+`.getAttribute('aria-pressed') === 'true'`)
	alice.openActions(sent, "msg-react")
	alice.fill("[data-testid=emoji-input]", "🦄")
	alice.click("[data-testid=emoji-add]")
	bob.waitJS("the typed 🦄 arrives", chip("🦄")+`?.textContent === '🦄1'`)
	alice.waitVisible("[data-testid=who-reacted]")
	alice.checkA11y("chat, reactions and the picker")
	alice.screenshot("chat-reactions")
	bob.click(`[data-testid=reaction][data-emoji="👍"]`)
	alice.waitJS("Bob takes his 👍 back", chip("👍")+`?.textContent === '👍1'`)
}

// TestBrowserSearchAndJump: Bob searches for a Chinese word that sits inside
// a longer run, sees the match marked, and opens the result: the room loads
// older history until the message shows, highlighted.
func TestBrowserSearchAndJump(t *testing.T) {
	chromium := findChromium(t)
	srv, aliceToken, _, roomID := twoInATeam(t, "Alice", "Bob")
	messages := srv.URL + "/api/v1/rooms/" + roomID + "/messages"
	apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": "大家你好啊，今天开会"}, nil)
	for i := 1; i <= 60; i++ {
		apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": fmt.Sprintf("filler %d", i)}, nil)
	}
	apiCall(t, http.MethodPost, messages, aliceToken, map[string]string{"body": "Parties <b>are</b> fun"}, nil)

	bob := newBrowser(t, chromium, "bob")
	defer bob.checkClean()
	bob.login(srv.URL, "acme", "bob")
	bob.click("[data-testid=open-search]")
	bob.fill("#search-q", "你好")
	bob.click("[data-testid=search-submit]")
	bob.waitVisible("[data-testid=search-result]")
	if got := evaluate[string](bob, `[...document.querySelectorAll('[data-testid=search-result] mark')].map((m) => m.textContent).join('|')`); got != "你好" {
		t.Fatalf("the marked match is %q, want 你好", got)
	}
	bob.fill("#search-q", "party")
	bob.click("[data-testid=search-submit]")
	bob.waitJS("the English result shows", `document.querySelector('[data-testid=search-result] mark')?.textContent === 'Parties'`)
	if n := evaluate[int](bob, `document.querySelectorAll('[data-testid=search-results] b').length`); n != 0 {
		t.Error("markup in a found message became an element")
	}
	bob.checkA11y("search results")
	bob.screenshot("search")
	bob.fill("#search-q", "你好")
	bob.click("[data-testid=search-submit]")
	bob.waitJS("the Chinese result shows", `document.querySelector('[data-testid=search-result] mark')?.textContent === '你好'`)
	bob.click("[data-testid=search-result]")
	bob.waitJS("the message is loaded and highlighted", `(() => { const m = `+messageWith("大家你好啊，今天开会")+`; return m && m.classList.contains('flash'); })()`)
}
