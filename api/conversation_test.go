package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/internal/testkit"
)

// richMessage is a message with the version 1.1 fields.
type richMessage struct {
	message
	ReplyTo *struct {
		ID     string `json:"id"`
		Seq    int64  `json:"seq"`
		Body   string `json:"body"`
		Author struct {
			ID string `json:"id"`
		} `json:"author"`
		Deleted bool `json:"deleted"`
	} `json:"reply_to"`
	Mentions  []string `json:"mentions"`
	Reactions []struct {
		Emoji   string   `json:"emoji"`
		UserIDs []string `json:"user_ids"`
	} `json:"reactions"`
}

type richPage struct {
	Messages []richMessage `json:"messages"`
	HasMore  bool          `json:"has_more"`
}

func postWith(t *testing.T, s *testkit.Server, u testkit.User, roomID string, body map[string]any) richMessage {
	t.Helper()
	var m richMessage
	s.Must(t, http.StatusCreated, "POST", "/api/v1/rooms/"+roomID+"/messages", u.Token, body, &m)
	return m
}

func richHistory(t *testing.T, s *testkit.Server, u testkit.User, roomID string) []richMessage {
	t.Helper()
	var p richPage
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+roomID+"/messages", u.Token, nil, &p)
	return p.Messages
}

func reactionPath(roomID, messageID, emoji string) string {
	return "/api/v1/rooms/" + roomID + "/messages/" + messageID + "/reactions/" + url.PathEscape(emoji)
}

func TestRepliesQuoteTheirOriginalWithinTheRoomOnly(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	mallory := s.CreateTenant(t, "other", "mallory")
	general := createRoom(t, s, alice, "general", "public")
	random := createRoom(t, s, alice, "random", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+general.ID+"/join", bob.Token, nil, nil)
	elsewhere := createRoom(t, s, mallory, "theirs", "public")

	long := strings.Repeat("长", 250)
	original := post(t, s, alice, general.ID, long)
	inRandom := post(t, s, alice, random.ID, "in another room")
	theirs := post(t, s, mallory, elsewhere.ID, "in another tenant")

	st := s.Open(t, "/api/v1/rooms/"+general.ID+"/events", alice.Token, "")
	reply := postWith(t, s, bob, general.ID, map[string]any{"body": "agreed", "reply_to": original.ID})
	if reply.ReplyTo == nil || reply.ReplyTo.ID != original.ID || reply.ReplyTo.Seq != original.Seq || reply.ReplyTo.Author.ID != alice.ID {
		t.Fatalf("reply_to = %+v", reply.ReplyTo)
	}
	if got := []rune(reply.ReplyTo.Body); len(got) != 200 || string(got) != strings.Repeat("长", 200) {
		t.Fatalf("the quoted body has %d characters, want the first 200", len(got))
	}
	var live struct{ Message richMessage }
	st.NextNamed(t, "message.created", wait).Decode(t, &live)
	if live.Message.ReplyTo == nil || live.Message.ReplyTo.ID != original.ID {
		t.Fatalf("the live event lacks reply_to: %+v", live.Message)
	}

	// Another room's, another tenant's or an unknown message: 400, nothing stored.
	before := snapshot(t, s)
	for _, target := range []string{inRandom.ID, theirs.ID, unknownID} {
		r := s.Do(t, "POST", "/api/v1/rooms/"+general.ID+"/messages", bob.Token, map[string]any{"body": "sneaky", "reply_to": target})
		if e := errorOf(t, r); r.Status != http.StatusBadRequest || e.Error.Code != "invalid_request" || e.Error.Field != "reply_to" {
			t.Errorf("reply to %s: %d %s", target, r.Status, r.Body)
		}
	}
	r := s.Do(t, "POST", "/api/v1/rooms/"+general.ID+"/messages", bob.Token, map[string]any{"body": "sneaky", "reply_to": 7})
	expect(t, r, http.StatusBadRequest, "invalid_request")
	assertUnchanged(t, s, before)

	// The original deleted: the reply quotes a tombstone, everywhere.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+general.ID+"/messages/"+original.ID, alice.Token, nil, nil)
	msgs := richHistory(t, s, alice, general.ID)
	got := msgs[len(msgs)-1]
	if got.ID != reply.ID || got.ReplyTo == nil || got.ReplyTo.Body != "" || !got.ReplyTo.Deleted {
		t.Fatalf("after deleting the original, the reply shows %+v", got.ReplyTo)
	}
	again := postWith(t, s, bob, general.ID, map[string]any{"body": "to a tombstone", "reply_to": original.ID})
	if again.ReplyTo == nil || !again.ReplyTo.Deleted || again.ReplyTo.Body != "" {
		t.Fatalf("a reply to a deleted message shows %+v", again.ReplyTo)
	}
}

