package api_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"parley/config"
	"parley/internal/limit"
	"parley/internal/testkit"
	"parley/store"
)

type attachment struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	URL          string `json:"url"`
	ThumbnailURL string `json:"thumbnail_url"`
}

type fileMessage struct {
	message
	Attachments []attachment `json:"attachments"`
}

func upload(t *testing.T, s *testkit.Server, u testkit.User, roomID, name, ctype string, data []byte) attachment {
	t.Helper()
	r := s.Upload(t, u.Token, roomID, name, ctype, data)
	if r.Status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", name, r.Status, r.Body)
	}
	var a attachment
	r.Decode(t, &a)
	return a
}

func postFiles(t *testing.T, s *testkit.Server, u testkit.User, roomID, body string, ids ...string) fileMessage {
	t.Helper()
	var m fileMessage
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+roomID+"/messages", u.Token,
		map[string]any{"body": body, "attachments": ids}, &m)
	return m
}

// fetch gets a file URL with the token in the Authorization header, or as
// ?token= as <img> sends it.
func fetch(t *testing.T, s *testkit.Server, u testkit.User, url string, inQuery bool) testkit.Response {
	t.Helper()
	if inQuery {
		return s.Do(t, "GET", url+"?token="+u.Token, "", nil)
	}
	return s.Do(t, "GET", url, u.Token, nil)
}

// aliceAlone makes Alice, owner of the tenant acme, and her private room
// "team"; it returns her, the tenant's id and the room.
func aliceAlone(t *testing.T, s *testkit.Server) (testkit.User, string, room) {
	t.Helper()
	alice := s.CreateTenant(t, "acme", "alice")
	return alice, tenantOf(t, s, alice), createRoom(t, s, alice, "team", "private")
}

// blobPath is where the default blob store keeps a file's bytes.
func blobPath(s *testkit.Server, tenantID, id string) string {
	return filepath.Join(s.Cfg.DataDir, "uploads", tenantID, id)
}

func tenantOf(t *testing.T, s *testkit.Server, u testkit.User) string {
	t.Helper()
	var me struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/tenant", u.Token, nil, &me)
	return me.ID
}

// rewrite changes the database behind the server's back (to age a row).
func rewrite(t *testing.T, s *testkit.Server, change func(*store.Tx) error) {
	t.Helper()
	if err := s.App.Store.Write(context.Background(), change); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// jpegSegments lists the marker bytes of a JPEG's segments before its image data.
func jpegSegments(t *testing.T, data []byte) []byte {
	t.Helper()
	var markers []byte
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			t.Fatalf("not a JPEG segment at %d", i)
		}
		m := data[i+1]
		markers = append(markers, m)
		if m == 0xDA { // start of scan: the image data follows
			break
		}
		i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
	}
	return markers
}

