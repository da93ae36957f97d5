// Package rooms knows rooms, membership, messages and the live fan-out of
// their events to subscribers.
package rooms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"parley/auth"
	"parley/files"
	"parley/internal/fault"
	"parley/store"
)

// Room roles.
const (
	RoleOwner     = "owner"
	RoleModerator = "moderator"
	RoleMember    = "member"
)

const (
	maxRoomName  = 64
	maxTopic     = 250
	maxBody      = 4000
	maxClientID  = 64
	defaultLimit = 50
	maxLimit     = 200
)

// Room kinds.
const (
	KindRoom = "room"
	KindDM   = "dm"
)

// Notification levels: which new messages of a room notify a member.
const (
	NotifyAll      = "all"
	NotifyMentions = "mentions"
	NotifyNone     = "none"
)

// Service runs the room and message use cases.
type Service struct {
	st        *store.Store
	auth      *auth.Service
	hub       *Hub
	bus       Bus // carries what this node commits to every node's hub
	relay     *relay
	relayOpts RelayOptions // how the relay delivers (WithBus)
	caps      Caps
	audit     auth.Auditor
	index     MessageIndex // nil: no search
	presence  Presence
	notifier  MessageNotifier // nil: nobody is notified
	files     *files.Service  // nil: no uploads
	announce  *announcer
	posts     *postGroups
	now       func() time.Time
}

// MessageNotifier hears of each new message once it is durable (push
// notifications). It must return at once: it runs on the writer's goroutine.
type MessageNotifier interface {
	MessageCreated(tenantID string, m MessageJSON)
}

// Caps bound how many rooms a tenant has, and how many members a room and
// rooms a user; 0 is no cap.
type Caps struct {
	RoomsPerTenant int
	MembersPerRoom int
	RoomsPerUser   int
	// ReplayDepth is how many missed events a resuming stream replays; a
	// client further behind gets one resync event instead.
	ReplayDepth int
}

// NewService wires the rooms service.
func NewService(st *store.Store, authSvc *auth.Service, hub *Hub, caps Caps, auditor auth.Auditor, opts ...Option) *Service {
	s := &Service{st: st, auth: authSvc, hub: hub, bus: NewLocalBus(), caps: caps, audit: auditor, presence: NewMemoryPresence(),
		posts: newPostGroups(),
		now:   store.Now}
	s.announce = newAnnouncer(s, 0)
	for _, o := range opts {
		o(s)
	}
	s.relay = newRelay(hub, s, s.relayOpts)
	s.relay.coh = storeCoherence{st: st, bus: s.bus}
	return s
}

// Start connects the service to the bus: from now on it delivers the events
// every node commits, in id order, to this node's hub. Nothing may be
// published before.
func (s *Service) Start(ctx context.Context) error {
	if err := s.bus.Start(s.relay); err != nil {
		return fmt.Errorf("start the bus: %w", err)
	}
	// On PostgreSQL this node joins the nodes whose caches writes wait for
	// before its relay's first read of the newest id, which proves the cache
	// current.
	err := s.st.ShareCache(ctx, store.CacheSharing{Ready: s.bus.Ready, Publish: func(id int64, keys []string) {
		s.bus.PublishLog([]*Event{{ID: id, Type: EvInvalidated, Keys: keys}})
	}})
	if err != nil {
		return err
	}
	return s.relay.start(ctx)
}

// storeCoherence keeps the store's cache coherent with the other nodes'
// writes (PostgreSQL; store/shared.go).
type storeCoherence struct {
	st  *store.Store
	bus Bus
}

func (c storeCoherence) Invalidate(keys []string) { c.st.Cache().Invalidate(keys...) }
func (c storeCoherence) Applied(applied int64)    { c.bus.PublishApplied(c.st.Node(), applied) }
func (c storeCoherence) PeerApplied(node string, applied int64) {
	c.st.PeerApplied(node, applied)
}
func (c storeCoherence) Proven(at time.Time) { c.st.CacheProven(at) }
func (c storeCoherence) Lost()               { c.st.Cache().Distrust() }

// Option adds an optional part to the service.
type Option func(*Service)

// WithBus carries events between nodes over b (the default is in process),
// delivering them to this node's hub as opts say.
func WithBus(b Bus, opts RelayOptions) Option {
	return func(s *Service) {
		s.bus = b
		s.relayOpts = opts
	}
}

// WithSearch keeps idx in step with every message written, and searches it.
func WithSearch(idx MessageIndex) Option { return func(s *Service) { s.index = idx } }

