package web_test

import (
	"fmt"
	"strings"
	"testing"
)

// textOf is a JavaScript expression for the text of the first element matching sel ("" if none).
func textOf(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.textContent || '')`, jsString(sel))
}

// TestBrowserDirectMessagesTypingPresenceAndSeen: Alice starts a direct
// message with Bob from the people list; it is named after the other person
// on both phones and sorts by activity; Bob sees that Alice is online and
// typing, and Alice sees "Seen by" once Bob has the message on screen; a link
// in a message is tappable and safe.
func TestBrowserDirectMessagesTypingPresenceAndSeen(t *testing.T) {
	srv, alice, bob := twoPhones(t, nil)

	alice.createWorkspace(srv.URL, "acme", "Acme Inc", "alice", "Alice")
	alice.newRoom("general")
	// A mistyped workspace is named as the problem.
	bob.open(srv.URL + "/#/signup")
	bob.fill("#signup-tenant", "acmee")
	bob.fill("#signup-username", "bob")
	bob.fill("#signup-password", password)
	bob.click("[data-testid=signup-submit]")
	bob.waitJS("the error names the missing workspace", textOf("#signup-error")+`.includes('tenant not found')`)
	bob.signup(srv.URL, "acme", "bob", "Bob", "")
	bob.joinPublicRoom("general")
	bob.click("[data-testid=back]")

	// Alice writes to Bob from the people list.
	alice.click("[data-testid=back]")
	alice.click("[data-testid=new-dm]")
	alice.waitVisible(`[data-testid=person][data-name="bob"] [data-testid=online]`)
	alice.screenshot("people")
	alice.checkA11y("people")
	alice.click(`[data-testid=person][data-name="bob"] [data-testid=person-message]`)
	alice.waitVisible("#composer-input")
	alice.waitJS("the DM is named after Bob", textOf("#view-title")+` === 'Bob'`)
	alice.send("Hi Bob, the plan is at https://example.com/plan?x=1.")
	alice.checkA11y("direct message")
	link := `#message-list .msg-body a`
	alice.waitVisible(link)
	if got := evaluate[string](alice, `(() => { const a = document.querySelector('#message-list .msg-body a');
		return [a.getAttribute('href'), a.rel, a.target, a.textContent].join(' '); })()`); got != "https://example.com/plan?x=1 noopener noreferrer _blank https://example.com/plan?x=1" {
		t.Errorf("the link is %q", got)
	}

	// Bob's list: the DM is on top, named after Alice, with her message.
	dmRow := `[data-testid=room-item][data-kind="dm"]`
	bob.waitJS("the DM shows in Bob's list", fmt.Sprintf(`document.querySelector('[data-testid=room-item]')?.matches(%s)`, jsString(dmRow)))
	if name := evaluate[string](bob, `document.querySelector('[data-testid=room-item][data-kind="dm"]').dataset.name`); name != "Alice" {
		t.Errorf("Bob's DM is named %q", name)
	}
	bob.waitJS("the last message shows", textOf(dmRow+" [data-testid=room-last]")+` === 'Hi Bob, the plan is at https://example.com/plan?x=1.'`)
	bob.waitVisible(dmRow + " [data-testid=online]")
	bob.screenshot("rooms-previews")
	bob.checkA11y("room list with last messages")

	// Bob opens it: Alice is online, and typing.
	bob.click(dmRow)
	bob.waitVisible("#composer-input")
	bob.waitJS("Alice shows as online", textOf("[data-testid=chat-status]")+` === 'online'`)
	alice.typeText("#composer-input", "Let me think")
	bob.waitJS("Alice shows as typing", textOf("[data-testid=chat-status]")+` === 'Alice is typing…'`)
	bob.screenshot("dm-typing")
	bob.checkA11y("direct message, the other typing")
	bob.waitJS("typing goes after 5 s", textOf("[data-testid=chat-status]")+` === 'online'`)

	// Bob has read Alice's message: she sees "Seen by 1", and his name on a tap.
	alice.click("[data-testid=send]")
	alice.waitJS("the message is sent", hasMessage("Let me think", "sent"))
	bob.waitMessage("Let me think")
	alice.waitJS("Seen by 1 under her latest message", `[...document.querySelectorAll('#message-list [data-testid=message]')].at(-1)?.querySelector('[data-testid=seen-by]')?.textContent === 'Seen by 1'`)
	alice.click("[data-testid=seen-by]")
	alice.waitJS("the names show", textOf("[data-testid=seen-names]")+` === 'Bob'`)
	alice.checkA11y("seen by")

	// A message in the room puts it back on top of Bob's list.
	bob.click("[data-testid=back]")
	alice.click("[data-testid=back]")
	alice.openRoom("general")
	alice.send("Room news")
	bob.waitJS("the room is on top again", `document.querySelector('[data-testid=room-item]')?.dataset.name === 'general'`)
	bob.waitJS("with who said what", textOf(`[data-testid=room-item][data-name="general"] [data-testid=room-last]`)+` === 'Alice: Room news'`)
	// From a name in the room, a direct message: the same one as before.
	bob.openRoom("general")
	bob.click(`[data-testid=message] [data-testid=msg-author]`)
	bob.click("[data-testid=profile] [data-testid=dialog-ok]")
	bob.waitJS("the DM with Alice opens", textOf("#view-title")+` === 'Alice' && document.querySelectorAll('#message-list [data-testid=message]').length === 2`)
	if n := evaluate[int](bob, `document.querySelectorAll('[data-testid=room-item][data-kind="dm"]').length`); n != 0 {
		t.Errorf("the room list is still on screen (%d DM rows)", n)
	}
}

