package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"parley/web"
)

// TestOnlyAppRoutesGetTheShell: a path that is neither a file of the client
// nor one of its screens is a 404, not a page of HTML.
func TestOnlyAppRoutesGetTheShell(t *testing.T) {
	srv := startServer(t, nil)
	for path, want := range map[string]int{
		"/":                  http.StatusOK,
		"/rooms/some-room":   http.StatusOK,
		"/me":                http.StatusOK,
		"/favicon.ico":       http.StatusNotFound,
		"/manifest.json":     http.StatusNotFound,
		"/views/missing.js":  http.StatusNotFound,
		"/wp-login.php":      http.StatusNotFound,
		"/icons/missing.png": http.StatusNotFound,
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		shell := strings.Contains(string(body), "app.js")
		if res.StatusCode != want || shell != (want == http.StatusOK) {
			t.Errorf("GET %s: %s (shell: %v), want %d", path, res.Status, shell, want)
		}
	}
}

// TestManifestAndShellFiles: the manifest has what installing needs (real
// PNG icons of the sizes it names, maskable ones too), and index.html links
// every file of the client, since the service worker keeps exactly what it
// links for offline use.
func TestManifestAndShellFiles(t *testing.T) {
	static := web.Static()
	raw, err := fs.ReadFile(static, "manifest.webmanifest")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name            string `json:"name"`
		ShortName       string `json:"short_name"`
		StartURL        string `json:"start_url"`
		Display         string `json:"display"`
		BackgroundColor string `json:"background_color"`
		ThemeColor      string `json:"theme_color"`
		Icons           []struct{ Src, Sizes, Type, Purpose string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Name == "" || m.ShortName == "" || m.StartURL == "" || m.Display != "standalone" || m.BackgroundColor == "" || m.ThemeColor == "" {
		t.Errorf("manifest lacks what installing needs: %+v", m)
	}
	purposes := map[string]bool{}
	for _, icon := range m.Icons {
		f, err := static.Open(strings.TrimPrefix(icon.Src, "/"))
		if err != nil {
			t.Errorf("icon %s: %v", icon.Src, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("icon %s is not a PNG: %v", icon.Src, err)
			continue
		}
		size := img.Bounds().Size()
		if got := fmt.Sprintf("%dx%d", size.X, size.Y); got != icon.Sizes {
			t.Errorf("icon %s is %s, the manifest says %s", icon.Src, got, icon.Sizes)
		}
		purposes[icon.Purpose+" "+icon.Sizes] = true
	}
	for _, want := range []string{"any 192x192", "any 512x512", "maskable 192x192", "maskable 512x512"} {
		if !purposes[want] {
			t.Errorf("no %s icon", want)
		}
	}

	page, err := fs.ReadFile(static, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:href|src)="/([^"]*)"`).FindAllSubmatch(page, -1) {
		linked[string(m[1])] = true
	}
	err = fs.WalkDir(static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if (strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".css")) && path != "sw.js" && !linked[path] {
			t.Errorf("index.html does not link /%s: the app would miss it offline", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setNetwork takes the phone off the network (the page, and its service
// worker, get no connection; nothing it sends reaches the server) or back on.
func (b *browser) setNetwork(srv *server, online bool) {
	b.t.Helper()
	srv.gate.setPhones(online)
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	offline := !online
	_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		EmulateOfflineServiceWorker: &offline,
		MatchedNetworkConditions:    []*network.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}},
	})
	if err == nil {
		_, err = chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: offline, DownloadThroughput: -1, UploadThroughput: -1,
		})
	}
	if err != nil {
		b.failed("set the network", err)
	}
}