// WithPresence says who has a live stream (a cluster's, across nodes); by
// default this node counts its own. Going offline is announced grace after
// the last stream closes, so a phone that reconnects does not flicker.
func WithPresence(p Presence, grace time.Duration) Option {
	return func(s *Service) {
		s.presence = p
		s.announce.grace = grace
	}
}

// WithFiles takes uploads into rooms and serves them to who may read there.
func WithFiles(f *files.Service) Option { return func(s *Service) { s.files = f } }

// WithNotifier tells n of every new message once it is durable (push).
func WithNotifier(n MessageNotifier) Option {
	return func(s *Service) { s.notifier = n }
}

// Close stops pending presence announcements.
func (s *Service) Close() { s.announce.stop() }

// StopRelay stops the relay reading the log (gaps, its periodic check); the
// bus still delivers to the hub what it brings.
func (s *Service) StopRelay() { s.relay.close() }

// Bus returns the bus events travel on.
func (s *Service) Bus() Bus { return s.bus }

// Presence returns who is online.
func (s *Service) Presence() Presence { return s.presence }

// Hub returns the live broadcaster.
func (s *Service) Hub() *Hub { return s.hub }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// roomRow is a room with the caller's membership, as listing queries return it.
type roomRow struct {
	store.Room
	MemberCount     int64
	MyRole          string
	LastReadSeq     int64
	MentionCount    int64
	MyNotifications string
}

// view renders the row; per-viewer extras (peer, last message) come from views.
func (r roomRow) view() RoomJSON {
	unread := int64(0)
	if r.MyRole != "" {
		unread = max(r.LastSeq-r.LastReadSeq, 0)
	}
	return RoomJSON{ID: r.ID, Kind: r.Kind, Name: r.Name, Topic: r.Topic, Visibility: r.Visibility, Archived: r.Archived,
		CreatedAt: r.CreatedAt.UTC(), MemberCount: r.MemberCount, MyRole: r.MyRole, LastSeq: r.LastSeq,
		Unread: unread, MentionCount: r.MentionCount, LastActivityAt: r.LastActivityAt.UTC(), Notifications: r.MyNotifications}
}

// roomColumns is a room with the caller's membership (joined as "me").
const roomColumns = `rooms.*, COALESCE(me.role, '') AS my_role, COALESCE(me.last_read_seq, 0) AS last_read_seq,
	COALESCE(me.notifications, '') AS my_notifications`

// memberCount counts a room's members; it is read only where a room is shown,
// never on the hot paths (posting, streaming) that merely check access.
const memberCount = `(SELECT COUNT(*) FROM room_members c WHERE c.room_id = rooms.id) AS member_count`

// mentionCount counts the caller's unread mentions (bound to the caller's id),
// read, like memberCount, only where a room is shown.
const mentionCount = `(SELECT COUNT(*) FROM message_mentions mm WHERE mm.room_id = rooms.id AND mm.user_id = ?
	AND mm.seq > COALESCE(me.last_read_seq, 0)) AS mention_count`

// roomFor loads a room of the principal's tenant with the principal's membership.
func (s *Service) roomFor(ctx context.Context, p auth.Principal, roomID string) (roomRow, error) {
	var row roomRow
	err := s.st.Read(ctx).Table("rooms").Select(roomColumns).
		Joins("LEFT JOIN room_members me ON me.room_id = rooms.id AND me.user_id = ?", p.Subject()).
		Where("rooms.id = ? AND rooms.tenant_id = ?", roomID, p.TenantID).Take(&row).Error
	return row, store.NotFound(err, "room")
}

// roomAccess is a room as access checks see it, with the caller's role there.
type roomAccess struct {
	roomMeta
	MyRole string
}