func TestUploadedPhotoIsUprightWithoutLocationAndHasAThumbnail(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	team := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")

	photo := testkit.PhoneJPEG(t, 900, 600)
	if !bytes.Contains(photo, []byte(testkit.ExifMark)) || !bytes.Contains(jpegSegments(t, photo), []byte{0xE1}) {
		t.Fatal("the test photo carries no EXIF block")
	}
	// The client claims a type and a path; the server believes neither.
	a := upload(t, s, alice, team.ID, `C:\Users\alice\Pictures\holiday.jpeg`, "application/x-anything", photo)
	if a.ContentType != "image/jpeg" || a.Name != "holiday.jpg" || a.Width != 600 || a.Height != 900 {
		t.Fatalf("upload: %+v, want image/jpeg holiday.jpg turned upright to 600×900", a)
	}
	if a.URL != "/api/v1/files/"+a.ID || a.ThumbnailURL != a.URL+"/thumbnail" {
		t.Fatalf("urls: %+v", a)
	}
	m := postFiles(t, s, alice, team.ID, "", a.ID)
	if m.Body != "" || len(m.Attachments) != 1 || m.Attachments[0] != a {
		t.Fatalf("a photo sent without words: %+v", m)
	}
	if s.Metric(t, "parley_uploads_total", "kind", "image") != 1 || s.Metric(t, "parley_upload_bytes_total") <= float64(a.Size) {
		t.Fatal("/metrics does not count the upload")
	}

	for _, inQuery := range []bool{false, true} {
		r := fetch(t, s, bob, a.URL, inQuery)
		if r.Status != http.StatusOK {
			t.Fatalf("bob fetches the photo (token in query: %v): %d %s", inQuery, r.Status, r.Body)
		}
		if bytes.Contains(r.Body, []byte(testkit.ExifMark)) || bytes.Contains(jpegSegments(t, r.Body), []byte{0xE1}) {
			t.Fatal("the stored photo still carries EXIF (and with it the place it was taken)")
		}
		if int64(len(r.Body)) != a.Size {
			t.Fatalf("served %d bytes, size says %d", len(r.Body), a.Size)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(r.Body))
		if err != nil || format != "jpeg" || cfg.Width != 600 || cfg.Height != 900 {
			t.Fatalf("served image: %s %dx%d %v", format, cfg.Width, cfg.Height, err)
		}
		img, _, err := image.Decode(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		// Turned clockwise, the dark top-left quarter is now top-right.
		if r, g, b, _ := img.At(550, 50).RGBA(); r>>8 > 40 || g>>8 > 40 || b>>8 > 40 {
			t.Fatalf("top right is not the dark corner (%d,%d,%d): EXIF orientation not applied", r>>8, g>>8, b>>8)
		}
		h := r.Header
		want := map[string]string{
			"Content-Type": "image/jpeg", "X-Content-Type-Options": "nosniff",
			"Content-Disposition": `inline; filename=holiday.jpg`, "Cache-Control": "private, max-age=86400",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s: %q, want %q", k, h.Get(k), v)
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
			t.Errorf("file CSP: %q", csp)
		}
	}

	r := fetch(t, s, bob, a.ThumbnailURL, true)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %v", r.Status, r.Header)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(r.Body))
	if err != nil || cfg.Width != 213 || cfg.Height != 320 || bytes.Contains(r.Body, []byte(testkit.ExifMark)) {
		t.Fatalf("thumbnail %dx%d (%v), want 213×320 without EXIF", cfg.Width, cfg.Height, err)
	}

	// A conditional request is answered from the reader's own cache.
	r = s.DoWith(t, "GET", a.URL, bob.Token, nil, map[string]string{"If-None-Match": r.Header.Get("ETag")})
	if r.Status != http.StatusOK {
		t.Fatalf("another file's ETag must not match: %d", r.Status)
	}
	r = s.DoWith(t, "GET", a.URL, bob.Token, nil, map[string]string{"If-None-Match": r.Header.Get("ETag")})
	if r.Status != http.StatusNotModified {
		t.Fatalf("If-None-Match with the file's ETag: %d", r.Status)
	}

	for _, path := range []string{a.URL, a.URL + "?token=", a.URL + "?token=not-a-token"} {
		if r := s.Do(t, "GET", path, "", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("GET %s without a valid token: %d", path, r.Status)
		}
	}
}

func TestAnimatedGIFKeepsItsFramesAndLosesItsComments(t *testing.T) {
	s := testkit.Start(t)
	alice, _, team := aliceAlone(t, s)
	src := testkit.AnimatedGIF(t, 400, 200, 3)
	if !bytes.Contains(src, []byte(testkit.GIFComment)) {
		t.Fatal("the test GIF has no comment")
	}
	a := upload(t, s, alice, team.ID, "dance.gif", "", src)
	if a.ContentType != "image/gif" || a.Name != "dance.gif" || a.Width != 400 || a.Height != 200 || a.ThumbnailURL == "" {
		t.Fatalf("upload: %+v", a)
	}
	r := fetch(t, s, alice, a.URL, false)
	if r.Header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "inline") {
		t.Fatalf("served as %v", r.Header)
	}
	if bytes.Contains(r.Body, []byte(testkit.GIFComment)) {
		t.Fatal("the comment survived")
	}
	anim, err := gif.DecodeAll(bytes.NewReader(r.Body))
	if err != nil || len(anim.Image) != 3 || anim.Delay[2] != 10 {
		t.Fatalf("served animation: %v frames, %v", len(anim.Image), err)
	}
	r = fetch(t, s, alice, a.ThumbnailURL, true)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(r.Body))
	if err != nil || format != "gif" || cfg.Width != 320 || cfg.Height != 160 || r.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("thumbnail: %s %dx%d %v", format, cfg.Width, cfg.Height, err)
	}

	// Frames beyond image_max_pixels together: only the first is kept, as a still.
	s2 := testkit.Start(t, func(c *config.Config) { c.ImageMaxPixels = 200_000 })
	alice2, _, team2 := aliceAlone(t, s2)
	still := upload(t, s2, alice2, team2.ID, "long.gif", "", src)
	if still.ContentType != "image/png" || still.Name != "long.png" {
		t.Fatalf("an animation over the pixel budget: %+v", still)
	}
}

