package rooms

import (
	"context"
	"time"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// MemberJSON is one membership as the API shows it. ReadSeq and Online are
// filled in the member list only.
type MemberJSON struct {
	User     auth.UserJSON `json:"user"`
	Role     string        `json:"role"`
	JoinedAt time.Time     `json:"joined_at"`
	ReadSeq  int64         `json:"read_seq"`
	Online   bool          `json:"online"`
}

// addMember inserts (joining) or re-roles a membership and logs
// member.joined. A user joining must fit the room's and their own caps.
func (s *Service) addMember(tx *store.Tx, roomID, tenantID string, user store.User, role string, joining bool) error {
	if joining {
		if err := s.withinMemberCaps(tx, roomID, user.ID); err != nil {
			return err
		}
	}
	m := store.RoomMember{RoomID: roomID, UserID: user.ID, TenantID: tenantID, Role: role, JoinedAt: s.now()}
	if err := upsertMember(tx, m); err != nil {
		return err
	}
	payload := string(mustJSON(memberPayload{RoomID: roomID, User: auth.ViewUser(user), Role: role}))
	if _, err := s.emit(tx, &store.Event{TenantID: tenantID, RoomID: roomID, Type: EvMemberJoined, Payload: payload}, nil, user.ID); err != nil {
		return err
	}
	if joining {
		// The room's members now share a room with the newcomer: tell them
		// whether they are online.
		tx.AfterCommit(func() {
			if s.presence.Online(user.ID) {
				ev := ephemeral(EvPresence, presencePayload{UserID: user.ID, Online: true})
				ev.RoomID, ev.SkipUserID = roomID, user.ID
				s.bus.PublishLive(ev)
			}
		})
	}
	return nil
}

func (s *Service) withinMemberCaps(tx *store.Tx, roomID, userID string) error {
	perRoom := store.Quota{Limit: "members_per_room", Max: s.caps.MembersPerRoom,
		Message: "this room has as many members as it may have"}
	if err := tx.WithinQuota(perRoom, &store.RoomMember{}, "room_id = ?", roomID); err != nil {
		return err
	}
	perUser := store.Quota{Limit: "rooms_per_user", Max: s.caps.RoomsPerUser,
		Message: "this user is in as many rooms as one may be; leave one first"}
	return tx.WithinQuota(perUser, &store.RoomMember{}, "user_id = ?", userID)
}

// Join adds the caller to a public room.
func (s *Service) Join(ctx context.Context, p auth.Principal, roomID string) (RoomJSON, error) {
	row, err := s.access(ctx, p, roomID, "room.view")
	if err != nil {
		return RoomJSON{}, err
	}
	if p.IsKey() {
		return RoomJSON{}, fault.New(fault.Forbidden, "an API key cannot join rooms; add users instead")
	}
	if row.MyRole != "" {
		return s.Get(ctx, p, roomID)
	}
	if row.Visibility != "public" || !s.auth.Can(p, "room.join_public") {
		return RoomJSON{}, fault.New(fault.Forbidden, "only public rooms can be joined")
	}
	if row.Archived {
		return RoomJSON{}, fault.New(fault.Forbidden, "this room is archived")
	}
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		var user store.User
		if err := tx.Where("id = ?", p.UserID).Take(&user).Error; err != nil {
			return err
		}
		return s.addMember(tx, row.ID, row.TenantID, user, RoleMember, true)
	})
	if err != nil {
		return RoomJSON{}, err
	}
	return s.Get(ctx, p, roomID)
}

// Members lists a room's members.
func (s *Service) Members(ctx context.Context, p auth.Principal, roomID string) ([]MemberJSON, error) {
	if _, err := s.access(ctx, p, roomID, "members.view"); err != nil {
		return nil, err
	}
	var rows []struct {
		store.User
		MemberRole string
		JoinedAt   time.Time
		ReadSeq    int64
	}
	err := s.st.Read(ctx).Table("room_members").
		Select("users.*, room_members.role AS member_role, room_members.joined_at AS joined_at, room_members.last_read_seq AS read_seq").
		Joins("JOIN users ON users.id = room_members.user_id").
		Where("room_members.room_id = ?", roomID).Order("users.username COLLATE NOCASE").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]MemberJSON, len(rows))
	for i, r := range rows {
		out[i] = MemberJSON{User: auth.ViewUser(r.User), Role: r.MemberRole, JoinedAt: r.JoinedAt.UTC(),
			ReadSeq: r.ReadSeq, Online: s.presence.Online(r.ID)}
	}
	return out, nil
}

