package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBrowserSameDisplayNamesShowUsernames: two people called "Sam" in one
// room are told apart by their @username wherever they write; someone whose
// name is theirs alone is shown by name only, until a namesake joins; tapping
// an author's name shows who it is.
func TestBrowserSameDisplayNamesShowUsernames(t *testing.T) {
	chromium := findChromium(t)
	srv := startServer(t, nil)
	owner := apiTenant(t, srv.URL, "names", "alice", "Alice")
	var rm struct {
		ID string `json:"id"`
	}
	apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms", owner, map[string]string{"name": "lobby"}, &rm)
	say := func(token, body string) {
		apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+rm.ID+"/join", token, nil, nil)
		apiCall(t, http.MethodPost, srv.URL+"/api/v1/rooms/"+rm.ID+"/messages", token, map[string]string{"body": body}, nil)
	}
	say(apiSignup(t, srv.URL, "names", "sam.lee", "Sam"), "hi from the first Sam")
	say(apiSignup(t, srv.URL, "names", "sam.wu", "Sam"), "hi from the second Sam")
	say(apiSignup(t, srv.URL, "names", "dora", "Dora"), "hello from Dora")

	alice := newBrowser(t, chromium, "alice")
	defer alice.checkClean()
	alice.login(srv.URL, "names", "alice")
	alice.openRoom("lobby")
	author := func(body string) string {
		return fmt.Sprintf(`(%s)?.querySelector('[data-testid=msg-author]')?.textContent`, messageWith(body))
	}
	alice.waitJS("each Sam shows their @username", fmt.Sprintf(`%s === 'Sam@sam.lee' && %s === 'Sam@sam.wu'`,
		author("hi from the first Sam"), author("hi from the second Sam")))
	if got := evaluate[string](alice, author("hello from Dora")); got != "Dora" {
		t.Errorf("a name nobody else here has is shown as %q, want just Dora", got)
	}

	// Tapping an author's name shows who it is.
	evaluate[bool](alice, fmt.Sprintf(`((%s).querySelector('[data-testid=msg-author]').click(), true)`, messageWith("hi from the second Sam")))
	alice.waitVisible("[data-testid=profile]")
	alice.checkA11y("profile dialog")
	profile := evaluate[string](alice, `document.querySelector('[data-testid=profile]').textContent`)
	for _, want := range []string{"Sam", "@sam.wu", "In this room: Member", "same display name"} {
		if !strings.Contains(profile, want) {
			t.Errorf("the profile %q does not say %q", profile, want)
		}
	}
	alice.click("[data-testid=dialog-cancel]")
	alice.waitGone("[data-testid=profile]")

	// A second "dora" (different case) joins: from then on both Doras show their @username too.
	say(apiSignup(t, srv.URL, "names", "dora.b", "dora"), "another dora here")
	alice.checkA11y("chat, namesakes")
	alice.waitJS("the namesakes are told apart", fmt.Sprintf(`%s === 'Dora@dora' && %s === 'dora@dora.b'`,
		author("hello from Dora"), author("another dora here")))
}