func TestUploadTypeComesFromTheBytesAndOnlyImagesShowInline(t *testing.T) {
	s := testkit.Start(t)
	alice, _, team := aliceAlone(t, s)

	cases := []struct {
		name, claimed string
		data          []byte
		wantType      string
		wantName      string
	}{
		{"cat.png", "image/png", []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"), "text/html", "cat.png"},
		{"logo.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "image/svg+xml", "logo.svg"},
		{"notes.txt", "text/plain", []byte("just words\n"), "text/plain", "notes.txt"},
		{"report.pdf", "text/html", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), "application/pdf", "report.pdf"},
		{"..", "", []byte("\x00\x01\x02binary"), "application/octet-stream", "file"},
		{"evil\u202egnp.exe", "image/png", []byte("MZ\x90\x00 not really"), "application/vnd.microsoft.portable-executable", "evilgnp.exe"},
	}
	for _, c := range cases {
		a := upload(t, s, alice, team.ID, c.name, c.claimed, c.data)
		if a.ContentType != c.wantType || a.Name != c.wantName || a.ThumbnailURL != "" || a.Width != 0 || a.Size != int64(len(c.data)) {
			t.Errorf("%q: %+v, want type %s, name %q, no thumbnail", c.name, a, c.wantType, c.wantName)
			continue
		}
		r := fetch(t, s, alice, a.URL, false)
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, c.data) {
			t.Errorf("%q: fetched %d %q", c.name, r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%q is sent as %q, want application/octet-stream", c.name, ct)
		}
		if d := r.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment") {
			t.Errorf("%q is sent with Content-Disposition %q, want a download", c.name, d)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%q: headers %v", c.name, r.Header)
		}
	}

	// Bytes that start like an image but are not one, and nothing at all.
	for name, data := range map[string][]byte{
		"broken.png": append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...),
		"empty.jpg":  {},
	} {
		r := s.Upload(t, alice.Token, team.ID, name, "image/png", data)
		expect(t, r, http.StatusBadRequest, "invalid_request")
	}
	// Not multipart, or no part named file.
	r := s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/uploads", alice.Token, map[string]string{"file": "x"})
	expect(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	body, ctype := testkit.MultipartFile(t, "a.txt", "", []byte("x"))
	body = bytes.Replace(body, []byte(`name="file"`), []byte(`name="other"`), 1)
	r = s.DoWith(t, "POST", "/api/v1/rooms/"+team.ID+"/uploads", alice.Token, body, map[string]string{"Content-Type": ctype})
	expect(t, r, http.StatusBadRequest, "invalid_request")
}