func TestReactionsAreIdempotentLiveAndBounded(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol") // not in the private room
	mallory := s.CreateTenant(t, "other", "mallory")
	team := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")
	lobby := createRoom(t, s, alice, "lobby", "public")
	m := post(t, s, alice, team.ID, "ship it?")
	inLobby := post(t, s, alice, lobby.ID, "lobby message")
	theirRoom := createRoom(t, s, mallory, "theirs", "public")
	theirs := post(t, s, mallory, theirRoom.ID, "theirs")

	st := s.Open(t, "/api/v1/events", alice.Token, "")
	for _, emoji := range []string{"👍", "👍", "👨‍👩‍👧", "🇨🇳", "1️⃣"} {
		s.Must(t, http.StatusNoContent, "PUT", reactionPath(team.ID, m.ID, emoji), bob.Token, nil, nil)
	}
	s.Must(t, http.StatusNoContent, "PUT", reactionPath(team.ID, m.ID, "👍"), alice.Token, nil, nil)
	for _, want := range []struct{ emoji, user string }{{"👍", bob.ID}, {"👨‍👩‍👧", bob.ID}, {"🇨🇳", bob.ID}, {"1️⃣", bob.ID}, {"👍", alice.ID}} {
		var ev struct {
			RoomID, MessageID, Emoji, UserID string
		}
		e := st.Next(t, wait)
		if e.Name != "reaction.added" || e.ID == "" {
			t.Fatalf("got %s (id %q), want a resumable reaction.added", e.Name, e.ID)
		}
		e.Decode(t, &struct {
			RoomID    *string `json:"room_id"`
			MessageID *string `json:"message_id"`
			Emoji     *string `json:"emoji"`
			UserID    *string `json:"user_id"`
		}{&ev.RoomID, &ev.MessageID, &ev.Emoji, &ev.UserID})
		if ev.RoomID != team.ID || ev.MessageID != m.ID || ev.Emoji != want.emoji || ev.UserID != want.user {
			t.Fatalf("event %+v, want %s by %s", ev, want.emoji, want.user)
		}
	}
	expectSilence(t, st, 200*time.Millisecond) // the repeated 👍 changed nothing
	got := richHistory(t, s, bob, team.ID)[0].Reactions
	if len(got) != 4 || got[0].Emoji != "👍" || !slices.Equal(got[0].UserIDs, []string{bob.ID, alice.ID}) {
		t.Fatalf("reactions = %+v", got)
	}

	s.Must(t, http.StatusNoContent, "DELETE", reactionPath(team.ID, m.ID, "👍"), bob.Token, nil, nil)
	s.Must(t, http.StatusNoContent, "DELETE", reactionPath(team.ID, m.ID, "👍"), bob.Token, nil, nil)
	if e := st.Next(t, wait); e.Name != "reaction.removed" {
		t.Fatalf("got %s, want reaction.removed", e.Name)
	}
	expectSilence(t, st, 200*time.Millisecond)

	// Misuse: refused with the API's errors, nothing changes.
	before := snapshot(t, s)
	for _, c := range []struct {
		who    testkit.User
		method string
		path   string
		status int
	}{
		{bob, "PUT", reactionPath(team.ID, m.ID, "ok"), http.StatusBadRequest},
		{bob, "PUT", reactionPath(team.ID, m.ID, "👍👍"), http.StatusBadRequest},
		{bob, "PUT", reactionPath(team.ID, m.ID, "a"), http.StatusBadRequest},
		{bob, "PUT", reactionPath(team.ID, m.ID, "好"), http.StatusBadRequest},
		{bob, "PUT", reactionPath(team.ID, m.ID, "<script>"), http.StatusBadRequest},
		{carol, "PUT", reactionPath(team.ID, m.ID, "👍"), http.StatusNotFound},         // not in the private room
		{carol, "PUT", reactionPath(lobby.ID, inLobby.ID, "👍"), http.StatusForbidden}, // a public room she has not joined
		{mallory, "PUT", reactionPath(team.ID, m.ID, "👍"), http.StatusNotFound},       // another tenant
		{bob, "PUT", reactionPath(team.ID, theirs.ID, "👍"), http.StatusNotFound},      // another tenant's message id
		{bob, "PUT", reactionPath(team.ID, inLobby.ID, "👍"), http.StatusNotFound},     // another room's message id
		{bob, "PUT", reactionPath(team.ID, unknownID, "👍"), http.StatusNotFound},
		{carol, "DELETE", reactionPath(team.ID, m.ID, "👨‍👩‍👧"), http.StatusNotFound},
	} {
		r := s.Do(t, c.method, c.path, c.who.Token, nil)
		if r.Status != c.status || r.ErrorCode() == "" {
			t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, c.who.Username, r.Status, r.Body, c.status)
		}
	}
	assertUnchanged(t, s, before)

	// At most 20 different emoji on a message, and 10 from one person.
	many := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗"}
	for i, emoji := range many {
		who := alice
		if i >= 9 {
			who = bob
		}
		s.Must(t, http.StatusNoContent, "PUT", reactionPath(team.ID, m.ID, emoji), who.Token, nil, nil)
	}
	// Alice has 👍 and 9 more: her 11th is refused, even with an emoji already there.
	r := s.Do(t, "PUT", reactionPath(team.ID, m.ID, "🇨🇳"), alice.Token, nil)
	expect(t, r, http.StatusConflict, "conflict")
	// 👍, 3 of bob's and 16 more make 20 different: a 21st is refused.
	r = s.Do(t, "PUT", reactionPath(team.ID, m.ID, "🤔"), bob.Token, nil)
	expect(t, r, http.StatusConflict, "conflict")
	if n := len(richHistory(t, s, bob, team.ID)[0].Reactions); n != 20 {
		t.Fatalf("%d different reactions, want 20", n)
	}

	// Deleting the message drops its reactions; reacting to a tombstone is refused.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/messages/"+m.ID, alice.Token, nil, nil)
	if n := len(richHistory(t, s, bob, team.ID)[0].Reactions); n != 0 {
		t.Fatalf("a deleted message keeps %d reactions", n)
	}
	expect(t, s.Do(t, "PUT", reactionPath(team.ID, m.ID, "👍"), bob.Token, nil), http.StatusConflict, "conflict")
}

