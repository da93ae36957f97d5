package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"parley/internal/testkit"
	"parley/store"
)

type searchPage struct {
	Results []struct {
		Message    richMessage `json:"message"`
		Highlights [][2]int    `json:"highlights"`
	} `json:"results"`
	HasMore bool   `json:"has_more"`
	Next    string `json:"next"`
}

func searchFor(t *testing.T, s *testkit.Server, u testkit.User, query string) searchPage {
	t.Helper()
	var p searchPage
	s.Must(t, http.StatusOK, "GET", "/api/v1/search?"+query, u.Token, nil, &p)
	return p
}

// bodies lists the bodies found, in order.
func (p searchPage) bodies() []string {
	var out []string
	for _, r := range p.Results {
		out = append(out, r.Message.Body)
	}
	return out
}

func TestSearchFindsChineseAndEnglishOnlyWhereAllowed(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol")
	mallory := s.CreateTenant(t, "other", "mallory")
	team := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")
	lobby := createRoom(t, s, alice, "lobby", "public") // bob is not a member: public, so searchable
	secret := createRoom(t, s, alice, "secret", "private")
	addMember(t, s, alice, secret.ID, carol.ID, "member")
	theirs := createRoom(t, s, mallory, "theirs", "public")

	post(t, s, alice, team.ID, "大家你好啊")
	post(t, s, alice, team.ID, "你们好")
	post(t, s, alice, lobby.ID, "你好世界")
	post(t, s, alice, secret.ID, "你好 from the secret room, party")
	post(t, s, mallory, theirs.ID, "你好 from another tenant, party")
	post(t, s, alice, team.ID, "Two parties tonight")
	great := post(t, s, alice, lobby.ID, "The party was great")
	post(t, s, alice, team.ID, "PARTY hard")
	post(t, s, alice, team.ID, "the partition is full")

	p := searchFor(t, s, bob, "q="+url.QueryEscape("你好"))
	if got, want := p.bodies(), []string{"你好世界", "大家你好啊"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bob finds %q for 你好, want %q", got, want)
	}
	if h := p.Results[1].Highlights; !reflect.DeepEqual(h, [][2]int{{2, 4}}) {
		t.Fatalf("highlights of 你好 in 大家你好啊: %v", h)
	}
	p = searchFor(t, s, bob, "q=Party")
	if got, want := p.bodies(), []string{"PARTY hard", "The party was great", "Two parties tonight"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bob finds %q for Party, want %q (newest first, any case, plurals)", got, want)
	}
	if h := p.Results[2].Highlights; !reflect.DeepEqual(h, [][2]int{{4, 11}}) {
		t.Fatalf("highlights of party in %q: %v", p.Results[2].Message.Body, h)
	}
	if got := searchFor(t, s, carol, "q=party").bodies(); !reflect.DeepEqual(got, []string{"The party was great", "你好 from the secret room, party"}) {
		t.Fatalf("carol finds %q", got)
	}
	if got := searchFor(t, s, mallory, "q=party").bodies(); !reflect.DeepEqual(got, []string{"你好 from another tenant, party"}) {
		t.Fatalf("mallory finds %q: another tenant's messages leak", got)
	}

	// Paged, newest first.
	p = searchFor(t, s, bob, "q=party&limit=2")
	if len(p.Results) != 2 || !p.HasMore || p.Next == "" {
		t.Fatalf("first page: %d results, has_more %v, next %q", len(p.Results), p.HasMore, p.Next)
	}
	p = searchFor(t, s, bob, "q=party&limit=2&before="+p.Next)
	if got := p.bodies(); !reflect.DeepEqual(got, []string{"Two parties tonight"}) || p.HasMore || p.Next != "" {
		t.Fatalf("second page: %q, has_more %v, next %q", got, p.HasMore, p.Next)
	}

	// One room; a room bob may not read is not found, whatever tenant it is in.
	if got := searchFor(t, s, bob, "q=party&room="+lobby.ID).bodies(); !reflect.DeepEqual(got, []string{"The party was great"}) {
		t.Fatalf("in the lobby bob finds %q", got)
	}
	for _, roomID := range []string{secret.ID, theirs.ID, unknownID} {
		expect(t, s.Do(t, "GET", "/api/v1/search?q=party&room="+roomID, bob.Token, nil), http.StatusNotFound, "not_found")
	}

	// Bad queries.
	for _, q := range []string{"", "q=", "q=%20%20", "q=" + url.QueryEscape("!!! ???"), "q=" + strings.Repeat("a", 201), "q=x&limit=0", "q=x&limit=51"} {
		expect(t, s.Do(t, "GET", "/api/v1/search?"+q, bob.Token, nil), http.StatusBadRequest, "invalid_request")
	}
	expect(t, s.Do(t, "GET", "/api/v1/search?q=party", "", nil), http.StatusUnauthorized, "unauthenticated")

	// An edit moves the message in the index at once; a deletion takes it out.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+lobby.ID+"/messages/"+great.ID, alice.Token, map[string]string{"body": "The meeting was great"}, nil)
	if got := searchFor(t, s, bob, "q=party").bodies(); len(got) != 2 {
		t.Fatalf("after the edit bob finds %q", got)
	}
	if got := searchFor(t, s, bob, "q=meetings").bodies(); !reflect.DeepEqual(got, []string{"The meeting was great"}) {
		t.Fatalf("the edited text is not found: %q", got)
	}
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+lobby.ID+"/messages/"+great.ID, alice.Token, nil, nil)
	if got := searchFor(t, s, bob, "q=meeting").bodies(); len(got) != 0 {
		t.Fatalf("a deleted message is found: %q", got)
	}

	// Bob leaves the private room: nothing of it is found any more.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/members/"+bob.ID, bob.Token, nil, nil)
	if got := searchFor(t, s, bob, "q="+url.QueryEscape("你好")).bodies(); !reflect.DeepEqual(got, []string{"你好世界"}) {
		t.Fatalf("after leaving, bob finds %q", got)
	}
	if got := searchFor(t, s, bob, "q=party").bodies(); len(got) != 0 {
		t.Fatalf("after leaving, bob finds %q", got)
	}

	// A deleted room leaves nothing behind in the index.
	docs := func() int64 {
		var n int64
		table := "search_docs"
		if s.App.Store.Postgres() {
			table = "search_terms"
		}
		if err := s.App.Store.Read(context.Background()).Raw(`SELECT COUNT(*) FROM ` + table).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := docs()
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID, alice.Token, nil, nil)
	if after := docs(); after != before-5 {
		t.Fatalf("deleting the room left %d of its 5 messages in the index", after-(before-5))
	}
}

