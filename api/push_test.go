package api_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/config"
	"parley/internal/testkit"
	"parley/store"
)

// pushService stands in for a browser vendor's push service: it takes pushes
// as RFC 8030 says (POST to the subscription's endpoint) and answers 201, or
// whatever the test set for an endpoint (410: the subscription is gone).
type pushService struct {
	*httptest.Server
	received chan receivedPush

	mu     sync.Mutex
	status map[string]int
}

type receivedPush struct {
	path   string
	header http.Header
	body   []byte
}

func startPushService(t *testing.T) *pushService {
	ps := &pushService{received: make(chan receivedPush, 100), status: map[string]int{}}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ps.received <- receivedPush{path: r.URL.Path, header: r.Header.Clone(), body: body}
		ps.mu.Lock()
		status := ps.status[r.URL.Path]
		ps.mu.Unlock()
		if status == 0 {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *pushService) answer(path string, status int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.status[path] = status
}

// next returns the next push, failing the test if none comes.
func (ps *pushService) next(t *testing.T) receivedPush {
	t.Helper()
	select {
	case p := <-ps.received:
		return p
	case <-time.After(wait):
		t.Fatal("no push arrived")
		return receivedPush{}
	}
}

// device is a browser's push subscription: its own key pair and auth secret.
type device struct {
	key      *ecdh.PrivateKey
	secret   []byte
	endpoint string
}

func newDevice(t *testing.T, ps *pushService, name string) device {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	return device{key: key, secret: secret, endpoint: ps.URL + "/push/" + name}
}

func (d device) body() map[string]any {
	return map[string]any{"endpoint": d.endpoint, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(d.key.PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(d.secret),
	}}
}

func subscribe(t *testing.T, s *testkit.Server, token string, d device) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", token, d.body(), &out)
	return out.ID
}

// decrypt opens an aes128gcm push body (RFC 8188) with the device's keys, as
// RFC 8291 says a user agent does.
func (d device) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if len(body) < 21 {
		t.Fatalf("push body of %d bytes", len(body))
	}
	salt, recordSize, idLen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	serverPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idLen])
	if err != nil {
		t.Fatalf("the key id is not the server's P-256 key: %v", err)
	}
	ciphertext := body[21+idLen:]
	if len(body) > int(recordSize) {
		t.Fatalf("one record of %d bytes is larger than its record size %d", len(body), recordSize)
	}
	shared, err := d.key.ECDH(serverPub)
	if err != nil {
		t.Fatal(err)
	}
	// IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0 || ua_public || as_public)
	info := append(append([]byte("WebPush: info\x00"), d.key.PublicKey().Bytes()...), serverPub.Bytes()...)
	prk, err := hkdf.Extract(sha256.New, shared, d.secret)
	if err != nil {
		t.Fatal(err)
	}
	ikm, err := hkdf.Expand(sha256.New, prk, string(info), 32)
	if err != nil {
		t.Fatal(err)
	}
	prk, err = hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		t.Fatal(err)
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		t.Fatalf("the push does not decrypt with the subscription's keys: %v", err)
	}
	// The last record ends with the delimiter 0x02, then zero padding.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 0x02 {
		t.Fatalf("no last-record delimiter in %q", plain)
	}
	return plain[:len(plain)-1]
}

type pushPayload struct {
	RoomID    string `json:"room_id"`
	RoomName  string `json:"room_name"`
	Kind      string `json:"kind"`
	MessageID string `json:"message_id"`
	Author    string `json:"author"`
	Body      string `json:"body"`
	Mention   bool   `json:"mention"`
}

// checkVAPID verifies the push's VAPID authorization (RFC 8292): a JWT for the
// push service's origin, signed with the key the server publishes.
func checkVAPID(t *testing.T, header http.Header, publicKey, origin string) {
	t.Helper()
	tok, k, ok := strings.Cut(strings.TrimPrefix(header.Get("Authorization"), "vapid t="), ", k=")
	if !ok || k != publicKey {
		t.Fatalf("Authorization %q does not carry the server's VAPID key", header.Get("Authorization"))
	}
	raw, _ := base64.RawURLEncoding.DecodeString(publicKey)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatalf("the VAPID public key: %v", err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("VAPID token: %v", err)
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		t.Errorf("VAPID sub %q", sub)
	}
}

func countSubscriptions(t *testing.T, s *testkit.Server) int64 {
	t.Helper()
	return s.Count(t, &store.PushSubscription{})
}