func TestReactionsEditsAndDeletionsResumeExactlyOnce(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	r := createRoom(t, s, alice, "general", "public")
	s.Must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/join", bob.Token, nil, nil)
	first := post(t, s, alice, r.ID, "first")
	second := post(t, s, alice, r.ID, "second")

	st := s.Open(t, "/api/v1/events", bob.Token, "")
	post(t, s, alice, r.ID, "mark")
	cursor := expectMessage(t, st, "mark").ID
	st.Close()

	// While bob is away: a reaction added and one removed, an edit, a deletion.
	s.Must(t, http.StatusNoContent, "PUT", reactionPath(r.ID, first.ID, "🎉"), alice.Token, nil, nil)
	s.Must(t, http.StatusNoContent, "PUT", reactionPath(r.ID, first.ID, "👀"), alice.Token, nil, nil)
	s.Must(t, http.StatusNoContent, "DELETE", reactionPath(r.ID, first.ID, "👀"), alice.Token, nil, nil)
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+r.ID+"/messages/"+first.ID, alice.Token, map[string]string{"body": "first, edited"}, nil)
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+r.ID+"/messages/"+second.ID, alice.Token, nil, nil)

	resumed := s.Open(t, "/api/v1/events", bob.Token, cursor)
	// Live after the replay: one more reaction.
	s.Must(t, http.StatusNoContent, "PUT", reactionPath(r.ID, first.ID, "✅"), bob.Token, nil, nil)
	want := []string{"reaction.added", "reaction.added", "reaction.removed", "message.updated", "message.deleted", "reaction.added"}
	var got []string
	ids := map[string]bool{}
	for range want {
		ev := resumed.Next(t, wait)
		if ids[ev.ID] {
			t.Fatalf("event id %s delivered twice", ev.ID)
		}
		ids[ev.ID] = true
		got = append(got, ev.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after resuming got %v, want %v", got, want)
	}
	expectSilence(t, resumed, 300*time.Millisecond)
}