func TestSearchIndexIsBuiltForExistingMessages(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "general", "public")
	post(t, s, alice, r.ID, "早上好，各位同事")
	gone := post(t, s, alice, r.ID, "早上好 deleted")
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/messages/"+gone.ID, alice.Token, nil, nil)
	searchFor(t, s, alice, "q=x") // nothing left to index: the stop after the drop marks the index clean
	// A database from before search: no index yet.
	drop := `DROP TABLE search_fts; DROP TABLE search_docs`
	if s.App.Store.Postgres() {
		drop = `DROP TABLE search_terms`
	}
	err := s.App.Store.Write(context.Background(), func(tx *store.Tx) error { return tx.Exec(drop).Error })
	if err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	if got := searchFor(t, s, alice, "q="+url.QueryEscape("同事")).bodies(); !reflect.DeepEqual(got, []string{"早上好，各位同事"}) {
		t.Fatalf("after building the index: %q", got)
	}
	if got := searchFor(t, s, alice, "q="+url.QueryEscape("早上好")).bodies(); len(got) != 1 {
		t.Fatalf("the deleted message is indexed: %q", got)
	}
}

// New messages are indexed a moment after their commit, so a crash can leave
// the newest ones out of the index: an index not closed cleanly is completed
// at the next start, and one closed cleanly is trusted as it is.
func TestSearchIndexCatchesUpAfterACrash(t *testing.T) {
	s := testkit.Start(t)
	if s.App.Store.Postgres() {
		t.Skip("SQLite's index only: PostgreSQL indexes each message inside the write that posts it")
	}
	alice := s.CreateTenant(t, "acme", "alice")
	r := createRoom(t, s, alice, "general", "public")
	kept := post(t, s, alice, r.ID, "大家你好啊 first")
	missed := post(t, s, alice, r.ID, "大家你好啊 second")
	searchFor(t, s, alice, "q=first") // indexes both
	dbFile := s.Cfg.DatabaseFile()
	s.Stop()

	// What a crash leaves: the newest message not yet indexed, and the index
	// not marked clean.
	unindex := func(clean int) {
		db, err := sql.Open("sqlite3", dbFile)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{
			`DELETE FROM search_fts WHERE docid IN (SELECT docid FROM search_docs WHERE message_id = '` + missed.ID + `')`,
			`DELETE FROM search_docs WHERE message_id = '` + missed.ID + `'`,
			`UPDATE search_state SET clean = ` + strconv.Itoa(clean),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	unindex(0)
	s.Restart(t)
	want := []string{missed.Body, kept.Body}
	if got := searchFor(t, s, alice, "q="+url.QueryEscape("你好")).bodies(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after an unclean stop: %q, want %q", got, want)
	}

	// A clean stop is trusted: no scan (the index is not second-guessed).
	s.Stop()
	unindex(1)
	s.Restart(t)
	if got := searchFor(t, s, alice, "q="+url.QueryEscape("你好")).bodies(); !reflect.DeepEqual(got, []string{kept.Body}) {
		t.Fatalf("after a clean stop: %q, want only %q", got, kept.Body)
	}
}