// access checks that the principal may do act in a room of their tenant,
// reading the room and the membership through the cache. A private room the
// principal does not belong to is reported as missing, never forbidden.
func (s *Service) access(ctx context.Context, p auth.Principal, roomID, act string) (roomAccess, error) {
	room, found, err := s.roomMetaByID(ctx, roomID)
	if err != nil {
		return roomAccess{}, err
	}
	if !found || room.TenantID != p.TenantID {
		return roomAccess{}, fault.New(fault.NotFound, "room not found")
	}
	row := roomAccess{roomMeta: room}
	if !p.IsKey() { // keys are never members
		if row.MyRole, err = s.memberRole(ctx, roomID, p.UserID); err != nil {
			return roomAccess{}, err
		}
	}
	if row.Kind == KindDM && row.MyRole == "" {
		// A conversation between two people: not even tenant admins or API
		// keys learn that it exists.
		return row, fault.New(fault.NotFound, "room not found")
	}
	if s.auth.CanInRoom(p, row.MyRole, act) {
		return row, nil
	}
	if row.Visibility == "public" && s.auth.Can(p, "room.join_public") {
		if act == "room.view" {
			return row, nil
		}
		return row, fault.New(fault.Forbidden, "you are not allowed to do this in this room")
	}
	// Members, and API keys (which see every room of their tenant), learn the
	// room exists; anyone else is told it does not.
	if row.MyRole != "" || p.IsKey() || s.auth.CanInRoom(p, row.MyRole, "room.view") {
		return row, fault.New(fault.Forbidden, "you are not allowed to do this in this room")
	}
	return row, fault.New(fault.NotFound, "room not found")
}

// NewRoom is a room to create.
type NewRoom struct {
	Name, Topic, Visibility string
}

func roomTarget(r store.Room) auth.Target { return auth.Target{Type: "room", ID: r.ID, Name: r.Name} }

func checkVisibility(v string) error {
	if v != "public" && v != "private" {
		return fault.Field("visibility", "must be public or private")
	}
	return nil
}

func checkRoomRole(role string) error {
	switch role {
	case RoleOwner, RoleModerator, RoleMember:
		return nil
	}
	return fault.Field("role", "must be owner, moderator or member")
}

// Create makes a room; a user creating it becomes its owner.
func (s *Service) Create(ctx context.Context, p auth.Principal, in NewRoom) (RoomJSON, error) {
	if err := s.auth.Require(p, "room.create"); err != nil {
		return RoomJSON{}, err
	}
	name, err := auth.CleanName("name", in.Name, maxRoomName, true)
	if err != nil {
		return RoomJSON{}, err
	}
	topic, err := auth.CleanName("topic", in.Topic, maxTopic, false)
	if err != nil {
		return RoomJSON{}, err
	}
	if in.Visibility == "" {
		in.Visibility = "public"
	}
	if err := checkVisibility(in.Visibility); err != nil {
		return RoomJSON{}, err
	}
	now := s.now()
	room := store.Room{ID: newID(), TenantID: p.TenantID, Kind: KindRoom, Name: name, Topic: topic, Visibility: in.Visibility,
		CreatedBy: p.Subject(), CreatedAt: now, LastActivityAt: now}
	quota := store.Quota{Limit: "rooms_per_tenant", Max: s.caps.RoomsPerTenant,
		Message: "this workspace has as many rooms as it may have; delete one first"}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		if err := tx.WithinQuota(quota, &store.Room{}, "tenant_id = ? AND kind = ?", p.TenantID, KindRoom); err != nil {
			return err
		}
		if err := tx.Create(&room).Error; err != nil {
			return err
		}
		if err := s.audit.Record(tx, p, "room.created", roomTarget(room), map[string]string{"visibility": room.Visibility}); err != nil {
			return err
		}
		if p.IsKey() {
			return nil
		}
		var creator store.User
		if err := tx.Where("id = ?", p.UserID).Take(&creator).Error; err != nil {
			return err
		}
		return s.addMember(tx, room.ID, room.TenantID, creator, RoleOwner, true)
	})
	if err != nil {
		return RoomJSON{}, err
	}
	return s.Get(ctx, p, room.ID)
}

// Get returns one room the principal may see.
func (s *Service) Get(ctx context.Context, p auth.Principal, roomID string) (RoomJSON, error) {
	if _, err := s.access(ctx, p, roomID, "room.view"); err != nil {
		return RoomJSON{}, err
	}
	row, err := s.roomFor(ctx, p, roomID)
	if err != nil {
		return RoomJSON{}, err
	}
	if err := s.st.Read(ctx).Model(&store.RoomMember{}).Where("room_id = ?", roomID).Count(&row.MemberCount).Error; err != nil {
		return RoomJSON{}, err
	}
	if row.MyRole != "" {
		err := s.st.Read(ctx).Model(&store.Mention{}).Where("room_id = ? AND user_id = ? AND seq > ?", roomID, p.UserID, row.LastReadSeq).
			Count(&row.MentionCount).Error
		if err != nil {
			return RoomJSON{}, err
		}
	}
	views, err := s.views(ctx, p, []roomRow{row})
	if err != nil {
		return RoomJSON{}, err
	}
	return views[0], nil
}