func TestMentionsNameMembersOnlyAndAreCounted(t *testing.T) {
	s := testkit.Start(t)
	alice := s.CreateTenant(t, "acme", "alice")
	bob := s.Signup(t, "acme", "bob")
	carol := s.Signup(t, "acme", "carol") // in the tenant, not in the room
	mallory := s.CreateTenant(t, "other", "mallory")
	team := createRoom(t, s, alice, "team", "private")
	addMember(t, s, alice, team.ID, bob.ID, "member")

	m := postWith(t, s, alice, team.ID, map[string]any{
		"body": "thanks @BOB. ping @carol, @mallory, @nobody, @alice and mail bob@example.com"})
	if !slices.Equal(m.Mentions, []string{bob.ID}) {
		t.Fatalf("mentions = %v, want only bob (a member; not the author, outsiders or unknown names)", m.Mentions)
	}
	plain := postWith(t, s, alice, team.ID, map[string]any{"body": "no one named here"})
	if plain.Mentions == nil || len(plain.Mentions) != 0 {
		t.Fatalf("mentions of a plain message = %#v, want []", plain.Mentions)
	}
	mentionCount := func(u testkit.User) int64 {
		var rooms []struct {
			ID           string `json:"id"`
			MentionCount int64  `json:"mention_count"`
		}
		s.Must(t, http.StatusOK, "GET", "/api/v1/rooms", u.Token, nil, &rooms)
		for _, r := range rooms {
			if r.ID == team.ID {
				return r.MentionCount
			}
		}
		return -1
	}
	mentioned := func(u testkit.User, query string) richPage {
		var p richPage
		s.Must(t, http.StatusOK, "GET", "/api/v1/mentions"+query, u.Token, nil, &p)
		return p
	}
	if n := mentionCount(bob); n != 1 {
		t.Fatalf("bob's mention_count = %d, want 1", n)
	}
	var one struct {
		MentionCount int64 `json:"mention_count"`
	}
	s.Must(t, http.StatusOK, "GET", "/api/v1/rooms/"+team.ID, bob.Token, nil, &one)
	if one.MentionCount != 1 {
		t.Fatalf("GET room: mention_count = %d, want 1", one.MentionCount)
	}
	if p := mentioned(bob, ""); len(p.Messages) != 1 || p.Messages[0].ID != m.ID {
		t.Fatalf("bob's mentions: %+v", p)
	}
	for _, u := range []testkit.User{carol, mallory, alice} {
		if p := mentioned(u, ""); len(p.Messages) != 0 {
			t.Errorf("%s is told of %d mentions", u.Username, len(p.Messages))
		}
	}

	// Reading the room clears the count; the mention stays listed.
	s.Must(t, http.StatusNoContent, "POST", "/api/v1/rooms/"+team.ID+"/read", bob.Token, map[string]int64{"seq": plain.Seq}, nil)
	if n := mentionCount(bob); n != 0 {
		t.Fatalf("after reading, mention_count = %d", n)
	}

	// Newest first, paged by before.
	var ids []string
	for i := range 4 {
		ids = append(ids, postWith(t, s, alice, team.ID, map[string]any{"body": fmt.Sprintf("@bob %d", i)}).ID)
	}
	p := mentioned(bob, "?limit=3")
	if len(p.Messages) != 3 || !p.HasMore || p.Messages[0].ID != ids[3] || p.Messages[2].ID != ids[1] {
		t.Fatalf("first page: %d messages, has_more %v", len(p.Messages), p.HasMore)
	}
	p = mentioned(bob, "?limit=3&before="+p.Messages[2].ID)
	if len(p.Messages) != 2 || p.HasMore || p.Messages[0].ID != ids[0] || p.Messages[1].ID != m.ID {
		t.Fatalf("second page: %+v", p)
	}
	expect(t, s.Do(t, "GET", "/api/v1/mentions?limit=0", bob.Token, nil), http.StatusBadRequest, "invalid_request")

	// An edit that drops the name drops the mention.
	s.Must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+team.ID+"/messages/"+ids[3], alice.Token, map[string]string{"body": "never mind"}, nil)
	if p := mentioned(bob, ""); len(p.Messages) != 4 {
		t.Fatalf("after the edit bob has %d mentions, want 4", len(p.Messages))
	}

	// Removed from the room, bob no longer sees its mentions.
	s.Must(t, http.StatusNoContent, "DELETE", "/api/v1/rooms/"+team.ID+"/members/"+bob.ID, alice.Token, nil, nil)
	if p := mentioned(bob, ""); len(p.Messages) != 0 {
		t.Fatalf("a removed member still lists %d mentions", len(p.Messages))
	}
}