// SetMember adds a user to a room or changes their role. Moderators may add
// and remove plain members; owners and tenant admins may set any role.
func (s *Service) SetMember(ctx context.Context, p auth.Principal, roomID, userID, role string) (MemberJSON, error) {
	if err := checkRoomRole(role); err != nil {
		return MemberJSON{}, err
	}
	if row, err := s.access(ctx, p, roomID, "room.view"); err == nil && row.Kind == KindDM {
		return MemberJSON{}, fault.New(fault.Conflict, "nobody can be added to a direct message")
	}
	row, err := s.access(ctx, p, roomID, "members.manage")
	if err != nil {
		return MemberJSON{}, err
	}
	mayRole := s.auth.CanInRoom(p, row.MyRole, "members.set_role")
	var out MemberJSON
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		var user store.User
		if err := tx.Where("id = ? AND tenant_id = ? AND is_bot = ?", userID, p.TenantID, false).Take(&user).Error; err != nil {
			return store.NotFound(err, "user")
		}
		if user.Disabled {
			return fault.New(fault.Conflict, "the user is disabled")
		}
		var current store.RoomMember
		err := tx.Where("room_id = ? AND user_id = ?", roomID, userID).Take(&current).Error
		if err != nil && !store.IsNotFound(err) {
			return err
		}
		if !mayRole && (role != RoleMember || (current.Role != "" && current.Role != RoleMember)) {
			return fault.New(fault.Forbidden, "only a room owner or tenant admin may set this role")
		}
		out = MemberJSON{User: auth.ViewUser(user), Role: role, JoinedAt: s.now()}
		if current.Role == role {
			out.JoinedAt = current.JoinedAt.UTC()
			return nil
		}
		if current.Role != "" {
			out.JoinedAt = current.JoinedAt.UTC()
		}
		if err := s.addMember(tx, row.ID, row.TenantID, user, role, current.Role == ""); err != nil {
			return err
		}
		room, err := roomInWrite(tx, p.TenantID, roomID)
		if err != nil {
			return err
		}
		if current.Role == "" {
			return s.audit.Record(tx, p, "member.added", auth.UserTarget(user), memberDetail(room, "role", role))
		}
		return s.audit.Record(tx, p, "member.role_changed", auth.UserTarget(user), memberDetail(room, "from", current.Role, "to", role))
	})
	return out, err
}

// memberDetail is an audit entry's detail about a membership: the room, and
// the given pairs of names and values.
func memberDetail(room store.Room, pairs ...string) map[string]string {
	d := map[string]string{"room_id": room.ID, "room": room.Name}
	for i := 0; i+1 < len(pairs); i += 2 {
		d[pairs[i]] = pairs[i+1]
	}
	return d
}

// RemoveMember takes a user out of a room (or lets them leave). Their delivery
// from the room stops at once: they get room.left and nothing after.
func (s *Service) RemoveMember(ctx context.Context, p auth.Principal, roomID, userID string) error {
	self := !p.IsKey() && p.UserID == userID
	act := "members.manage"
	if self {
		act = "room.view"
	}
	row, err := s.access(ctx, p, roomID, act)
	if err != nil {
		return err
	}
	mayRole := s.auth.CanInRoom(p, row.MyRole, "members.set_role")
	return s.st.Write(ctx, func(tx *store.Tx) error {
		var current store.RoomMember
		if err := tx.Where("room_id = ? AND user_id = ? AND tenant_id = ?", roomID, userID, p.TenantID).Take(&current).Error; err != nil {
			return store.NotFound(err, "member")
		}
		if !self && !mayRole && current.Role != RoleMember {
			return fault.New(fault.Forbidden, "only a room owner or tenant admin may remove an owner or moderator")
		}
		var user store.User
		if err := tx.Where("id = ?", userID).Take(&user).Error; err != nil {
			return err
		}
		if err := deleteMember(tx, roomID, userID); err != nil {
			return err
		}
		reason := "left"
		if !self {
			reason = "removed"
			room, err := roomInWrite(tx, p.TenantID, roomID)
			if err != nil {
				return err
			}
			if err := s.audit.Record(tx, p, "member.removed", auth.UserTarget(user), memberDetail(room, "role", current.Role)); err != nil {
				return err
			}
		}
		left := string(mustJSON(memberPayload{RoomID: roomID, User: auth.ViewUser(user), Role: current.Role}))
		if _, err := s.emit(tx, &store.Event{TenantID: p.TenantID, RoomID: roomID, Type: EvMemberLeft, Payload: left}, nil, ""); err != nil {
			return err
		}
		gone := string(mustJSON(gonePayload{RoomID: roomID, Reason: reason}))
		_, err := s.emit(tx, &store.Event{TenantID: p.TenantID, RoomID: roomID, Type: EvRoomLeft, TargetUserID: userID, Payload: gone}, nil, "")
		return err
	})
}

// MarkRead moves the caller's read marker forward to seq.
func (s *Service) MarkRead(ctx context.Context, p auth.Principal, roomID string, seq int64) error {
	row, err := s.access(ctx, p, roomID, "room.read")
	if err != nil {
		return err
	}
	if row.MyRole == "" {
		return fault.New(fault.Forbidden, "you are not a member of this room")
	}
	var room store.Room
	if err := s.st.Read(ctx).Select("last_seq").Where("id = ?", roomID).Take(&room).Error; err != nil {
		return store.NotFound(err, "room")
	}
	if seq < 0 || seq > room.LastSeq {
		return fault.Field("seq", "must be between 0 and the room's last_seq")
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		res := tx.Model(&store.RoomMember{}).Where("room_id = ? AND user_id = ? AND last_read_seq < ?", roomID, p.UserID, seq).
			Update("last_read_seq", seq)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		// The room's live members (the reader's other devices too) see it.
		ev := ephemeral(EvRead, readPayload{RoomID: roomID, UserID: p.UserID, Seq: seq})
		ev.RoomID = roomID
		tx.AfterCommit(func() { s.bus.PublishLive(ev) })
		return nil
	})
}

// SetNotifications sets which new messages of the room notify the caller.
func (s *Service) SetNotifications(ctx context.Context, p auth.Principal, roomID, level string) error {
	switch level {
	case NotifyAll, NotifyMentions, NotifyNone:
	default:
		return fault.Field("level", "must be all, mentions or none")
	}
	row, err := s.access(ctx, p, roomID, "room.read")
	if err != nil {
		return err
	}
	if p.IsKey() || row.MyRole == "" {
		return fault.New(fault.Forbidden, "you are not a member of this room")
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		return tx.Model(&store.RoomMember{}).Where("room_id = ? AND user_id = ?", roomID, p.UserID).
			Update("notifications", level).Error
	})
}