// TestBrowserInstallableAndOffline: the app is installable (a manifest Chrome
// accepts, a service worker controlling the page); with the network off it
// still opens, showing the rooms and messages it last saw, read-only and
// marked offline; with the network back it catches up on what it missed.
func TestBrowserInstallableAndOffline(t *testing.T) {
	srv, alice, _ := twoPhones(t, nil)
	alice.createWorkspace(srv.URL, "acme", "Acme Inc", "alice", "Alice")
	alice.newRoom("general")
	alice.send("Saved before going offline")

	// Installable: Chrome reads the manifest without complaint.
	ctx, cancel := context.WithTimeout(alice.ctx, waitTimeout)
	manifest, err := chromedp.Call(ctx, page.GetAppManifest, page.GetAppManifestParams{})
	cancel()
	if err != nil {
		t.Fatalf("read the manifest: %v", err)
	}
	if len(manifest.Errors) > 0 || manifest.Manifest == nil || manifest.Manifest.Name != "Parley" || !strings.Contains(strings.ToLower(manifest.Manifest.Display), "standalone") {
		t.Errorf("manifest %s: errors %v, %+v", manifest.URL, manifest.Errors, manifest.Manifest)
	}
	// A service worker controls the page once it is reloaded.
	evaluate[bool](alice, `(navigator.serviceWorker.ready.then(() => { window.swReady = true; }), true)`)
	alice.waitJS("the service worker is ready", `window.swReady === true`)
	alice.do("reload", chromedp.Reload())
	alice.waitVisible("#composer-input")
	alice.waitJS("the service worker controls the page", `navigator.serviceWorker.controller !== null`)
	alice.waitMessage("Saved before going offline")
	alice.click("[data-testid=back]")
	alice.waitVisible(`[data-testid=room-item][data-name="general"]`)

	// Bob is in the room too, on his own (never offline) connection.
	var bob struct {
		AccessToken string `json:"access_token"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/auth/signup", "", map[string]string{"tenant": "acme", "username": "bob", "password": password}, &bob)
	roomID := evaluate[string](alice, `document.querySelector('[data-testid=room-item][data-name="general"]').dataset.id`)
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+roomID+"/join", bob.AccessToken, nil, nil)

	// No network: the app still opens, with what it last saw.
	alice.setNetwork(srv, false)
	alice.do("reload with no network", chromedp.Reload())
	alice.waitVisible(`[data-testid=room-item][data-name="general"]`)
	alice.waitJS("the app says it is offline", textOf("[data-testid=conn-status]")+` === 'Offline: showing what you last saw'`)
	alice.click(`[data-testid=room-item][data-name="general"]`)
	alice.waitMessage("Saved before going offline")
	alice.waitVisible("[data-testid=offline-note]")
	if n := evaluate[int](alice, `document.querySelectorAll('#composer-input').length`); n != 0 {
		t.Error("the offline chat offers a composer")
	}
	alice.screenshot("offline")
	alice.checkA11y("offline chat")

	// Back online: what Bob said meanwhile arrives, and she can write again.
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+roomID+"/messages", bob.AccessToken, map[string]string{"body": "Posted while you were offline"}, nil)
	alice.setNetwork(srv, true)
	alice.waitMessage("Posted while you were offline")
	alice.waitVisible("#composer-input")
	alice.waitJS("the offline note is gone", textOf("[data-testid=conn-status]")+` === ''`)
	alice.send("Back again")
}

// spyOnBadge records what the page puts on the app icon (headless Chromium
// has no icon to badge): from the next page load on, window.badges lists
// every count set, 0 for a cleared badge.
func (b *browser) spyOnBadge() {
	b.t.Helper()
	b.onEveryPage("spy on the badge", `
		window.badges = [];
		Object.defineProperty(Navigator.prototype, 'setAppBadge', { configurable: true,
			value(n) { window.badges.push(n); return Promise.resolve(); } });
		Object.defineProperty(Navigator.prototype, 'clearAppBadge', { configurable: true,
			value() { window.badges.push(0); return Promise.resolve(); } });`)
}

// onEveryPage runs script in every page the browser loads from now on,
// before the page's own scripts.
func (b *browser) onEveryPage(what, script string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
	if err != nil {
		b.failed(what, err)
	}
}

// allowNotifications grants the page's origin the notification permission,
// as a person answering the browser's prompt would.
func (b *browser) allowNotifications(origin string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin})
	if err != nil {
		b.failed("grant notifications", err)
	}
}

// spyOnNotifications records, as "title | body | tag", each system
// notification the page shows through its service worker, once the browser
// has accepted it (showNotification resolved). Reading them back with
// getNotifications is not dependable: on a loaded machine headless Chromium
// sometimes lists none right after accepting one.
func (b *browser) spyOnNotifications() {
	b.t.Helper()
	b.onEveryPage("spy on notifications", `
		window.notificationsShown = [];
		const show = ServiceWorkerRegistration.prototype.showNotification;
		Object.defineProperty(ServiceWorkerRegistration.prototype, 'showNotification', { configurable: true,
			async value(title, options) {
				await show.call(this, title, options);
				window.notificationsShown.push(title + ' | ' + options.body + ' | ' + options.tag);
			} });`)
}

// notificationsShown waits for the system notifications the page has shown
// through its service worker (see spyOnNotifications).
func (b *browser) notificationsShown() []string {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.notificationsShown`))
		cancel()
		if err != nil {
			b.failed("read the notifications", err)
		}
		if len(shown) > 0 || time.Now().After(deadline) {
			return shown
		}
		b.do("wait for a notification", chromedp.Sleep(100*time.Millisecond))
	}
}

// TestBrowserUnreadCountAndNotifications: with another room open, a new
// message shows as a count in the tab title and on the app badge, and as a
// system notification once notifications are turned on; opening the room
// clears the count.
func TestBrowserUnreadCountAndNotifications(t *testing.T) {
	srv, alice, bob := twoPhones(t, nil)
	alice.spyOnBadge()
	alice.spyOnNotifications()
	alice.allowNotifications(srv.URL)
	alice.createWorkspace(srv.URL, "acme", "Acme Inc", "alice", "Alice")
	alice.newRoom("general")
	alice.click("[data-testid=back]")
	alice.newRoom("random")
	bob.signup(srv.URL, "acme", "bob", "Bob", "")
	bob.joinPublicRoom("general")

	// Notifications are off until Alice turns them on (the browser would ask her then).
	alice.click("[data-testid=back]")
	alice.click("[data-testid=nav-me]")
	alice.waitJS("notifications are off", textOf("[data-testid=notify-status]")+` === 'Off.'`)
	alice.click("[data-testid=notify-toggle]")
	alice.waitJS("notifications are on", textOf("[data-testid=notify-status]")+`.startsWith('On')`)
	alice.screenshot("me-notifications")
	alice.checkA11y("notifications on")

	// Alice reads "random"; Bob writes in "general".
	alice.openRoom("random")
	bob.send("Ping from Bob")
	alice.waitJS("the title counts it", `document.title === '(1) random · Parley'`)
	alice.waitJS("the badge counts it", `window.badges.at(-1) === 1`)
	shown := alice.notificationsShown()
	if len(shown) != 1 || !strings.HasPrefix(shown[0], "Bob · general | Ping from Bob | ") {
		t.Errorf("notifications shown: %q", shown)
	}

	// Opening the room reads it: the count goes.
	alice.click("[data-testid=back]")
	alice.openRoom("general")
	alice.waitJS("the title has no count", `document.title === 'general · Parley'`)
	alice.waitJS("the badge is cleared", `window.badges.at(-1) === 0`)
}