func TestUploadsOverTheSizeLimitAreRefusedEarly(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.UploadMaxBytes = 1 << 20 })
	alice, _, team := aliceAlone(t, s)

	// Exactly at the limit passes; one byte more does not.
	upload(t, s, alice, team.ID, "max.bin", "", bytes.Repeat([]byte{1}, 1<<20))
	r := s.Upload(t, alice.Token, team.ID, "over.bin", "", bytes.Repeat([]byte{1}, 1<<20+1))
	expect(t, r, http.StatusRequestEntityTooLarge, "too_large")

	// 50 MB announced: refused from the headers, before the body is sent.
	send := func(length int64, chunked bool) *http.Response {
		head := "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
		tail := "\r\n--b0undary--\r\n"
		rd := io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, length), strings.NewReader(tail))
		req, err := http.NewRequest("POST", s.URL+"/api/v1/rooms/"+team.ID+"/uploads", rd)
		if err != nil {
			t.Fatal(err)
		}
		if !chunked {
			req.ContentLength = int64(len(head)+len(tail)) + length
			req.Header.Set("Expect", "100-continue")
		}
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b0undary")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatalf("send %d bytes: %v", length, err)
		}
		return resp
	}
	resp := send(50<<20, false)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"too_large"`) {
		t.Fatalf("50 MB announced: %d %s", resp.StatusCode, raw)
	}
	// Sent without a length: cut off at the limit.
	resp = send(3<<20, true)
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"too_large"`) {
		t.Fatalf("3 MiB chunked: %d %s", resp.StatusCode, raw)
	}
	if n := s.Count(t, &store.Attachment{}); n != 1 {
		t.Fatalf("%d uploads stored, want only the one at the limit", n)
	}
	tmp, _ := filepath.Glob(filepath.Join(s.Cfg.DataDir, "tmp", "*"))
	if len(tmp) != 0 {
		t.Fatalf("spooled files left behind: %v", tmp)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestImageDimensionsAreCheckedBeforeDecoding(t *testing.T) {
	s := testkit.Start(t)
	alice, _, team := aliceAlone(t, s)
	// A few bytes whose header claims 100000×100000 pixels: decoded, 40 GB.
	bomb := testkit.PNGHeader(100_000, 100_000)
	r := s.Upload(t, alice.Token, team.ID, "bomb.png", "", bomb)
	expect(t, r, http.StatusBadRequest, "invalid_request")
	if !strings.Contains(string(r.Body), "100000×100000") {
		t.Fatalf("refusal: %s", r.Body)
	}
	if n := s.Count(t, &store.Attachment{}); n != 0 {
		t.Fatalf("%d uploads stored", n)
	}
}

func TestFilesOpenOnlyForWhoMayReadTheRoomNow(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	mallory := s.CreateTenant(t, "other", "mallory")
	team := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")
	lobby := createRoom(t, s, alice, "lobby", "public")

	a := upload(t, s, bob, team.ID, "plan.png", "image/png", testkit.PNG(t, 40, 30))
	// Not sent yet: its uploader's only.
	for _, u := range []testkit.User{alice, carol, mallory} {
		expect(t, fetch(t, s, u, a.URL, true), http.StatusNotFound, "not_found")
	}
	if r := fetch(t, s, bob, a.URL, false); r.Status != http.StatusOK {
		t.Fatalf("the uploader previews the upload: %d", r.Status)
	}
	// Nobody else may send it, nor may it go to another room.
	r := s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, map[string]any{"body": "mine", "attachments": []string{a.ID}})
	expect(t, r, http.StatusBadRequest, "invalid_request")
	addMember(t, s, alice, lobby.ID, bob.ID, "member")
	r = s.Do(t, "POST", "/api/v1/rooms/"+lobby.ID+"/messages", bob.Token, map[string]any{"body": "here", "attachments": []string{a.ID}})
	expect(t, r, http.StatusBadRequest, "invalid_request")
	postFiles(t, s, bob, team.ID, "the plan", a.ID)
	// Sent once only.
	r = s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/messages", bob.Token, map[string]any{"body": "again", "attachments": []string{a.ID}})
	expect(t, r, http.StatusBadRequest, "invalid_request")

	for _, u := range []testkit.User{alice, bob} {
		if r := fetch(t, s, u, a.ThumbnailURL, true); r.Status != http.StatusOK {
			t.Fatalf("%s (a member) fetches the thumbnail: %d", u.Username, r.Status)
		}
	}
	for _, u := range []testkit.User{carol, mallory} { // an outsider, another tenant
		for _, url := range []string{a.URL, a.ThumbnailURL} {
			expect(t, fetch(t, s, u, url, true), http.StatusNotFound, "not_found")
			expect(t, fetch(t, s, u, url, false), http.StatusNotFound, "not_found")
		}
		// Nor may they upload there.
		expect(t, s.Upload(t, u.Token, team.ID, "x.txt", "", []byte("x")), http.StatusNotFound, "not_found")
	}
	// Removed: the old URL stops opening at once.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/members/"+bob.ID, alice.Token, nil, nil)
	expect(t, fetch(t, s, bob, a.URL, true), http.StatusNotFound, "not_found")
	expect(t, fetch(t, s, bob, a.ThumbnailURL, false), http.StatusNotFound, "not_found")

	// A public room's files are for every member of its tenant.
	p := upload(t, s, alice, lobby.ID, "hello.txt", "", []byte("hello"))
	postFiles(t, s, alice, lobby.ID, "", p.ID)
	if r := fetch(t, s, carol, p.URL, true); r.Status != http.StatusOK {
		t.Fatalf("carol reads a public room's file: %d", r.Status)
	}
	expect(t, fetch(t, s, mallory, p.URL, true), http.StatusNotFound, "not_found")
	// ...but only its members upload there.
	expect(t, s.Upload(t, carol.Token, lobby.ID, "x.txt", "", []byte("x")), http.StatusForbidden, "forbidden")
	expect(t, fetch(t, s, alice, "/api/v1/files/nope", false), http.StatusNotFound, "not_found")
}

