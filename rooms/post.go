package rooms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"parley/auth"
	"parley/files"
	"parley/internal/fault"
	"parley/store"
)

// draft is a message checked outside the writer and waiting for its write.
type draft struct {
	tenantID, roomID string
	body, clientID   string
	replyTo          string
	reply            *ReplyJSON
	files            []string // upload ids to attach
	uploader         string   // who must have uploaded them (the caller)
	author           store.User
	// asMember: the author posts because of their membership, which the
	// write checks again, so no post of theirs commits after their removal.
	asMember bool
	// onBehalf: posted with as_user; the write checks again that the user is
	// an active plain member.
	onBehalf bool

	// The outcome, set by the write.
	sameAs  *draft // the same author and client_id earlier in the same write
	msg     MessageJSON
	firstID string // a retried client_id: the id of the message it first made
	refused error  // this draft may not be written (the others still may)
}

// prepareDraft validates a post and does every check that needs no writer:
// the body, access to the room, the author, the message it answers.
func (s *Service) prepareDraft(ctx context.Context, p auth.Principal, roomID string, in NewMessage) (*draft, error) {
	body, err := cleanBody(in.Body, len(in.Attachments) > 0)
	if err != nil {
		return nil, err
	}
	if len(in.Attachments) > 0 && s.files == nil {
		return nil, fault.Field("attachments", "this server takes no files")
	}
	if err := files.CheckIDs(in.Attachments); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(in.ClientID) > maxClientID {
		return nil, fault.Field("client_id", "must be at most 64 characters")
	}
	row, err := s.access(ctx, p, roomID, "message.post")
	if err != nil {
		return nil, err
	}
	authorID := p.UserID
	switch {
	case in.AsUser != "" && !p.IsKey():
		return nil, fault.Field("as_user", "only an API key may post as another user")
	case in.AsUser != "":
		authorID = in.AsUser
	case p.IsKey():
		authorID = p.KeyID // the key's bot user
	}
	if row.Archived {
		return nil, fault.New(fault.Forbidden, "this room is archived (read-only)")
	}
	author, err := s.author(ctx, p, roomID, authorID, in.AsUser != "")
	if err != nil {
		if in.AsUser != "" {
			return nil, about("as_user", err)
		}
		return nil, err
	}
	d := &draft{tenantID: p.TenantID, roomID: roomID, body: body, clientID: in.ClientID, replyTo: in.ReplyTo,
		author: author, onBehalf: in.AsUser != "",
		asMember: in.AsUser != "" || (!p.IsKey() && row.MyRole != "" && p.Role == auth.RoleMember)}
	if in.ReplyTo != "" {
		if d.reply, err = s.replyTarget(ctx, p.TenantID, roomID, in.ReplyTo); err != nil {
			return nil, err
		}
	}
	// The uploads are checked in the write (checkFiles), which sees them as
	// they are then, and after a retried client_id, which must answer with
	// its first message even though that message took them.
	d.files, d.uploader = in.Attachments, p.Subject()
	return d, nil
}

// appendMessages writes drafts to one room in one transaction: consecutive
// seqs in draft order, one message.created each, a handful of statements
// for all of them. A draft whose client_id its author already used gets
// firstID instead of a new message; one whose author may no longer post
// gets refused. With allOrNothing, any refusal fails the whole write.
func (s *Service) appendMessages(tx *store.Tx, drafts []*draft, allOrNothing bool) error {
	if len(drafts) == 0 {
		return nil
	}
	roomID := drafts[0].roomID
	if err := findRetries(tx, roomID, drafts); err != nil {
		return err
	}
	if err := checkAuthors(tx, roomID, drafts); err != nil {
		return err
	}
	if err := checkFiles(tx, roomID, drafts); err != nil {
		return err
	}
	var fresh []*draft
	for i, d := range drafts {
		if d.refused != nil && allOrNothing {
			return indexed(i, d.refused)
		}
		if d.refused == nil && d.firstID == "" && d.sameAs == nil {
			fresh = append(fresh, d)
		}
	}
	if err := s.writeFresh(tx, fresh); err != nil {
		return err
	}
	// A post repeated while its first was in the same write answers with it.
	for _, d := range drafts {
		if first := d.sameAs; first != nil {
			d.refused, d.firstID = first.refused, first.firstID
			if d.firstID == "" {
				d.firstID = first.msg.ID
			}
		}
	}
	return nil
}

