package web_test

// Browser tests of the web client: real headless Chromium, driven with
// chromedp at a phone's viewport, against a real Parley server.
//
// They skip when no Chromium is installed (Debian: apt-get install chromium),
// unless PARLEY_REQUIRE_BROWSER=1, which makes a missing browser a failure.
// With PARLEY_SCREENSHOTS=1 they also save the screenshots of the main
// screens to docs/screenshots/.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"parley/config"
	"parley/internal/app"
	"parley/internal/limit"
)

const (
	phoneWidth  = 390
	phoneHeight = 844
	waitTimeout = 20 * time.Second
	password    = "correct-horse-battery"
	xssBody     = `<img src=x onerror=alert(1)>`
)

// findChromium returns the browser to drive, or skips the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "no Chromium found (install Debian's chromium package: apt-get install chromium)"
	if os.Getenv("PARLEY_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + ", and PARLEY_REQUIRE_BROWSER=1 requires the browser tests to run")
	}
	t.Skip(msg + "; skipping the browser tests (set PARLEY_REQUIRE_BROWSER=1 to make this a failure)")
	return ""
}

// gate sits in front of the server so that a test can drop the event streams,
// as a phone losing its connection would, and make message posts fail.
type gate struct {
	next http.Handler

	dropStreams func() // ends every open event stream, as a lost connection would

	mu          sync.Mutex
	streamsDown bool
	postsDown   bool
	held        func(*http.Request) bool // requests that wait for heldUntil
	heldUntil   chan struct{}
	phonesOff   bool // the browsers' requests never reach the server (the phone has no network)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	switch {
	case g.phonesOff && strings.Contains(r.UserAgent(), "Chrome"):
		g.mu.Unlock()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close() // no answer at all, as with no network
		}
	case r.URL.Path == "/api/v1/events" && g.streamsDown:
		g.mu.Unlock()
		http.Error(w, "the test dropped the connection", http.StatusServiceUnavailable)
	case g.postsDown && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages"):
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"code":"internal","message":"the test made posts fail"}}`)
	case g.held != nil && g.held(r):
		until := g.heldUntil
		g.mu.Unlock()
		select {
		case <-until:
			g.next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	default:
		g.mu.Unlock()
		g.next.ServeHTTP(w, r)
	}
}

// hold makes the requests that match wait, as on a slow network, until
// release is called.
func (g *gate) hold(match func(*http.Request) bool) (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	until := make(chan struct{})
	g.held, g.heldUntil = match, until
	return sync.OnceFunc(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.held = nil
		close(until)
	})
}

// setStreams opens or drops every event stream (and refuses new ones while down).
func (g *gate) setStreams(up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streamsDown = !up
	if !up {
		g.dropStreams()
	}
}

// setPhones cuts the browsers off the network or lets them back on; other
// clients (the test's own requests) still reach the server.
func (g *gate) setPhones(online bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.phonesOff = !online
	if !online {
		g.dropStreams()
	}
}

func (g *gate) setPosts(up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.postsDown = !up
}

type server struct {
	URL  string
	gate *gate
}

// seedAtFullSpeed lifts the per-user post limit, for tests that seed a
// history through the API.
func seedAtFullSpeed(c *config.Config) { c.PostLimitUser = limit.Rate{} }

// startServer runs a fresh Parley (own data directory) behind a gate.
func startServer(t *testing.T, configure func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.BcryptCost = 4
	if configure != nil {
		configure(&cfg)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start the server: %v", err)
	}
	g := &gate{next: a.Handler(), dropStreams: a.Rooms.Hub().Shutdown}
	for _, path := range []string{"/", "/index.html", "/rooms/some-room"} {
		probe := httptest.NewRecorder()
		a.Handler().ServeHTTP(probe, httptest.NewRequest(http.MethodGet, path, nil))
		if probe.Code != http.StatusOK || !strings.Contains(probe.Body.String(), "app.js") {
			t.Fatalf("GET %s answers %d (Location %q), not the app shell", path, probe.Code, probe.Header().Get("Location"))
		}
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		a.EndStreams()
		srv.CloseClientConnections()
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close the server: %v", err)
		}
	})
	return &server{URL: srv.URL, gate: g}
}

// browser is one person's phone: its own Chromium with its own profile.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string
	scheme   string // the emulated prefers-color-scheme; "" is light

	// accessibility checks (a11y_browser_test.go)
	axeMissingSaid bool
	checked        map[string]*checkedScreen // by path
	checkedOrder   []string
}

func newBrowser(t *testing.T, chromium, name string) *browser {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(phoneWidth, phoneHeight),
		chromedp.Flag("lang", "en-US"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, name: name, ctx: ctx}
	// The first run starts the browser; it must not have a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatalf("%s: start Chromium: %v", name, err)
	}
	b.watch()
	return b
}

// twoPhones starts a server and the phones of Alice and Bob; at the end of
// the test, whatever went wrong in either page fails it.
func twoPhones(t *testing.T, configure func(*config.Config)) (*server, *browser, *browser) {
	t.Helper()
	chromium := findChromium(t)
	srv := startServer(t, configure)
	alice := newBrowser(t, chromium, "alice")
	bob := newBrowser(t, chromium, "bob")
	t.Cleanup(alice.checkClean)
	t.Cleanup(bob.checkClean)
	return srv, alice, bob
}

// watch records what must never happen: a JavaScript dialog (an injected
// alert), an uncaught exception, a console error from the page's own code or
// a Content-Security-Policy violation.
func (b *browser) watch() {
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.report("a JavaScript dialog opened: " + ev.Message)
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	console := chromedp.Console(b.ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				b.report(m.String())
			}
		}
	}()
}

func (b *browser) report(problem string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, problem)
}

// checkClean fails the test for every problem watch saw.
func (b *browser) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("%s: %s", b.name, p)
	}
}

// do runs steps with a timeout; on failure it saves a screenshot and stops the test.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.failed(what, err)
	}
}

func (b *browser) failed(what string, err error) {
	b.t.Helper()
	shot := filepath.Join(os.TempDir(), fmt.Sprintf("parley-%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), b.name))
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, shotErr := chromedp.Run(ctx, chromedp.CaptureScreenshot()); shotErr == nil {
		_ = os.WriteFile(shot, png, 0o644)
	}
	b.t.Fatalf("%s: %s: %v (screen saved to %s)", b.name, what, err, shot)
}

func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
}

// click taps an element, then waits until the screen on display is the one
// the URL names, so that the next step never acts on a screen on its way out.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	b.settle()
}

// settle waits until the app has drawn the screen of the current URL (app.js
// marks the screen it drew in #view's data-route).
func (b *browser) settle() {
	b.t.Helper()
	b.waitJS("the screen follows the URL", `document.getElementById('view').dataset.route === location.hash.slice(1).split('?')[0]`)
}

func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), value))
}

func (b *browser) typeText(sel, value string) {
	b.t.Helper()
	b.waitVisible(sel)
	evaluate[bool](b, fmt.Sprintf(`(document.querySelector(%s).value = '') === ''`, jsString(sel)))
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
}

// choose picks an option of a <select> the way a person does (firing change).
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.waitVisible(sel)
	evaluate[bool](b, fmt.Sprintf(`(() => {
		const s = document.querySelector(%s);
		s.value = %s;
		s.dispatchEvent(new Event('change'));
		return true;
	})()`, jsString(sel), jsString(value)))
}

func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browser) waitGone(sel string) {
	b.t.Helper()
	b.do("wait for "+sel+" to go", chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout+5*time.Second)
	defer cancel()
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(waitTimeout), chromedp.WithPollingInterval(100*time.Millisecond))
	if _, err := chromedp.Run(ctx, poll); err != nil {
		b.failed(what, err)
	}
}

func evaluate[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.failed("evaluate "+expr, err)
	}
	return v
}

func (b *browser) value(sel string) string {
	b.t.Helper()
	b.waitVisible(sel)
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.failed("read "+sel, err)
	}
	return v
}

// setColorScheme switches prefers-color-scheme between "light" and "dark".
func (b *browser) setColorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		b.failed("prefer "+scheme, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.scheme = scheme
}

func (b *browser) colorScheme() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.scheme == "" {
		return "light"
	}
	return b.scheme
}

// screenshot captures the screen; with PARLEY_SCREENSHOTS=1 it is kept in
// docs/screenshots/NAME.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	evaluate[bool](b, `(document.getElementById('toast').textContent = '') === ''`) // no stale notes in the picture
	b.do("let the page settle", chromedp.Sleep(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.failed("screenshot "+name, err)
	}
	dir := b.t.TempDir()
	if os.Getenv("PARLEY_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

// hasMessage is a JavaScript test for a message with exactly this text (and,
// when status is not empty, that status) in the open chat.
func hasMessage(body, status string) string {
	sel := "#message-list [data-testid=message]"
	if status != "" {
		sel += "[data-status=" + status + "]"
	}
	return fmt.Sprintf(`[...document.querySelectorAll(%s)].some((m) => m.querySelector('.msg-body')?.textContent === %s)`,
		jsString(sel), jsString(body))
}

func countMessages(body string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#message-list .msg-body')].filter((e) => e.textContent === %s).length`, jsString(body))
}