func TestPostingFilesChecksTheList(t *testing.T) {
	s := testkit.Start(t)
	alice, _, team := aliceAlone(t, s)
	var ids []string
	for i := range 11 {
		ids = append(ids, upload(t, s, alice, team.ID, fmt.Sprintf("f%d.txt", i), "", []byte("x")).ID)
	}
	for name, body := range map[string]map[string]any{
		"too many":         {"body": "x", "attachments": ids},
		"repeated":         {"body": "x", "attachments": []string{ids[0], ids[0]}},
		"unknown":          {"body": "x", "attachments": []string{"nope"}},
		"empty without":    {"body": " ", "attachments": []string{}},
		"wrong type":       {"body": "x", "attachments": "x"},
		"one good one bad": {"body": "x", "attachments": []string{ids[0], "nope"}},
	} {
		r := s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	st := s.Open(t, "/api/v1/rooms/"+team.ID+"/events", alice.Token, "")
	defer st.Close()
	send := map[string]any{"body": "ten", "attachments": ids[1:], "client_id": "c-10"}
	var m fileMessage
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, send, &m)
	if len(m.Attachments) != 10 || m.Attachments[0].Name != "f1.txt" || m.Attachments[9].Name != "f10.txt" {
		t.Fatalf("attachments in the order given: %+v", m.Attachments)
	}
	// A retry (the answer was lost) gets the first message back, files and all.
	var again fileMessage
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, send, &again)
	if again.ID != m.ID || len(again.Attachments) != 10 {
		t.Fatalf("retry: %+v", again)
	}
	var ev struct {
		Message fileMessage `json:"message"`
	}
	st.NextNamed(t, "message.created", 5*time.Second).Decode(t, &ev)
	if len(ev.Message.Attachments) != 10 || ev.Message.Attachments[3] != m.Attachments[3] {
		t.Fatalf("the live event carries the files: %+v", ev.Message.Attachments)
	}
	var p struct {
		Messages []fileMessage `json:"messages"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, nil, &p)
	if len(p.Messages) != 1 || len(p.Messages[0].Attachments) != 10 {
		t.Fatalf("history: %+v", p.Messages)
	}
}

func TestDeletingAMessageOrRoomDeletesItsFiles(t *testing.T) {
	s := testkit.Start(t)
	alice, tenant, team := aliceAlone(t, s)
	a := upload(t, s, alice, team.ID, "p.png", "", testkit.PNG(t, 400, 400))
	m := postFiles(t, s, alice, team.ID, "look", a.ID)
	paths := []string{blobPath(s, tenant, a.ID), blobPath(s, tenant, a.ID) + "-thumb"}
	for _, p := range paths {
		if !exists(p) {
			t.Fatalf("no blob at %s", p)
		}
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/messages/"+m.ID, alice.Token, nil, nil)
	waitFor(t, "the blobs are deleted", func() bool { return !exists(paths[0]) && !exists(paths[1]) })
	expect(t, fetch(t, s, alice, a.URL, false), http.StatusNotFound, "not_found")
	var p struct {
		Messages []fileMessage `json:"messages"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, nil, &p)
	if !p.Messages[0].Deleted || len(p.Messages[0].Attachments) != 0 {
		t.Fatalf("tombstone: %+v", p.Messages[0])
	}
	waitFor(t, "the trash is empty", func() bool { return s.Count(t, &store.BlobTrash{}) == 0 })

	// A deleted room takes its files, sent or not, with it.
	sent := upload(t, s, alice, team.ID, "a.txt", "", []byte("a"))
	postFiles(t, s, alice, team.ID, "", sent.ID)
	waiting := upload(t, s, alice, team.ID, "b.txt", "", []byte("b"))
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID, alice.Token, nil, nil)
	waitFor(t, "the room's blobs are deleted", func() bool {
		return !exists(blobPath(s, tenant, sent.ID)) && !exists(blobPath(s, tenant, waiting.ID))
	})
	if n := s.Count(t, &store.Attachment{}); n != 0 {
		t.Fatalf("%d uploads left", n)
	}
}