// writeFresh stores new messages, logs their events and publishes them after
// commit.
func (s *Service) writeFresh(tx *store.Tx, fresh []*draft) error {
	if len(fresh) == 0 {
		return nil
	}
	tenantID, roomID := fresh[0].tenantID, fresh[0].roomID
	now := s.now()
	var last int64
	err := tx.QueryRowPrepared(`UPDATE rooms SET last_seq = last_seq + ?, last_activity_at = ?
		WHERE id = ? AND archived = FALSE RETURNING last_seq`, len(fresh), now, roomID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return fault.New(fault.Forbidden, "this room is archived or gone")
	}
	if err != nil {
		return err
	}
	msgs := make([]store.Message, len(fresh))
	for i, d := range fresh {
		msgs[i] = store.Message{ID: newID(), TenantID: tenantID, RoomID: roomID, Seq: last - int64(len(fresh)-1-i),
			AuthorID: d.author.ID, Body: d.body, ClientID: d.clientID, CreatedAt: now, ReplyToID: d.replyTo}
	}
	if err := insertMessages(tx, msgs); err != nil {
		return err
	}
	if err := markPostsRead(tx, roomID, msgs); err != nil {
		return err
	}
	for i, d := range fresh {
		d.msg = ViewMessage(msgs[i], d.author)
		d.msg.ReplyTo = d.reply
		if d.msg.Mentions, err = s.storeMentions(tx, msgs[i]); err != nil {
			return err
		}
		if len(d.files) > 0 {
			if err := files.Attach(tx, d.msg.ID, d.files); err != nil {
				return err
			}
			attached, err := files.ForMessages(tx.DB, []string{d.msg.ID})
			if err != nil {
				return err
			}
			d.msg.Attachments = attached[d.msg.ID]
		}
	}
	if s.index != nil {
		if err := s.index.IndexNew(tx, msgs); err != nil {
			return err
		}
	}
	events := make([]loggedEvent, len(fresh))
	for i, d := range fresh {
		events[i] = loggedEvent{Event: store.Event{TenantID: tenantID, RoomID: roomID, Type: EvMessageCreated, MessageID: d.msg.ID},
			payload: messagePayload(roomID, encodeMessage(&d.msg))}
	}
	if s.notifier != nil {
		posted := make([]MessageJSON, len(fresh))
		for i, d := range fresh {
			posted[i] = d.msg
		}
		tx.AfterCommit(func() {
			for _, m := range posted {
				s.notifier.MessageCreated(tenantID, m)
			}
		})
	}
	_, err = s.emitAll(tx, events)
	return err
}

// messagesByID renders the messages with these ids, in this order.
func (s *Service) messagesByID(ctx context.Context, ids []string) ([]MessageJSON, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var msgs []store.Message
	if err := s.st.Read(ctx).Where("id IN ?", ids).Find(&msgs).Error; err != nil {
		return nil, err
	}
	shown, err := renderMessages(s.st.Read(ctx), msgs)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]MessageJSON, len(shown))
	for _, m := range shown {
		byID[m.ID] = m
	}
	out := make([]MessageJSON, len(ids))
	for i, id := range ids {
		m, ok := byID[id]
		if !ok {
			return nil, fault.New(fault.NotFound, "message not found")
		}
		out[i] = m
	}
	return out, nil
}

// Post stores a message and broadcasts it once it is durable. A repeated
// client_id from the same author returns the first message (created=false).
func (s *Service) Post(ctx context.Context, p auth.Principal, roomID string, in NewMessage) (MessageJSON, bool, error) {
	d, err := s.prepareDraft(ctx, p, roomID, in)
	if err != nil {
		return MessageJSON{}, false, err
	}
	if err := s.posts.write(ctx, s, d); err != nil {
		return MessageJSON{}, false, err
	}
	if d.refused != nil {
		return MessageJSON{}, false, d.refused
	}
	if d.firstID != "" {
		first, err := s.messagesByID(ctx, []string{d.firstID})
		if err != nil {
			return MessageJSON{}, false, err
		}
		return first[0], false, nil
	}
	return d.msg, true, nil
}

// maxBatchMessages bounds one batch post.
const maxBatchMessages = 100

// Posted is one message of a batch: created, or the first one its
// client_id made.
type Posted struct {
	Message MessageJSON `json:"message"`
	Created bool        `json:"created"`
}

// PostBatch stores up to 100 messages in one durable write, for tenant back
// ends: each gets its own seq and message.created, in order. Every item is
// checked first; one bad item refuses the batch, naming its index, and
// nothing is stored. A client_id the author already used returns the first
// message (created=false), so a retried batch stores nothing twice.
func (s *Service) PostBatch(ctx context.Context, p auth.Principal, roomID string, in []NewMessage) ([]Posted, error) {
	if len(in) == 0 || len(in) > maxBatchMessages {
		return nil, fault.Field("messages", fmt.Sprintf("must hold 1 to %d messages", maxBatchMessages))
	}
	if _, err := s.access(ctx, p, roomID, "message.post"); err != nil {
		return nil, err
	}
	drafts := make([]*draft, len(in))
	used := map[[2]string]int{}
	for i, m := range in {
		d, err := s.prepareDraft(ctx, p, roomID, m)
		if err != nil {
			return nil, indexed(i, err)
		}
		if d.clientID != "" {
			k := [2]string{d.author.ID, d.clientID}
			if j, ok := used[k]; ok {
				return nil, indexed(i, fault.Field("client_id", fmt.Sprintf("repeats the client_id of messages[%d]", j)))
			}
			used[k] = i
		}
		drafts[i] = d
	}
	err := s.st.Write(ctx, func(tx *store.Tx) error { return s.appendMessages(tx, drafts, true) })
	if err != nil {
		return nil, err
	}
	var firstIDs []string
	for _, d := range drafts {
		if d.firstID != "" {
			firstIDs = append(firstIDs, d.firstID)
		}
	}
	firsts, err := s.messagesByID(ctx, firstIDs)
	if err != nil {
		return nil, err
	}
	out := make([]Posted, len(drafts))
	for i, d := range drafts {
		if d.firstID == "" {
			out[i] = Posted{Message: d.msg, Created: true}
			continue
		}
		out[i] = Posted{Message: firsts[0]}
		firsts = firsts[1:]
	}
	return out, nil
}

