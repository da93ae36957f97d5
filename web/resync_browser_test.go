package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"parley/config"
)

// TestBrowserResyncAfterFallingFarBehind: a phone whose stream was away while
// more happened than the server replays gets a resync event instead of the
// backlog, and fetches the rooms and the open room's history itself: every
// message shows, once, without anything live having to come after.
func TestBrowserResyncAfterFallingFarBehind(t *testing.T) {
	chromium := findChromium(t)
	const depth = 3
	srv, _, bobToken, roomID := twoInATeam(t, "Alice", "Bob", func(c *config.Config) { c.ReplayDepth = depth })
	messages := srv.URL + "/api/v1/rooms/" + roomID + "/messages"

	alice := newBrowser(t, chromium, "alice")
	defer alice.checkClean()
	alice.login(srv.URL, "acme", "alice")
	alice.openRoom("team")
	apiCall(t, http.MethodPost, messages, bobToken, map[string]string{"body": "before the tunnel"}, nil)
	alice.waitMessage("before the tunnel")

	// Alice's stream drops; Bob says more than the server replays.
	srv.gate.setStreams(false)
	alice.waitJS("the reconnecting state shows", `document.querySelector('[data-testid=conn-status]').textContent !== ''`)
	const missed = 2 * depth
	for i := 1; i <= missed; i++ {
		apiCall(t, http.MethodPost, messages, bobToken, map[string]string{"body": fmt.Sprint("while away ", i)}, nil)
	}
	srv.gate.setStreams(true)
	for i := 1; i <= missed; i++ {
		alice.waitMessage(fmt.Sprint("while away ", i))
	}
	alice.waitJS("the reconnecting state clears", `document.querySelector('[data-testid=conn-status]').textContent === ''`)
	for i := 1; i <= missed; i++ {
		if n := evaluate[int](alice, countMessages(fmt.Sprint("while away ", i))); n != 1 {
			t.Errorf("%q shows %d times, want once", fmt.Sprint("while away ", i), n)
		}
	}
	// The stream goes on from the newest cursor: live messages still arrive.
	apiCall(t, http.MethodPost, messages, bobToken, map[string]string{"body": "back in range"}, nil)
	alice.waitMessage("back in range")
}