func TestAMessageDeleteHoldsWhenTheBlobStoreFails(t *testing.T) {
	s := testkit.Start(t)
	alice, tenant, team := aliceAlone(t, s)
	a := upload(t, s, alice, team.ID, "a.txt", "", []byte("secret plans"))
	m := postFiles(t, s, alice, team.ID, "plans", a.ID)

	// The tenant's folder becomes a plain file: every delete in it fails
	// (even for root, which ignores permissions).
	dir := filepath.Dir(blobPath(s, tenant, a.ID))
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/messages/"+m.ID, alice.Token, nil, nil)
	var trash store.BlobTrash
	waitFor(t, "the sweeper has tried and failed", func() bool {
		err := s.App.Store.Read(context.Background()).Take(&trash).Error
		return err == nil && trash.Attempts >= 1
	})
	if trash.BlobKey != tenant+"/"+a.ID || !trash.NotBefore.After(time.Now()) {
		t.Fatalf("trash after a failed delete: %+v", trash)
	}
	p := history(t, s, alice, team.ID, "")
	if !p.Messages[0].Deleted || p.Messages[0].Body != "" {
		t.Fatalf("the message delete must hold: %+v", p.Messages[0])
	}
	if s.Metric(t, "parley_blob_delete_failures_total") < 1 || s.Metric(t, "parley_blob_trash") != 1 {
		t.Fatal("/metrics does not show the failed delete and the waiting blob")
	}

	// The store recovers; the next due sweep deletes the blob.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	rewrite(t, s, func(tx *store.Tx) error {
		return tx.Model(&store.BlobTrash{}).Where("1 = 1").Update("not_before", time.Now().Add(-time.Second)).Error
	})
	if err := s.App.Files.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(blobPath(s, tenant, a.ID)) || s.Count(t, &store.BlobTrash{}) != 0 || s.Metric(t, "parley_blob_trash") != 0 {
		t.Fatal("the blob outlived the retry")
	}
}