// Which rooms List returns.
const (
	ScopeMine   = "mine"   // the principal's rooms
	ScopePublic = "public" // public rooms the principal could join
	ScopeAll    = "all"    // every room of the tenant (tenant admins)
)

// List returns rooms of the principal's tenant, most recently active first.
func (s *Service) List(ctx context.Context, p auth.Principal, scope string) ([]RoomJSON, error) {
	act := "room.join_public"
	if scope == ScopeAll {
		act = "rooms.list_all"
	}
	if err := s.auth.Require(p, act); err != nil && !(p.IsKey() && scope != ScopeAll) {
		return nil, err
	}
	db := s.st.Read(ctx).Table("rooms").Select(roomColumns+", "+memberCount+", "+mentionCount, p.Subject()).Where("rooms.tenant_id = ?", p.TenantID)
	switch scope {
	case ScopePublic:
		db = db.Joins("LEFT JOIN room_members me ON me.room_id = rooms.id AND me.user_id = ?", p.Subject()).
			Where("rooms.visibility = 'public' AND rooms.archived = ? AND me.user_id IS NULL", false)
	case ScopeAll:
		// Every room, but not other people's direct messages.
		db = db.Joins("LEFT JOIN room_members me ON me.room_id = rooms.id AND me.user_id = ?", p.Subject()).
			Where("rooms.kind = ? OR me.user_id IS NOT NULL", KindRoom)
	default:
		db = db.Joins("JOIN room_members me ON me.room_id = rooms.id AND me.user_id = ?", p.Subject())
	}
	var rows []roomRow
	if err := db.Order("rooms.last_activity_at DESC, rooms.id").Limit(1000).Find(&rows).Error; err != nil {
		return nil, err
	}
	return s.views(ctx, p, rows)
}

// RoomChange is a PATCH of a room; nil fields stay as they are.
type RoomChange struct {
	Name, Topic, Visibility *string
	Archived                *bool
}

// Update renames, re-describes, changes visibility of, or archives a room.
func (s *Service) Update(ctx context.Context, p auth.Principal, roomID string, ch RoomChange) (RoomJSON, error) {
	row, err := s.access(ctx, p, roomID, "room.update")
	if err != nil {
		return RoomJSON{}, err
	}
	if row.Kind == KindDM {
		return RoomJSON{}, fault.New(fault.Conflict, "a direct message has no name, topic or visibility to change")
	}
	updates := map[string]any{}
	if ch.Name != nil {
		name, err := auth.CleanName("name", *ch.Name, maxRoomName, true)
		if err != nil {
			return RoomJSON{}, err
		}
		updates["name"] = name
	}
	if ch.Topic != nil {
		topic, err := auth.CleanName("topic", *ch.Topic, maxTopic, false)
		if err != nil {
			return RoomJSON{}, err
		}
		updates["topic"] = topic
	}
	if ch.Visibility != nil {
		if err := checkVisibility(*ch.Visibility); err != nil {
			return RoomJSON{}, err
		}
		updates["visibility"] = *ch.Visibility
	}
	if ch.Archived != nil {
		updates["archived"] = *ch.Archived
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		was, err := roomInWrite(tx, p.TenantID, roomID)
		if err != nil {
			return err
		}
		if len(updates) > 0 {
			if err := tx.Model(&store.Room{}).Where("id = ?", roomID).Updates(updates).Error; err != nil {
				return err
			}
			detail := map[string]string{}
			for k, v := range updates {
				detail[k] = fmt.Sprint(v)
			}
			if err := s.audit.Record(tx, p, "room.updated", roomTarget(was), detail); err != nil {
				return err
			}
		}
		tx.Invalidate(roomKey(roomID))
		return s.emitRoomUpdated(tx, roomID)
	})
	if err != nil {
		return RoomJSON{}, err
	}
	return s.Get(ctx, p, roomID)
}

// emitRoomUpdated logs and (after commit) broadcasts the room as it now is.
// Per-member fields (my_role, unread) are left empty in the shared event.
func (s *Service) emitRoomUpdated(tx *store.Tx, roomID string) error {
	var row roomRow
	if err := tx.Table("rooms").Select("rooms.*, "+memberCount).
		Where("id = ?", roomID).Take(&row).Error; err != nil {
		return err
	}
	_, err := s.emit(tx, &store.Event{TenantID: row.TenantID, RoomID: roomID, Type: EvRoomUpdated,
		Payload: string(mustJSON(roomPayload{Room: row.view()}))}, nil, "")
	return err
}