// TestPushReachesOfflineMembersEncrypted: a member with no live stream gets
// each new message as a push their device can decrypt (and nobody else can);
// a member with a live stream gets none; a muted room pushes only mentions;
// a subscription the push service calls gone (410) is removed.
func TestPushReachesOfflineMembersEncrypted(t *testing.T) {
	t.Parallel()
	ps := startPushService(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.PushAllowPrivateEndpoints = true // the stand-in push service listens on loopback
		c.PushWorkers = 1                  // one at a time: pushes arrive in message order
		c.PresenceGrace = 0
		c.PingInterval = 50 * time.Millisecond
	})
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	room := createRoom(t, s, alice, "general", "private")
	addMember(t, s, alice, room.ID, bob.ID, "member")
	addMember(t, s, alice, room.ID, carol.ID, "member")
	var key struct {
		PublicKey string `json:"public_key"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/push/key", bob.Token, nil, &key)

	// Carol has the app open: no push for her.
	carolStream := s.Open(t, "/api/v1/events", carol.Token, "")
	waitFor(t, "carol is online", func() bool { return s.App.Rooms.Presence().Online(carol.ID) })
	// A post before anyone subscribed (by bob, with carol online: nobody to
	// push to, however late it is routed): the push service learns that acme
	// has no subscriptions, and must not go on believing it once they subscribe.
	post(t, s, bob, room.ID, "before any subscription")
	bobPhone := newDevice(t, ps, "bob-phone")
	carolPhone := newDevice(t, ps, "carol-phone")
	subscribe(t, s, bob.Token, bobPhone)
	subscribe(t, s, carol.Token, carolPhone)

	// Bob's phone gets alice's message.
	m := post(t, s, alice, room.ID, "Lunch at noon? "+strings.Repeat("really ", 40))
	got := ps.next(t)
	if got.path != "/push/bob-phone" {
		t.Fatalf("the push went to %s", got.path)
	}
	if got.header.Get("Content-Encoding") != "aes128gcm" || got.header.Get("TTL") == "" {
		t.Errorf("push headers %v", got.header)
	}
	checkVAPID(t, got.header, key.PublicKey, ps.URL)
	if bytes.Contains(got.body, []byte("Lunch")) {
		t.Fatal("the push body is readable by the push service")
	}
	var p pushPayload
	if err := json.Unmarshal(bobPhone.decrypt(t, got.body), &p); err != nil {
		t.Fatal(err)
	}
	if p.RoomID != room.ID || p.RoomName != "general" || p.MessageID != m.ID || p.Author != "alice" ||
		!strings.HasPrefix(p.Body, "Lunch at noon? really") || len([]rune(p.Body)) > 120 {
		t.Errorf("payload = %+v", p)
	}

	// Bob mutes the room: plain messages no longer push, mentions of him do.
	s.Must(t, http.StatusNoContent, "PUT", "/api/v1/rooms/"+room.ID+"/notifications", bob.Token, map[string]string{"level": "none"}, nil)
	carolStream.Close()
	waitFor(t, "carol is offline", func() bool { return !s.App.Rooms.Presence().Online(carol.ID) })
	post(t, s, alice, room.ID, "just for carol")
	if got := ps.next(t); got.path != "/push/carol-phone" {
		t.Fatalf("a muted member got a push: %s", got.path)
	}
	post(t, s, alice, room.ID, "@bob are you coming?")
	for _, want := range []string{"/push/bob-phone", "/push/carol-phone"} {
		got := ps.next(t)
		if got.path != want {
			t.Fatalf("push to %s, want %s", got.path, want)
		}
		if want == "/push/bob-phone" {
			if err := json.Unmarshal(bobPhone.decrypt(t, got.body), &p); err != nil || !p.Mention {
				t.Errorf("the mention push = %+v, %v", p, err)
			}
		}
	}

	// The push service says Carol's subscription is gone: it is removed.
	ps.answer("/push/carol-phone", http.StatusGone)
	before := countSubscriptions(t, s)
	post(t, s, alice, room.ID, "anyone?")
	if got := ps.next(t); got.path != "/push/carol-phone" {
		t.Fatalf("push to %s", got.path)
	}
	waitFor(t, "the gone subscription is removed", func() bool { return countSubscriptions(t, s) == before-1 })

	// Logging out removes the login's subscriptions.
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/auth/logout", bob.Token, map[string]string{"refresh_token": bob.RefreshToken}, nil)
	if n := countSubscriptions(t, s); n != 0 {
		t.Errorf("%d subscriptions left after logging out", n)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPushSubscriptionMisuse: endpoints on private addresses (without the
// setting), bad keys, someone else's subscription, an API key: refused, and
// nothing changes. A user's subscriptions are capped, oldest out first.
func TestPushSubscriptionMisuse(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.PushMaxSubscriptions = 2 })
	ps := startPushService(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	mallory := s.CreateTenant(t, "other", "mallory")
	key := createKey(t, s, alice.Token, "rooms:write")
	dev := newDevice(t, ps, "x")
	good := dev.body()
	with := func(endpoint string, keys map[string]string) map[string]any {
		out := map[string]any{"endpoint": endpoint, "keys": good["keys"]}
		if keys != nil {
			out["keys"] = keys
		}
		return out
	}
	p256 := good["keys"].(map[string]string)["p256dh"]

	// Make the subscriptions that the misuse below must leave alone.
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/a1", nil), nil)
	var bobs struct {
		ID string `json:"id"`
	}
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", bob.Token, with("https://8.8.8.8/push/b1", nil), &bobs)

	before := snapshot(t, s)
	subsBefore := countSubscriptions(t, s)
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"an endpoint on loopback", "POST", "/api/v1/push/subscriptions", alice.Token, with(ps.URL+"/x", nil), 400},
		{"plain http", "POST", "/api/v1/push/subscriptions", alice.Token, with("http://8.8.8.8/x", nil), 400},
		{"a private address", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://10.0.0.7/x", nil), 400},
		{"the metadata service", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://169.254.169.254/latest", nil), 400},
		{"an IPv6 loopback", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://[::1]/x", nil), 400},
		{"localhost", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://localhost/x", nil), 400},
		{"a name without a dot", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://intranet/x", nil), 400},
		{"credentials in the URL", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://u:p@8.8.8.8/x", nil), 400},
		{"a javascript: URL", "POST", "/api/v1/push/subscriptions", alice.Token, with("javascript:alert(1)", nil), 400},
		{"a huge endpoint", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/"+strings.Repeat("a", 3000), nil), 400},
		{"a key not on the curve", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/k", map[string]string{"p256dh": base64.RawURLEncoding.EncodeToString(make([]byte, 65)), "auth": "AAAAAAAAAAAAAAAAAAAAAA"}), 400},
		{"a short auth secret", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/k", map[string]string{"p256dh": p256, "auth": "AAAA"}), 400},
		{"keys that are not base64", "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/k", map[string]string{"p256dh": "!!!", "auth": "***"}), 400},
		{"an unknown field", "POST", "/api/v1/push/subscriptions", alice.Token, map[string]any{"endpoint": "https://8.8.8.8/push/k", "keys": good["keys"], "user_id": bob.ID}, 400},
		{"an API key", "POST", "/api/v1/push/subscriptions", key, with("https://8.8.8.8/push/k", nil), 403},
		{"no login", "GET", "/api/v1/push/key", "", nil, 401},
		{"someone else's subscription", "DELETE", "/api/v1/push/subscriptions/" + bobs.ID, alice.Token, nil, 404},
		{"another tenant's user deletes it", "DELETE", "/api/v1/push/subscriptions/" + bobs.ID, mallory.Token, nil, 404},
		{"an unknown subscription", "DELETE", "/api/v1/push/subscriptions/" + unknownID, bob.Token, nil, 404},
	} {
		if r := s.Do(t, c.method, c.path, c.token, c.body); r.Status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.status, r.Body)
		}
	}
	assertUnchanged(t, s, before)
	if n := countSubscriptions(t, s); n != subsBefore {
		t.Errorf("subscriptions went from %d to %d", subsBefore, n)
	}

	// The cap: a third subscription replaces the oldest; the same endpoint
	// registered again is one subscription, not two.
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/a2", nil), nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/a3", nil), nil)
	s.Must(t, http.StatusCreated, "POST", "/api/v1/push/subscriptions", alice.Token, with("https://8.8.8.8/push/a3", nil), nil)
	var endpoints []string
	if err := s.App.Store.Read(t.Context()).Model(&store.PushSubscription{}).Where("user_id = ?", alice.ID).Order("endpoint").Pluck("endpoint", &endpoints).Error; err != nil {
		t.Fatal(err)
	}
	if strings.Join(endpoints, " ") != "https://8.8.8.8/push/a2 https://8.8.8.8/push/a3" {
		t.Errorf("alice's subscriptions: %v", endpoints)
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/push/subscriptions/"+bobs.ID, bob.Token, nil, nil)
}