// ---- flows shared by the tests ----

// authForm opens a screen for people not logged in, checks it, fills the
// form's fields (pairs of field and value, in order; an empty value is left
// alone) and submits it, which leads to the room list.
func (b *browser) authForm(url, form, screen string, fields ...string) {
	b.t.Helper()
	b.open(url)
	b.checkA11y(screen)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] != "" {
			b.fill("#"+form+"-"+fields[i], fields[i+1])
		}
	}
	b.click("[data-testid=" + form + "-submit]")
	b.waitVisible("[data-testid=room-list]")
}

func (b *browser) createWorkspace(base, slug, name, username, display string) {
	b.t.Helper()
	b.authForm(base+"/#/new", "workspace", "new workspace",
		"slug", slug, "name", name, "username", username, "display_name", display, "password", password)
}

func (b *browser) signup(base, slug, username, display, invite string) {
	b.t.Helper()
	b.authForm(base+"/#/signup", "signup", "sign up",
		"tenant", slug, "username", username, "display_name", display, "password", password, "invite_code", invite)
}

func (b *browser) login(base, tenant, username string) {
	b.t.Helper()
	b.authForm(base+"/#/login", "login", "log in", "tenant", tenant, "username", username, "password", password)
}

// newRoom creates a room from the room list and opens it.
func (b *browser) newRoom(name string) {
	b.t.Helper()
	b.click("[data-testid=new-room]")
	b.fill("#new-room-form-name", name)
	b.click("[data-testid=new-room-form-submit]")
	b.waitVisible("#composer-input")
}