// about names the field an error is about, unless it names one already.
func about(field string, err error) error {
	fe, ok := fault.As(err)
	if !ok || fe.Field != "" {
		return err
	}
	out := *fe
	out.Field = field
	return &out
}

// indexed names the batch item a field error is about. An item's problem is
// a bad request (400), whatever it would be for a single post; an author
// who may not post stays forbidden.
func indexed(i int, err error) error {
	fe, ok := fault.As(err)
	if !ok || fe.Field == "" {
		return err
	}
	out := *fe
	out.Field = fmt.Sprintf("messages[%d].%s", i, fe.Field)
	if out.Kind == fault.TooLarge {
		out.Kind = fault.Invalid
	}
	return &out
}

// postGroups gathers concurrent posts to one room into one write: the first
// post queues the write, and every post to the room that arrives before the
// writer takes it up joins it, so n posts cost one set of statements and one
// commit. A group holds at most as many posts as a batch, which bounds the
// size (and the number of shapes) of its statements.
//
// Posters that post again as soon as they are answered (a busy room) come
// back a moment after their group commits, just after the writer has taken
// up the group of whoever came in between: left alone, groups alternate
// between one post and all the others, and the lone post pays a commit of
// its own. So a new group in a room whose last group held at least
// minGather posts waits, at most gatherWait, until as many posts have
// joined as that group held (its posters are on their way back) before it
// queues its write. With 16 posters that post again at once, groups of 1
// and 15 became groups of 16: one commit per round instead of two
// (docs/PERFORMANCE.md, "Evening: the writer").
type postGroups struct {
	mu      sync.Mutex
	waiting map[string]*postGroup // room id -> group whose write has not started
	last    map[string]int        // room id -> size of its last group, when that was large
}

type postGroup struct {
	drafts []*draft
	done   chan struct{}
	err    error
	want   int           // enough posts to stop gathering (0: none wanted)
	enough chan struct{} // closed when want posts have joined
	taken  bool          // the write has taken the group: no one joins any more
}

// gatherWait bounds how long a new group waits for more posts (see
// postGroups), and minGather is the size of a last group that makes the
// next one wait for as many.
const (
	gatherWait = time.Millisecond
	minGather  = 4
)

func newPostGroups() *postGroups {
	return &postGroups{waiting: map[string]*postGroup{}, last: map[string]int{}}
}

// write stores d with whatever else is posted to its room meanwhile, and
// returns once that write has committed or failed.
func (q *postGroups) write(ctx context.Context, s *Service, d *draft) error {
	q.mu.Lock()
	g, joined := q.waiting[d.roomID]
	if !joined {
		g = &postGroup{done: make(chan struct{})}
		if want := q.last[d.roomID]; want >= minGather {
			g.want, g.enough = want, make(chan struct{})
		}
		q.waiting[d.roomID] = g
	}
	g.drafts = append(g.drafts, d)
	if len(g.drafts) == g.want {
		close(g.enough)
	}
	if len(g.drafts) == maxBatchMessages { // full: the next post starts a group of its own
		delete(q.waiting, d.roomID)
	}
	q.mu.Unlock()
	if joined {
		<-g.done
		return g.err
	}
	if g.enough != nil {
		wait := time.NewTimer(gatherWait)
		select {
		case <-g.enough:
		case <-wait.C:
		}
		wait.Stop()
	}
	take := func() []*draft {
		q.mu.Lock()
		defer q.mu.Unlock()
		if g.taken {
			return g.drafts
		}
		g.taken = true
		if q.waiting[d.roomID] == g {
			delete(q.waiting, d.roomID)
		}
		if len(g.drafts) >= minGather {
			q.last[d.roomID] = len(g.drafts)
		} else {
			delete(q.last, d.roomID)
		}
		return g.drafts
	}
	// The write is every joined post's: this caller leaving must not cancel it.
	g.err = s.st.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		return s.appendMessages(tx, take(), false)
	})
	take() // the write may not have run (the store closed): let no one join it any more
	close(g.done)
	return g.err
}