// TestBrowserProfileRolesAndDefects: the Me screen changes name and
// password; a new role reaches the app at once; a blank room name, an
// archived room, a long paste and a disabled account each say what is going on.
func TestBrowserProfileRolesAndDefects(t *testing.T) {
	srv, alice, bob := twoPhones(t, nil)

	alice.createWorkspace(srv.URL, "acme", "Acme Inc", "alice", "Alice")
	bob.signup(srv.URL, "acme", "bob", "Bob", "")

	// Profile and password on the Me screen.
	bob.click("[data-testid=nav-me]")
	bob.fill("#profile-display_name", "Bobby Tables")
	bob.click("[data-testid=profile-submit]")
	bob.waitJS("the new name shows", textOf("[data-testid=me-name]")+` === 'Bobby Tables'`)
	bob.fill("#password-current_password", "not-my-password")
	bob.fill("#password-new_password", "brand-new-password")
	bob.click("[data-testid=password-submit]")
	bob.waitJS("a wrong current password is named", textOf("#password")+`.includes('is not your current password')`)
	bob.fill("#password-current_password", password)
	bob.click("[data-testid=password-submit]")
	bob.waitJS("the password is changed", `document.getElementById('toast').textContent.startsWith('Password changed')`)
	bob.screenshot("me")
	bob.checkA11y("me")

	// Made an admin, Bob gets the Admin tab at once, without logging in again.
	if n := evaluate[int](bob, `document.querySelectorAll('[data-testid=nav-admin]').length`); n != 0 {
		t.Fatal("a member sees the Admin tab")
	}
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-users]")
	alice.choose(`[data-testid=user][data-name="bob"] [data-testid=user-role]`, "admin")
	bob.waitVisible("[data-testid=nav-admin]")
	bob.waitJS("the role shows", textOf("[data-testid=me-role]")+` === 'Admin'`)

	// Renaming a room to blanks says so; an archived empty room does not invite a hello.
	alice.click("[data-testid=admin-tab-rooms]")
	alice.fill("#room-create-name", "old-news")
	alice.click("[data-testid=room-create-submit]")
	row := `[data-testid=admin-room][data-name="old-news"]`
	alice.click(row + " [data-testid=room-rename]")
	alice.fill("#dialog-name", "   ")
	alice.click("[data-testid=dialog-ok]")
	alice.waitJS("blank names are refused", `document.getElementById('toast').textContent === 'A room needs a name.'`)
	alice.click(row + " [data-testid=room-archive]")
	alice.waitJS("the room is archived", textOf(row)+`.includes('Archived')`)
	alice.click(row + " [data-testid=room-members-link]")
	alice.click("[data-testid=back]")
	alice.waitVisible("[data-testid=archived-note]")
	alice.waitJS("no hello in an archived room", textOf("[data-testid=history-edge]")+` === 'No messages.'`)
	alice.checkA11y("archived room")

	// A paste over 4,000 characters is counted, not cut.
	alice.click("[data-testid=back]")
	alice.newRoom("long")
	evaluate[bool](alice, `(() => {
		const input = document.getElementById('composer-input');
		input.value = 'x'.repeat(4010);
		input.dispatchEvent(new Event('input'));
		return true;
	})()`)
	alice.waitJS("the counter shows the excess", textOf("[data-testid=composer-counter]")+` === '10 characters too many'`)
	if !evaluate[bool](alice, `document.querySelector('[data-testid=send]').disabled && document.getElementById('composer-input').value.length === 4010`) {
		t.Error("an over-long paste was cut or can be sent")
	}
	alice.checkA11y("a message over the limit")

	// Disabled, Bob's phone goes to the login screen and says why.
	alice.click("[data-testid=back]")
	alice.click("[data-testid=nav-admin]")
	alice.click("[data-testid=admin-tab-users]")
	alice.click(`[data-testid=user][data-name="bob"] [data-testid=user-disable]`)
	alice.click("[data-testid=dialog-ok]")
	bob.waitVisible("#login [data-testid=signed-out]")
	if note := evaluate[string](bob, textOf("[data-testid=signed-out]")); !strings.Contains(note, "disabled") {
		t.Errorf("the login screen says %q", note)
	}
	bob.checkA11y("logged out, with the reason")
}