func (b *browser) joinPublicRoom(name string) {
	b.t.Helper()
	b.click("[data-testid=nav-browse]")
	b.waitVisible(fmt.Sprintf("[data-testid=public-room][data-name=%s]", jsString(name)))
	b.checkA11y("public rooms")
	b.click(fmt.Sprintf("[data-testid=public-room][data-name=%s] [data-testid=join-room]", jsString(name)))
	b.waitVisible("#composer-input")
}

func (b *browser) openRoom(name string) {
	b.t.Helper()
	b.click("[data-testid=nav-rooms]")
	b.click(fmt.Sprintf("[data-testid=room-item][data-name=%s]", jsString(name)))
	b.waitVisible("#composer-input")
	b.waitJS("the history loads", `!document.querySelector('[data-testid=history-edge]').textContent.includes('…')`)
	b.checkA11y("chat")
}

func (b *browser) send(body string) {
	b.t.Helper()
	b.typeText("#composer-input", body)
	b.click("[data-testid=send]")
	b.waitJS("my message is sent: "+body, hasMessage(body, "sent"))
}

func (b *browser) waitMessage(body string) {
	b.t.Helper()
	b.waitJS("the message arrives: "+body, hasMessage(body, ""))
}

// messageAction opens the ⋯ menu of my message with this body and clicks an action.
func (b *browser) messageAction(body, action string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const m = [...document.querySelectorAll('#message-list [data-testid=message]')]
			.find((m) => m.querySelector('.msg-body').textContent === %s);
		m.querySelector('[data-testid=msg-more]').click();
		m.querySelector('[data-testid=%s]').click();
		return true;
	})()`, jsString(body), action)
	evaluate[bool](b, js)
}

// ---- the tests ----

// TestBrowserWorkspaceChatAndAdmin: Alice creates a workspace and, in the
// admin screens, a room, an invite-only sign-up policy, an invite and an API
// key; Bob signs up with the invite and joins the room; each sees the other's
// messages live; markup in a message stays text; unread counts, edit and
// delete reach the other side; the interface switches to Chinese.
func TestBrowserWorkspaceChatAndAdmin(t *testing.T) {
	srv, alice, bob := twoPhones(t, nil)

	alice.open(srv.URL + "/")
	alice.waitVisible("#login")
	alice.checkA11y("log in")
	alice.screenshot("login")
	alice.createWorkspace(srv.URL, "acme", "Acme Inc", "alice", "Alice")

	// Admin: rooms.
	alice.click("[data-testid=nav-admin]")
	for _, room := range []struct{ name, topic string }{{"general", "Anything goes"}, {"random", "Off topic"}} {
		alice.fill("#room-create-name", room.name)
		alice.fill("#room-create-topic", room.topic)
		alice.click("[data-testid=room-create-submit]")
		alice.waitVisible(fmt.Sprintf("[data-testid=admin-room][data-name=%s]", jsString(room.name)))
	}
	alice.checkA11y("admin rooms")
	alice.screenshot("admin-rooms")

	// Admin: sign-up by invitation only, and an invite code.
	alice.click("[data-testid=admin-tab-invites]")
	alice.fill("#tenant-settings-signup_policy", "invite")
	alice.click("[data-testid=tenant-settings-submit]")
	alice.waitJS("the policy is saved", `document.getElementById('toast').textContent === 'Saved'`)
	alice.click("[data-testid=invite-create]")
	invite := alice.value("[data-testid=invite-code]")
	alice.checkA11y("admin invites, a new code")
	if invite == "" {
		t.Fatal("the invite code is empty")
	}

	// Admin: API keys: create one (shown once), and revoke another.
	alice.click("[data-testid=admin-tab-keys]")
	for _, name := range []string{"deploy-bot", "old-key"} {
		alice.fill("#apikey-form-name", name)
		alice.click("#apikey-form-scopes input[data-value='messages:write']")
		alice.click("#apikey-form-scopes input[data-value='rooms:write']")
		alice.click("[data-testid=apikey-form-submit]")
		alice.waitVisible(fmt.Sprintf("[data-testid=apikey][data-name=%s]", jsString(name)))
		if key := alice.value("[data-testid=apikey-secret]"); !strings.HasPrefix(key, "pk_") {
			t.Fatalf("the new API key %q does not start with pk_", key)
		}
	}
	alice.checkA11y("admin keys, a new key")
	alice.screenshot("admin-keys")
	alice.click("[data-testid=apikey-done]")
	alice.click(`[data-testid=apikey][data-name="old-key"] [data-testid=apikey-revoke]`)
	alice.waitVisible("[data-testid=dialog]")
	alice.checkA11y("revoke dialog")
	alice.click("[data-testid=dialog-ok]")
	alice.waitGone(`[data-testid=apikey][data-name="old-key"]`)
	alice.click("[data-testid=admin-tab-rooms]")
	alice.click("[data-testid=admin-tab-keys]")
	alice.waitVisible(`[data-testid=apikey][data-name="deploy-bot"]`)
	if n := evaluate[int](alice, `document.querySelectorAll('[data-testid=apikey-secret]').length`); n != 0 {
		t.Errorf("the API key secret is shown again after leaving the screen")
	}

	// Bob: sign-up needs the invite now.
	bob.open(srv.URL + "/#/signup")
	bob.fill("#signup-tenant", "acme")
	bob.fill("#signup-username", "bob")
	bob.fill("#signup-password", password)
	bob.click("[data-testid=signup-submit]")
	bob.waitVisible("#signup-error")
	bob.checkA11y("sign-up refused")
	bob.signup(srv.URL, "acme", "bob", "Bob", invite)
	if n := evaluate[int](bob, `document.querySelectorAll('[data-testid=nav-admin]').length`); n != 0 {
		t.Error("a plain member sees the admin tab")
	}
	bob.joinPublicRoom("general")
	alice.openRoom("general")

	// Live both ways.
	alice.send("Hello Bob!")
	bob.waitMessage("Hello Bob!")
	bob.send("Hi Alice, nice to see you.")
	alice.waitMessage("Hi Alice, nice to see you.")

	// Markup is text.
	bob.send(xssBody)
	alice.waitMessage(xssBody)
	for _, b := range []*browser{alice, bob} {
		if n := evaluate[int](b, `document.querySelectorAll('#message-list img').length`); n != 0 {
			t.Errorf("%s: the message became %d <img> element(s)", b.name, n)
		}
	}

	// Unread counts on the room list, live.
	bob.click("[data-testid=back]")
	bob.waitVisible(`[data-testid=room-item][data-name="general"]`)
	alice.send("Are you there?")
	bob.waitJS("the unread count shows 1", `document.querySelector('[data-testid=room-item][data-name="general"] [data-testid=unread]')?.textContent === '1'`)
	bob.checkA11y("rooms, unread")
	bob.screenshot("rooms")
	bob.setColorScheme("dark")
	bob.screenshot("rooms-dark")
	bob.setColorScheme("light")

	// Edit and delete reach the other side.
	bob.openRoom("general")
	alice.messageAction("Are you there?", "msg-edit")
	alice.typeText("#composer-input", "Are you there, Bob?")
	alice.click("[data-testid=send]")
	bob.waitMessage("Are you there, Bob?")
	bob.waitJS("the edit is marked", `[...document.querySelectorAll('#message-list .msg-meta')].some((m) => m.textContent.includes('edited'))`)
	alice.messageAction("Hello Bob!", "msg-delete")
	alice.click("[data-testid=dialog-ok]")
	bob.waitMessage("Message deleted")
	if n := evaluate[int](bob, countMessages("Hello Bob!")); n != 0 {
		t.Error("the deleted message is still shown to Bob")
	}
	bob.send("Yes, here!")
	alice.waitMessage("Yes, here!")
	alice.screenshot("chat")
	alice.setColorScheme("dark")
	alice.screenshot("chat-dark")
	alice.setColorScheme("light")

	// Room members and roles, from the chat's header.
	alice.click("[data-testid=room-members]")
	alice.choose(`[data-testid=member][data-name="bob"] [data-testid=member-role]`, "moderator")
	alice.waitJS("the role is saved", `document.getElementById('toast').textContent === 'Saved'`)
	alice.checkA11y("members")
	alice.screenshot("members")

	// Users of the workspace.
	alice.click("[data-testid=back]")
	alice.click("[data-testid=back]")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-users]")
	alice.waitVisible(`[data-testid=user][data-name="bob"] [data-testid=user-role]`)
	alice.checkA11y("admin users")
	alice.screenshot("admin-users")
	alice.setColorScheme("dark")
	alice.click("[data-testid=admin-tab-rooms]")
	alice.waitVisible(`[data-testid=admin-room][data-name="general"]`)
	alice.screenshot("admin-rooms-dark")
	alice.setColorScheme("light")

	// Chinese interface, switched on the "me" screen.
	alice.click("[data-testid=nav-me]")
	alice.checkA11y("me")
	alice.choose("#lang-language", "zh")
	alice.waitJS("the interface is Chinese", `document.documentElement.lang === 'zh-CN' && document.querySelector('[data-testid=nav-rooms]').textContent.includes('聊天')`)
	alice.click("[data-testid=nav-rooms]")
	alice.waitVisible(`[data-testid=room-item][data-name="general"]`)
	alice.checkA11y("rooms")
	alice.screenshot("rooms-zh")

	// At 360 px, the narrowest common phone, nothing sticks out sideways.
	alice.do("narrow the screen", chromedp.EmulateViewport(360, 780, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	noOverflow := `document.documentElement.scrollWidth <= 360 && document.querySelector('.view').scrollWidth <= 360`
	alice.openRoom("general")
	alice.waitJS("the chat fits 360 px", noOverflow)
	alice.screenshot("chat-zh-360")
	alice.click("[data-testid=back]")
	alice.click("[data-testid=nav-admin]")
	for _, tab := range []string{"users", "invites", "keys", "audit", "rooms"} {
		alice.click("[data-testid=admin-tab-" + tab + "]")
		alice.waitJS("the admin "+tab+" screen fits 360 px", noOverflow)
		alice.checkA11y("admin " + tab + " at 360 px")
	}
	alice.screenshot("admin-zh-360")
	alice.do("widen the screen", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))

	// Log out, and back in.
	alice.click("[data-testid=nav-me]")
	alice.click("[data-testid=logout]")
	alice.waitVisible("#login")
	alice.login(srv.URL, "acme", "alice")
	alice.waitVisible(`[data-testid=room-item][data-name="general"]`)
}

// TestBrowserReconnectAndRetry: with short-lived tokens, the stream survives
// token expiry; when the connection drops, the client shows that it is
// reconnecting and, once back, gets what it missed; a failed send is shown as
// failed and retried without a duplicate.
func TestBrowserReconnectAndRetry(t *testing.T) {
	srv, alice, bob := twoPhones(t, func(c *config.Config) { c.AccessTokenTTL = 5 * time.Second })

	alice.createWorkspace(srv.URL, "blue-team", "Blue team", "alice", "Alice")
	alice.click("[data-testid=new-room]")
	alice.checkA11y("new room")
	alice.fill("#new-room-form-name", "ops")
	alice.click("[data-testid=new-room-form-submit]")
	alice.waitVisible("#composer-input")
	bob.signup(srv.URL, "blue-team", "bob", "Bob", "")
	bob.joinPublicRoom("ops")

	// Tokens live 5 s: after 7 s both have refreshed and the streams have
	// been through token.expired.
	firstToken := evaluate[string](bob, `JSON.parse(localStorage.getItem('parley.session')).access`)
	bob.do("wait past the token's expiry", chromedp.Sleep(7*time.Second))
	if evaluate[string](bob, `JSON.parse(localStorage.getItem('parley.session')).access`) == firstToken {
		t.Error("the access token was not refreshed before it expired")
	}
	alice.send("still here after the token expired")
	bob.waitMessage("still here after the token expired")

	// Drop the streams: "reconnecting" shows; what Bob says meanwhile arrives later.
	srv.gate.setStreams(false)
	alice.waitJS("the reconnecting state shows", `document.querySelector('[data-testid=conn-status]').textContent === 'Reconnecting…'`)
	alice.checkA11y("chat, reconnecting")
	alice.screenshot("reconnecting")
	bob.send("sent while you were offline")
	srv.gate.setStreams(true)
	alice.waitMessage("sent while you were offline")
	alice.waitJS("the reconnecting state clears", `document.querySelector('[data-testid=conn-status]').textContent === ''`)

	// A send that fails shows as failed; retrying it posts it once.
	srv.gate.setPosts(false)
	alice.typeText("#composer-input", "retry me")
	alice.click("[data-testid=send]")
	alice.waitVisible("[data-testid=message][data-status=failed] [data-testid=msg-retry]")
	alice.checkA11y("chat, a message not sent")
	srv.gate.setPosts(true)
	alice.click("[data-testid=message][data-status=failed] [data-testid=msg-retry]")
	alice.waitJS("the retried message is sent", hasMessage("retry me", "sent"))
	bob.waitMessage("retry me")
	bob.send("got it")
	alice.waitMessage("got it")
	for _, b := range []*browser{alice, bob} {
		if n := evaluate[int](b, countMessages("retry me")); n != 1 {
			t.Errorf("%s sees %q %d times, want once", b.name, "retry me", n)
		}
	}

	// Disabling Bob ends his login: his phone goes back to the login screen.
	alice.click("[data-testid=back]")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-users]")
	alice.click(`[data-testid=user][data-name="bob"] [data-testid=user-disable]`)
	alice.waitVisible("[data-testid=dialog]")
	alice.checkA11y("disable dialog")
	alice.click("[data-testid=dialog-ok]")
	bob.waitVisible("#login")
}

// apiCall makes one JSON request to the server and decodes the answer into out.
func apiCall(t *testing.T, method, url, token string, body, out any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: %s %s", method, url, res.Status, msg)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// apiTenant creates a workspace through the API and returns its owner's
// access token.
func apiTenant(t *testing.T, base, slug, owner, display string) string {
	t.Helper()
	return tokenFrom(t, base+"/api/v1/tenants", map[string]any{
		"slug": slug, "name": strings.ToUpper(slug), "admin": map[string]string{"username": owner, "password": password, "display_name": display},
	})
}

// apiSignup signs a user up through the API and returns their access token.
func apiSignup(t *testing.T, base, slug, username, display string) string {
	t.Helper()
	return tokenFrom(t, base+"/api/v1/auth/signup", map[string]string{
		"tenant": slug, "username": username, "password": password, "display_name": display})
}

// apiLogin logs a user in through the API and returns the access token.
func apiLogin(t *testing.T, base, slug, username string) string {
	t.Helper()
	return tokenFrom(t, base+"/api/v1/auth/login", map[string]string{"tenant": slug, "username": username, "password": password})
}

// tokenFrom POSTs body to url, which answers with a token response, and
// returns its access token.
func tokenFrom(t *testing.T, url string, body any) string {
	t.Helper()
	var login struct {
		AccessToken string `json:"access_token"`
	}
	apiCall(t, http.MethodPost, url, "", body, &login)
	return login.AccessToken
}

// TestBrowserHistoryPaging: a long room opens on its last 50 messages and
// loads older pages, in order and without gaps, as the person scrolls up.
func TestBrowserHistoryPaging(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, seedAtFullSpeed)
	token := apiTenant(t, srv.URL, "history", "carol", "Owner")
	var room struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms", token, map[string]string{"name": "archive"}, &room)
	const total = 120
	for i := 1; i <= total; i++ {
		apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+room.ID+"/messages", token,
			map[string]string{"body": fmt.Sprintf("message %d", i)}, nil)
	}

	carol := newBrowser(t, chromium, "carol")
	defer carol.checkClean()
	carol.login(srv.URL, "history", "carol")
	carol.openRoom("archive")
	count := `document.querySelectorAll('#message-list [data-testid=message]').length`
	if n := evaluate[int](carol, count); n != 50 {
		t.Fatalf("the room opens with %d messages, want the last 50", n)
	}
	carol.waitMessage(fmt.Sprintf("message %d", total))
	for _, want := range []int{100, total} {
		evaluate[bool](carol, `(document.querySelector('.log').scrollTop = 0) === 0`)
		carol.waitJS(fmt.Sprintf("%d messages after scrolling up", want), fmt.Sprintf("%s === %d", count, want))
		if want == 100 {
			// What was at the top stays on screen: the older page goes above it.
			const stays = `(() => {
				const log = document.querySelector('.log');
				const m = document.querySelector('#message-list [data-seq="71"]');
				const top = m.getBoundingClientRect().top - log.getBoundingClientRect().top;
				return top > -80 && top < log.clientHeight;
			})()`
			if !evaluate[bool](carol, stays) {
				t.Error("loading older messages moved the conversation out of view")
			}
		}
	}
	carol.waitJS("the start of the room shows", `document.querySelector('[data-testid=history-edge]').textContent === 'This is the start of the room.'`)
	const inOrder = `[...document.querySelectorAll('#message-list [data-testid=message]')]
		.every((m, i) => m.dataset.seq === String(i + 1) && m.querySelector('.msg-body').textContent === 'message ' + (i + 1))`
	if !evaluate[bool](carol, inOrder) {
		t.Error("the loaded history is not 1..120 in order")
	}
	carol.checkA11y("chat, the whole history")
}

// TestClientFilesServedWithCSP checks, without a browser, that the server
// serves the client's files with the right types and a Content-Security-Policy
// that allows only this origin's own scripts and styles.
func TestClientFilesServedWithCSP(t *testing.T) {
	srv := startServer(t, nil)
	for path, wantType := range map[string]string{
		"/app.js":                      "javascript",
		"/views/chat.js":               "javascript",
		"/locales/zh.js":               "javascript",
		"/style.css":                   "text/css",
		"/sw.js":                       "text/javascript",
		"/manifest.webmanifest":        "application/manifest+json",
		"/icons/icon-512.png":          "image/png",
		"/icons/icon-maskable-512.png": "image/png",
		"/apple-touch-icon.png":        "image/png",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		switch {
		case res.StatusCode != http.StatusOK:
			t.Errorf("GET %s: %s", path, res.Status)
		case !strings.Contains(res.Header.Get("Content-Type"), wantType):
			t.Errorf("GET %s: Content-Type %q, want %s", path, res.Header.Get("Content-Type"), wantType)
		case !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe"):
			t.Errorf("GET %s: Content-Security-Policy %q does not forbid inline code", path, csp)
		}
	}
}
