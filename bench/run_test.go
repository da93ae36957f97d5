package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeParley implements just enough of API.md for the tool's whole path:
// provisioning, SSE streams (room and user), posting and reading a room back.
type fakeParley struct {
	mu      sync.Mutex
	nextID  int
	members map[string]map[string]bool // room -> user ids
	seq     map[string]int64
	subs    map[string]map[chan []byte]bool // room -> subscriber channels
	userSub map[string]map[chan []byte]bool // user -> /events channels
}

func newFakeParley() *fakeParley {
	return &fakeParley{members: map[string]map[string]bool{}, seq: map[string]int64{},
		subs: map[string]map[chan []byte]bool{}, userSub: map[string]map[chan []byte]bool{}}
}

func (f *fakeParley) id(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return fmt.Sprintf("%s%d", prefix, f.nextID)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeParley) handler() http.Handler {
	mux := http.NewServeMux()
	tokenFor := func(uid string) map[string]any {
		return map[string]any{"user": map[string]any{"id": uid}, "access_token": "jwt-" + uid, "refresh_token": "r", "expires_in": 900}
	}
	needKey := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(bearer(r), "pk_") {
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "unauthenticated"}})
			return false
		}
		return true
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("POST /api/v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Slug  string
			Name  string
			Admin struct{ Username, Password, Display_name string }
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !strings.HasPrefix(in.Slug, "bench-") {
			writeJSON(w, 400, map[string]any{"error": map[string]string{"code": "invalid_request"}})
			return
		}
		resp := tokenFor(f.id("admin"))
		resp["tenant"] = map[string]string{"id": "t1", "slug": in.Slug}
		writeJSON(w, 201, resp)
	})
	mux.HandleFunc("POST /api/v1/apikeys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"id": "k1", "key": "pk_secret"})
	})
	mux.HandleFunc("POST /api/v1/rooms", func(w http.ResponseWriter, r *http.Request) {
		if !needKey(w, r) {
			return
		}
		id := f.id("room")
		f.mu.Lock()
		f.members[id] = map[string]bool{}
		f.subs[id] = map[chan []byte]bool{}
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"id": id})
	})
	mux.HandleFunc("GET /api/v1/rooms/{room}", func(w http.ResponseWriter, r *http.Request) {
		if !needKey(w, r) { // as the server: a key may not mint a token for the admin
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"id": r.PathValue("room"), "last_seq": f.seq[r.PathValue("room")]})
	})
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		if !needKey(w, r) {
			return
		}
		writeJSON(w, 201, map[string]any{"id": f.id("user")})
	})
	mux.HandleFunc("PUT /api/v1/rooms/{room}/members/{user}", func(w http.ResponseWriter, r *http.Request) {
		if !needKey(w, r) {
			return
		}
		f.mu.Lock()
		f.members[r.PathValue("room")][r.PathValue("user")] = true
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	})
	mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		if !needKey(w, r) {
			return
		}
		var in struct{ User_id string }
		json.NewDecoder(r.Body).Decode(&in)
		writeJSON(w, 201, tokenFor(in.User_id))
	})
	type newMessage struct{ Body, Client_id string }
	// post stores messages in room and fans them out; false if uid may not post there.
	post := func(room, uid string, in []newMessage) ([]map[string]any, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.members[room][uid] {
			return nil, false
		}
		var out []map[string]any
		for _, m := range in {
			f.nextID++
			f.seq[room]++
			msg := map[string]any{"id": fmt.Sprint("m", f.nextID), "room_id": room, "seq": f.seq[room], "author": map[string]string{"id": uid},
				"body": m.Body, "client_id": m.Client_id, "created_at": time.Now().UTC().Format(time.RFC3339Nano)}
			data, _ := json.Marshal(map[string]any{"room_id": room, "message": msg})
			frame := []byte(fmt.Sprintf("id: %s-%d\nevent: message.created\ndata: %s\n\n", room, f.seq[room], data))
			for ch := range f.subs[room] {
				ch <- frame
			}
			for uid := range f.members[room] {
				for ch := range f.userSub[uid] {
					ch <- frame
				}
			}
			out = append(out, msg)
		}
		return out, true
	}
	notFound := func(w http.ResponseWriter) {
		writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "not_found"}})
	}
	mux.HandleFunc("POST /api/v1/rooms/{room}/messages", func(w http.ResponseWriter, r *http.Request) {
		var in newMessage
		json.NewDecoder(r.Body).Decode(&in)
		msgs, ok := post(r.PathValue("room"), strings.TrimPrefix(bearer(r), "jwt-"), []newMessage{in})
		if !ok {
			notFound(w)
			return
		}
		writeJSON(w, 201, msgs[0])
	})
	mux.HandleFunc("POST /api/v1/rooms/{room}/messages/batch", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Messages []newMessage }
		json.NewDecoder(r.Body).Decode(&in)
		msgs, ok := post(r.PathValue("room"), strings.TrimPrefix(bearer(r), "jwt-"), in.Messages)
		if !ok {
			notFound(w)
			return
		}
		var results []map[string]any
		for _, m := range msgs {
			results = append(results, map[string]any{"created": true, "message": m})
		}
		writeJSON(w, 201, map[string]any{"results": results})
	})
	stream := func(w http.ResponseWriter, r *http.Request, set func(ch chan []byte, add bool)) {
		ch := make(chan []byte, 1024)
		set(ch, true)
		defer set(ch, false)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(200)
		io.WriteString(w, "retry: 3000\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case b := <-ch:
				w.Write(b)
				w.(http.Flusher).Flush()
			}
		}
	}
	mux.HandleFunc("GET /api/v1/rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		uid := strings.TrimPrefix(bearer(r), "jwt-")
		f.mu.Lock()
		ok := f.members[room][uid]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "not_found"}})
			return
		}
		stream(w, r, func(ch chan []byte, add bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if add {
				f.subs[room][ch] = true
			} else {
				delete(f.subs[room], ch)
			}
		})
	})
	mux.HandleFunc("GET /api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		uid := strings.TrimPrefix(bearer(r), "jwt-")
		stream(w, r, func(ch chan []byte, add bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.userSub[uid] == nil {
				f.userSub[uid] = map[chan []byte]bool{}
			}
			if add {
				f.userSub[uid][ch] = true
			} else {
				delete(f.userSub[uid], ch)
			}
		})
	})
	return mux
}

