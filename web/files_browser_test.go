package web_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"parley/internal/testkit"
)

// TestBrowserPhotoAndFile: Alice attaches a phone photo (upright by its
// EXIF orientation, its location stripped by the server) and sends it with
// words, then a text file without any; Bob sees the thumbnail and the
// download link live, opens the full image and closes it again, with the
// keyboard focus back where it was. Each screen passes the accessibility
// check, light and dark, in English and Chinese.
func TestBrowserPhotoAndFile(t *testing.T) {
	chromium := findChromium(t)
	srv, _, _, _ := twoInATeam(t, "Alice", "Bob")
	dir := t.TempDir()
	photo, notes := filepath.Join(dir, "office.jpg"), filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(photo, testkit.PhoneJPEG(t, 1200, 800), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notes, []byte("agenda: move in on Monday\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	alice := newBrowser(t, chromium, "alice")
	bob := newBrowser(t, chromium, "bob")
	defer alice.checkClean()
	defer bob.checkClean()
	alice.login(srv.URL, "acme", "alice")
	bob.login(srv.URL, "acme", "bob")
	alice.openRoom("team")
	bob.openRoom("team")

	// The photo uploads as soon as it is picked; its chip says when it is ready.
	alice.do("pick the photo", chromedp.SetUploadFiles(chromedp.CSS("[data-testid=file-input]"), []string{photo}))
	alice.waitJS("the photo is uploaded", `document.querySelector('[data-testid=file-chip][data-name="office.jpg"]')?.dataset.status === 'done'`)
	alice.waitJS("the chip shows a preview", `document.querySelector('[data-testid=file-chip] .chip-preview')?.src.startsWith('data:image/jpeg')`)
	alice.checkA11y("chat, a photo ready to send")
	alice.typeText("#composer-input", "our new office")
	alice.screenshot("chat-attach")
	alice.click("[data-testid=send]")
	alice.waitJS("the photo is sent", hasMessage("our new office", "sent"))
	alice.waitJS("the tray is empty", `document.querySelector('[data-testid=file-tray]').hidden`)

	// Bob: the thumbnail arrives live and loads (through ?token=), upright.
	thumb := messageWith("our new office") + `?.querySelector('[data-testid=msg-image] img')`
	bob.waitJS("the thumbnail loads", thumb+`?.complete && `+thumb+`.naturalHeight > 0`)
	if got := evaluate[[]int](bob, `[`+thumb+`.naturalWidth, `+thumb+`.naturalHeight]`); got[0] != 213 || got[1] != 320 {
		t.Fatalf("the thumbnail is %v, want 213×320 (the photo turned upright)", got)
	}
	if label := evaluate[string](bob, messageWith("our new office")+`.querySelector('[data-testid=msg-image]').getAttribute('aria-label')`); label != "Open image office.jpg" {
		t.Errorf("the image button is labelled %q", label)
	}

	// A file without words.
	alice.do("pick the notes", chromedp.SetUploadFiles(chromedp.CSS("[data-testid=file-input]"), []string{notes}))
	alice.waitJS("the notes are uploaded", `document.querySelector('[data-testid=file-chip][data-name="notes.txt"]')?.dataset.status === 'done'`)
	alice.click("[data-testid=send]")
	link := `document.querySelector('#message-list [data-testid=msg-file][data-name="notes.txt"]')`
	bob.waitJS("the file link arrives", link+` !== null`)
	if text := evaluate[string](bob, link+`.textContent`); text != "Download notes.txt26 B" {
		t.Errorf("the file link reads %q", text)
	}
	if !evaluate[bool](bob, link+`.getAttribute('download') === 'notes.txt' && `+link+`.pathname.startsWith('/api/v1/files/')`) {
		t.Error("the file link does not download the file")
	}
	bob.checkA11y("chat with a photo and a file")
	bob.screenshot("chat-image")

	// A tap opens the full image; closing gives the focus back to the thumbnail.
	bob.click(`[data-testid=msg-image][data-name="office.jpg"]`)
	full := `document.querySelector('[data-testid=image-full]')`
	bob.waitJS("the full image loads", full+`?.complete && `+full+`.naturalWidth === 800`)
	bob.checkA11y("image viewer")
	bob.click("[data-testid=dialog-cancel]")
	bob.waitGone("[data-testid=image-viewer]")
	bob.waitJS("the focus is back on the thumbnail", `document.activeElement?.dataset.testid === 'msg-image'`)

	// A file dropped on the chat and a picture pasted into the text field are
	// attached too; taking them out again gives the focus to the next one's
	// remove button, then back to the paperclip.
	evaluate[bool](alice, `(() => {
		const drop = new DataTransfer();
		drop.items.add(new File(['dropped words'], 'dropped.txt', { type: 'text/plain' }));
		document.querySelector('.chat').dispatchEvent(new DragEvent('drop', { dataTransfer: drop, bubbles: true, cancelable: true }));
		const paste = new DataTransfer();
		paste.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 1, 2, 3, 4, 5, 6, 7, 8])], 'pasted.png', { type: 'image/png' }));
		document.querySelector('#composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: paste, bubbles: true, cancelable: true }));
		return true;
	})()`)
	alice.waitJS("the dropped file is uploaded", `document.querySelector('[data-testid=file-chip][data-name="dropped.txt"]')?.dataset.status === 'done'`)
	alice.waitJS("the pasted broken picture is refused", `document.querySelector('[data-testid=file-chip][data-name="pasted.png"]')?.dataset.status === 'failed'`)
	alice.checkA11y("chat, a file ready and a refused one")
	alice.click(`[data-testid=file-chip][data-name="dropped.txt"] [data-testid=file-remove]`)
	alice.waitJS("the focus goes to the next remove button", `document.activeElement?.closest('[data-testid=file-chip]')?.dataset.name === 'pasted.png'`)
	alice.click(`[data-testid=file-chip][data-name="pasted.png"] [data-testid=file-remove]`)
	alice.waitJS("the focus is back on the paperclip", `document.activeElement?.dataset.testid === 'attach'`)
	alice.waitJS("the tray is empty again", `document.querySelector('[data-testid=file-tray]').hidden`)
}