func TestUploadsNeverSentExpire(t *testing.T) {
	s := testkit.Start(t)
	alice, tenant, team := aliceAlone(t, s)
	old := upload(t, s, alice, team.ID, "old.png", "", testkit.PNG(t, 50, 50))
	fresh := upload(t, s, alice, team.ID, "fresh.txt", "", []byte("fresh"))
	sent := upload(t, s, alice, team.ID, "sent.txt", "", []byte("sent"))
	postFiles(t, s, alice, team.ID, "", sent.ID)
	// Everything but fresh was uploaded longer ago than upload_ttl.
	rewrite(t, s, func(tx *store.Tx) error {
		return tx.Model(&store.Attachment{}).Where("id <> ?", fresh.ID).
			Update("created_at", time.Now().Add(-s.Cfg.UploadTTL-time.Minute)).Error
	})
	if err := s.App.Files.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the expired upload's blobs are deleted", func() bool {
		return !exists(blobPath(s, tenant, old.ID)) && !exists(blobPath(s, tenant, old.ID)+"-thumb")
	})
	r := s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/messages", alice.Token, map[string]any{"body": "late", "attachments": []string{old.ID}})
	expect(t, r, http.StatusBadRequest, "invalid_request")
	for _, a := range []attachment{fresh, sent} {
		if !exists(blobPath(s, tenant, a.ID)) || fetch(t, s, alice, a.URL, false).Status != http.StatusOK {
			t.Fatalf("%s was swept too", a.Name)
		}
	}
}

func TestUploadQuotaPerTenant(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.MaxUploadBytesPerTenant = 3000 })
	alice := s.CreateTenant(t, "acme", "alice")
	mallory := s.CreateTenant(t, "other", "mallory")
	team := createRoom(t, s, alice, "team", "private")
	theirs := createRoom(t, s, mallory, "theirs", "private")
	upload(t, s, alice, team.ID, "a.bin", "", bytes.Repeat([]byte{1}, 2000))
	r := s.Upload(t, alice.Token, team.ID, "b.bin", "", bytes.Repeat([]byte{1}, 1001))
	expect(t, r, http.StatusForbidden, "quota_exceeded")
	upload(t, s, alice, team.ID, "c.bin", "", bytes.Repeat([]byte{1}, 1000)) // exactly full
	expect(t, s.Upload(t, alice.Token, team.ID, "d.bin", "", []byte{1}), http.StatusForbidden, "quota_exceeded")
	upload(t, s, mallory, theirs.ID, "m.bin", "", bytes.Repeat([]byte{1}, 2500)) // another tenant's own quota
	if n := s.Count(t, &store.Attachment{}); n != 3 {
		t.Fatalf("%d uploads stored", n)
	}
	if got := s.Metric(t, "parley_limit_refused_total", "limit", "max_upload_bytes_per_tenant"); got != 2 {
		t.Fatalf("quota refusals counted: %v", got)
	}
}

func TestUploadAndSearchRateLimits(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.UploadLimitUser = limit.Rate{N: 2, Per: time.Hour}
		c.SearchLimitUser = limit.Rate{N: 2, Per: time.Hour}
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	team := createRoom(t, s, alice, "team", "public")
	addMember(t, s, alice, team.ID, bob.ID, "member")
	// A malformed upload costs nothing.
	expect(t, s.Do(t, "POST", "/api/v1/rooms/"+team.ID+"/uploads", alice.Token, map[string]string{}), http.StatusUnsupportedMediaType, "unsupported_media_type")
	upload(t, s, alice, team.ID, "1.txt", "", []byte("1"))
	upload(t, s, alice, team.ID, "2.txt", "", []byte("2"))
	r := s.Upload(t, alice.Token, team.ID, "3.txt", "", []byte("3"))
	expect(t, r, http.StatusTooManyRequests, "rate_limited")
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("Retry-After: %q", r.Header.Get("Retry-After"))
	}
	upload(t, s, bob, team.ID, "b.txt", "", []byte("b")) // per user

	for range 2 {
		s.Must(t, http.StatusOK, "GET", "/api/v1/search?q=hello", alice.Token, nil, nil)
	}
	r = s.Do(t, "GET", "/api/v1/search?q=hello", alice.Token, nil)
	expect(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/search?q=hello", bob.Token, nil, nil)
}