func smallConfig(t *testing.T, scenario, url string) Config {
	t.Helper()
	c, err := Defaults(scenario)
	if err != nil {
		t.Fatal(err)
	}
	c.URL = url
	c.Duration = time.Second
	c.Settle = 100 * time.Millisecond
	c.Drain = 5 * time.Second
	c.Workers = 4
	c.DialConcurrency = 4
	c.SourceAddrs = 3
	c.Log = io.Discard
	c.MaxMessages = 10_000
	return c
}

// TestRunAgainstFake runs each scenario end to end, with tiny numbers, against
// an in-process fake of the API. It checks counts only, never timings.
func TestRunAgainstFake(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	srv := httptest.NewServer(newFakeParley().handler())
	defer srv.Close()

	tests := []struct {
		name  string
		tweak func(*Config)
		check func(*testing.T, *Result)
	}{
		{"idle", func(c *Config) { c.Conns, c.StreamsPerUser = 30, 4 }, func(t *testing.T, r *Result) {
			if r.Connections.Established != 30 || r.Connections.HeldAtEnd != 30 || r.Connections.Failed != 0 {
				t.Errorf("connections %+v", r.Connections)
			}
		}},
		{"fanout", func(c *Config) { c.SubsPerRoom, c.StreamsPerUser, c.Rate = 20, 5, 20 }, func(t *testing.T, r *Result) {
			if r.Connections.Established != 20 {
				t.Errorf("established %d", r.Connections.Established)
			}
			if r.Publish.Accepted == 0 || r.Publish.Errors != 0 {
				t.Errorf("publish %+v", r.Publish)
			}
			d := r.Delivery
			if d.Expected != r.Publish.Accepted*20 || d.Received != d.Expected || d.Missing != 0 || d.Gaps != 0 || d.Dups != 0 {
				t.Errorf("delivery %+v (accepted %d)", d, r.Publish.Accepted)
			}
			if d.FromCreated.Count != d.Received || d.FromSend.Count != d.Received {
				t.Errorf("latency samples %d/%d for %d deliveries", d.FromCreated.Count, d.FromSend.Count, d.Received)
			}
		}},
		{"rooms via /events", func(c *Config) {
			c.Rooms, c.SubsPerRoom, c.StreamsPerUser, c.Posters, c.Rate, c.Endpoint = 6, 3, 1, 3, 60, "user"
		}, func(t *testing.T, r *Result) {
			if r.Connections.Established != 18 || r.Delivery.Missing != 0 || r.Delivery.Received != r.Publish.Accepted*3 {
				t.Errorf("conns %+v delivery %+v accepted %d", r.Connections, r.Delivery, r.Publish.Accepted)
			}
		}},
		// -max-messages ends this run, not the clock: a busy machine may need long for 200 posts.
		{"fanout with batches", func(c *Config) { c.SubsPerRoom, c.StreamsPerUser, c.Posters, c.Rate, c.Batch = 4, 1, 2, 0, 10 }, func(t *testing.T, r *Result) {
			if r.Publish.Accepted == 0 || r.Publish.Accepted%10 != 0 || r.Publish.Errors != 0 {
				t.Errorf("publish %+v", r.Publish)
			}
			if d := r.Delivery; d.Expected != r.Publish.Accepted*4 || d.Received != d.Expected || d.Gaps != 0 || d.Dups != 0 {
				t.Errorf("delivery %+v (accepted %d)", d, r.Publish.Accepted)
			}
		}},
		{"throughput", func(c *Config) { c.Rooms, c.Posters, c.MaxMessages, c.Duration = 3, 3, 200, time.Minute }, func(t *testing.T, r *Result) {
			if r.Publish.Accepted != 200 || r.Publish.Attempted != 200 {
				t.Errorf("max-messages not honoured: %+v", r.Publish)
			}
			if !r.Persisted.Checked || r.Persisted.Messages != r.Publish.Accepted {
				t.Errorf("persisted %+v, accepted %d", r.Persisted, r.Publish.Accepted)
			}
			if len(r.Targets) != 1 {
				t.Errorf("targets %+v", r.Targets)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scenario := strings.Fields(tc.name)[0]
			c := smallConfig(t, scenario, srv.URL)
			tc.tweak(&c)
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, res)
			var sb strings.Builder
			res.Summary(&sb)
			if !strings.Contains(sb.String(), "parley-bench "+scenario) {
				t.Errorf("summary:\n%s", sb.String())
			}
			if _, err := json.Marshal(res); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	c, _ := Defaults("idle")
	c.URL = "http://10.0.0.1:8080"
	c.Log = io.Discard
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultsValidate(t *testing.T) {
	for _, s := range Scenarios {
		c, err := Defaults(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s defaults invalid: %v", s, err)
		}
	}
	if _, err := Defaults("nope"); err == nil {
		t.Error("unknown scenario accepted")
	}
	bad := []func(*Config){
		func(c *Config) { c.Duration = 0 },
		func(c *Config) { c.Duration = 2 * MaxDuration },
		func(c *Config) { c.Conns = MaxConns + 1 },
		func(c *Config) { c.MaxMessages = 0 },
		func(c *Config) { c.Rate = -1 },
		func(c *Config) { c.Endpoint = "x" },
		func(c *Config) { c.StreamsPerUser = 0 },
	}
	for i, f := range bad {
		c, _ := Defaults("fanout")
		f(&c)
		if c.Validate() == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
}