// Delete removes a room, its messages and memberships; its streams end.
func (s *Service) Delete(ctx context.Context, p auth.Principal, roomID string) error {
	if _, err := s.access(ctx, p, roomID, "room.delete"); err != nil {
		return err
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		room, err := roomInWrite(tx, p.TenantID, roomID)
		if err != nil {
			return err
		}
		var members []string
		if err := tx.Model(&store.RoomMember{}).Where("room_id = ?", roomID).Pluck("user_id", &members).Error; err != nil {
			return err
		}
		if err := tx.Where("room_id = ?", roomID).Delete(&store.Event{}).Error; err != nil {
			return err
		}
		if s.index != nil {
			if err := s.index.DropRoom(tx, roomID); err != nil {
				return err
			}
		}
		if s.files != nil {
			if err := s.files.TrashRoom(tx, roomID); err != nil {
				return err
			}
		}
		if err := tx.Delete(&room).Error; err != nil {
			return err
		}
		if err := s.audit.Record(tx, p, "room.deleted", roomTarget(room), nil); err != nil {
			return err
		}
		tx.Invalidate(roomKey(roomID))
		for _, uid := range members { // their rows went with the room
			tx.Invalidate(memberKey(roomID, uid))
		}
		// Each former member gets a room.deleted of their own in the log, so a
		// stream that resumes later still learns the room is gone.
		payload := string(mustJSON(gonePayload{RoomID: roomID, Reason: "deleted"}))
		for chunk := range slices.Chunk(members, 1000) { // within any database's bound on parameters
			evs := make([]loggedEvent, len(chunk))
			for i, uid := range chunk {
				evs[i] = loggedEvent{Event: store.Event{TenantID: p.TenantID, RoomID: roomID, Type: EvRoomDeleted, TargetUserID: uid, Payload: payload}}
			}
			if _, err := s.emitAll(tx, evs); err != nil {
				return err
			}
		}
		return nil
	})
}

// emit appends an event to the log and publishes it after commit. Message
// events are logged without payload (a replay renders the message as it is
// then) and sent live with payload. For member.joined, memberID names the
// user who joined.
func (s *Service) emit(tx *store.Tx, ev *store.Event, payload []byte, memberID string) (int64, error) {
	ids, err := s.emitAll(tx, []loggedEvent{{Event: *ev, payload: payload, memberID: memberID}})
	if err != nil {
		return 0, err
	}
	ev.ID, ev.CreatedAt = ids[0], s.now()
	return ev.ID, nil
}

// loggedEvent is an event to log, with what only its live frame carries.
type loggedEvent struct {
	store.Event
	payload   []byte // the live payload; Event.Payload when nil
	memberID  string
	sessionID string // session.revoked
	userID    string // user.disabled
}

// emitAll appends events to the log with one statement and publishes them,
// in this order, once the write has committed.
func (s *Service) emitAll(tx *store.Tx, evs []loggedEvent) ([]int64, error) {
	return appendLog(tx, s.bus, s.now(), evs)
}

// appendLog appends events to the log with one statement and publishes them
// on the bus, in this order, once the write has committed. Each frame is
// encoded once, here, for every subscriber on every node.
func appendLog(tx *store.Tx, bus Bus, now time.Time, evs []loggedEvent) ([]int64, error) {
	const row = "(?, ?, ?, ?, ?, ?, ?)"
	args := make([]any, 0, 7*len(evs))
	for _, e := range evs {
		args = append(args, e.TenantID, e.RoomID, e.Type, e.MessageID, e.TargetUserID, e.Payload, now)
	}
	rows, err := tx.QueryPrepared(`INSERT INTO events(tenant_id, room_id, type, message_id, target_user_id, payload, created_at)
		VALUES `+strings.TrimSuffix(strings.Repeat(row+", ", len(evs)), ", ")+` RETURNING id`, args...)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(evs))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) != len(evs) {
		return nil, fmt.Errorf("logged %d events, got %d ids", len(evs), len(ids))
	}
	slices.Sort(ids) // one statement numbers its rows in order
	live := make([]*Event, len(evs))
	for i, e := range evs {
		payload := e.payload
		if payload == nil {
			payload = []byte(e.Payload)
		}
		live[i] = &Event{ID: ids[i], RoomID: e.RoomID, Type: e.Type, TargetUserID: e.TargetUserID, MemberID: e.memberID,
			SessionID: e.sessionID, UserID: e.userID, Frame: encodeFrame(ids[i], e.Type, payload)}
	}
	tx.AfterCommit(func() { bus.PublishLog(live) })
	return ids, nil
}