// TestFilesInASharedFolderAndTokensNeverLogged: with blob_url naming a
// folder (as several nodes share one), files are kept there, 0700; the
// ?token= of a file URL never reaches the log.
func TestFilesInASharedFolderAndTokensNeverLogged(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared-files")
	logs := &testkit.LogBuffer{}
	s := testkit.StartLogged(t, slog.New(slog.NewJSONHandler(logs, nil)), func(c *config.Config) { c.BlobURL = "file://" + shared })
	alice, tenant, team := aliceAlone(t, s)
	a := upload(t, s, alice, team.ID, "a.png", "", testkit.PNG(t, 20, 20))
	for _, p := range []string{filepath.Join(shared, tenant, a.ID), filepath.Join(shared, tenant, a.ID+"-thumb")} {
		if !exists(p) {
			t.Fatalf("no blob at %s", p)
		}
	}
	if exists(blobPath(s, tenant, a.ID)) {
		t.Fatal("the blob is in the data dir too")
	}
	if st, err := os.Stat(filepath.Join(shared, tenant)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the tenant's folder: %v %v", st.Mode(), err)
	}
	r := s.DoWith(t, "GET", a.URL+"?token="+alice.Token, "", nil, map[string]string{"X-Request-ID": "file-fetch"})
	if r.Status != http.StatusOK {
		t.Fatalf("fetch: %d", r.Status)
	}
	if l := loggedRequest(t, logs, "file-fetch"); l.Route != "/api/v1/files/:id" {
		t.Fatalf("logged route %q", l.Route)
	}
	if strings.Contains(logs.String(), alice.Token) || strings.Contains(logs.String(), a.ID) {
		t.Fatal("the log holds the token or the file's URL")
	}
}

// TestFilesInAnS3CompatibleStore: with blob_url naming an S3 bucket (here a
// fake S3 server on loopback), files go there, are served from there, and
// leave with their message.
func TestFilesInAnS3CompatibleStore(t *testing.T) {
	backend := s3mem.New()
	fake := httptest.NewServer(gofakes3.New(backend, gofakes3.WithAutoBucket(true)).Server())
	t.Cleanup(fake.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	blobURL := "s3://parley-files?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + url.QueryEscape(fake.URL)
	s := testkit.Start(t, func(c *config.Config) { c.BlobURL = blobURL })
	alice, tenant, team := aliceAlone(t, s)
	a := upload(t, s, alice, team.ID, "p.jpg", "", testkit.PhoneJPEG(t, 60, 40))
	m := postFiles(t, s, alice, team.ID, "", a.ID)
	stored := func(key string) bool {
		_, err := backend.HeadObject("parley-files", key)
		return err == nil
	}
	if !stored(tenant+"/"+a.ID) || !stored(tenant+"/"+a.ID+"-thumb") {
		t.Fatal("the files are not in the bucket")
	}
	if exists(blobPath(s, tenant, a.ID)) {
		t.Fatal("the file is in the data dir too")
	}
	r := fetch(t, s, alice, a.URL, true)
	if r.Status != http.StatusOK || bytes.Contains(r.Body, []byte(testkit.ExifMark)) || int64(len(r.Body)) != a.Size {
		t.Fatalf("fetch from the bucket: %d, %d bytes", r.Status, len(r.Body))
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/messages/"+m.ID, alice.Token, nil, nil)
	waitFor(t, "the objects are deleted", func() bool { return !stored(tenant+"/"+a.ID) && !stored(tenant+"/"+a.ID+"-thumb") })
}
