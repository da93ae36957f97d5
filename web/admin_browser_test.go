package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// apiStatus makes one JSON request and returns only its status.
func apiStatus(t *testing.T, method, url string, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestBrowserInvitesListAndRevoke: an admin makes invite codes for one and
// for several people, sees them listed with their uses, and revokes one; the
// revoked code signs nobody up, the other still works once.
func TestBrowserInvitesListAndRevoke(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, nil)
	owner := apiTenant(t, srv.URL, "invites", "alice", "Alice")
	apiCall(t, http.MethodPatch, srv.URL+"/api/v1/tenant", owner, map[string]string{"signup_policy": "invite"}, nil)

	alice := newBrowser(t, chromium, "alice")
	defer alice.checkClean()
	alice.login(srv.URL, "invites", "alice")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-invites]")
	alice.waitJS("the list says there is no invite", `document.querySelector('[data-testid=invite-list] .empty')?.textContent === 'No open invite codes.'`)

	alice.fill("#invite-max_uses", "3")
	alice.click("[data-testid=invite-create]")
	group := alice.value("[data-testid=invite-code]")
	row := func(code string) string { return fmt.Sprintf("[data-testid=invite][data-name=%s]", jsString(code[:6])) }
	alice.waitVisible(row(group))
	alice.checkA11y("admin invites, listed")
	alice.waitJS("the invite shows its uses", fmt.Sprintf(`document.querySelector(%s).textContent.includes('used 0 of 3')`, jsString(row(group))))
	if evaluate[bool](alice, fmt.Sprintf(`document.querySelector('[data-testid=invite-list]').textContent.includes(%s)`, jsString(group))) {
		t.Error("the list shows a whole invite code")
	}

	alice.fill("#invite-max_uses", "1")
	alice.click("[data-testid=invite-create]")
	alice.waitJS("a second code is shown", fmt.Sprintf(`document.querySelector('[data-testid=invite-code]').value !== %s`, jsString(group)))
	single := alice.value("[data-testid=invite-code]")
	alice.waitVisible(row(single))
	if n := evaluate[int](alice, `document.querySelectorAll('[data-testid=invite]').length`); n != 2 {
		t.Fatalf("%d invites listed, want 2", n)
	}

	alice.click(row(group) + " [data-testid=invite-revoke]")
	alice.waitVisible("[data-testid=dialog]")
	alice.checkA11y("revoke invite dialog")
	alice.click("[data-testid=dialog-ok]")
	alice.waitGone(row(group))

	signup := func(username, code string) int {
		return apiStatus(t, http.MethodPost, srv.URL+"/api/v1/auth/signup",
			fmt.Sprintf(`{"tenant":"invites","username":%q,"password":%q,"invite_code":%q}`, username, password, code))
	}
	if st := signup("bob", group); st != http.StatusForbidden {
		t.Errorf("sign-up with the revoked code: %d, want 403", st)
	}
	if st := signup("bob", single); st != http.StatusCreated {
		t.Errorf("sign-up with the open code: %d, want 201", st)
	}
	if st := signup("carol", single); st != http.StatusForbidden {
		t.Errorf("second sign-up with a single-use code: %d, want 403", st)
	}
	// Used up, it is no longer listed.
	alice.click("[data-testid=admin-tab-keys]")
	alice.click("[data-testid=admin-tab-invites]")
	alice.waitJS("the used-up invite is gone", `document.querySelector('[data-testid=invite-list] .empty') !== null`)
}

// TestBrowserAuditScreen: an admin reads the audit log, newest first, with
// who did what to whom and from where, loads older entries, and reads it in
// Chinese too.
func TestBrowserAuditScreen(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, nil)
	owner := apiTenant(t, srv.URL, "audited", "alice", "Alice")
	var bob struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/auth/signup", "", map[string]string{"tenant": "audited", "username": "bob", "password": password}, &bob)
	const renames = 55 // more than one page of 50
	for i := range renames {
		apiCall(t, http.MethodPatch, srv.URL+"/api/v1/tenant", owner, map[string]string{"name": fmt.Sprintf("Audited %02d", i)}, nil)
	}
	var key struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/apikeys", owner, map[string]any{"name": "crm", "scopes": []string{"users:write"}}, &key)
	apiCall(t, http.MethodDelete, srv.URL+"/api/v1/apikeys/"+key.ID, owner, nil, nil)
	apiCall(t, http.MethodPatch, srv.URL+"/api/v1/users/"+bob.User.ID, owner, map[string]string{"role": "admin"}, nil)

	alice := newBrowser(t, chromium, "alice")
	defer alice.checkClean()
	alice.login(srv.URL, "audited", "alice")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-audit]")
	entries := `document.querySelectorAll('[data-testid=audit-entry]')`
	alice.waitJS("the first page shows", entries+".length === 50")
	alice.checkA11y("admin audit")
	first := evaluate[string](alice, entries+"[0].textContent")
	for _, want := range []string{"Changed the role of @bob", "Member → Admin", "by @alice", "127.0.0.1"} {
		if !strings.Contains(first, want) {
			t.Errorf("the newest entry %q does not say %q", first, want)
		}
	}
	if second := evaluate[string](alice, entries+"[1].textContent"); !strings.Contains(second, "Revoked the API key crm") {
		t.Errorf("the second entry is %q", second)
	}
	alice.click("[data-testid=audit-more]")
	alice.waitJS("the older page follows", fmt.Sprintf("%s.length === %d", entries, renames+3))
	alice.waitGone("[data-testid=audit-more]")
	if last := evaluate[string](alice, entries+"["+fmt.Sprint(renames+2)+"].textContent"); !strings.Contains(last, "Changed the workspace settings") || !strings.Contains(last, "name: Audited 00") {
		t.Errorf("the oldest entry is %q", last)
	}

	alice.click("[data-testid=nav-me]")
	alice.choose("#lang-language", "zh")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-audit]")
	alice.waitJS("the log reads in Chinese", entries+`.length > 0 && `+entries+`[0].textContent.includes('更改了 @bob 的角色')`)
	alice.checkA11y("admin audit")
}
