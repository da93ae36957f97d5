package rooms

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// dmKey names the pair of users of a direct message, the same whoever starts it.
func dmKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + ":" + b
}

// dmPeer is the other user of a direct message, read from its key (so it is
// known even after that person has left).
func dmPeer(key, me string) string {
	a, b, _ := strings.Cut(key, ":")
	if a == me {
		return b
	}
	return a
}

var errDMExists = errors.New("the direct message exists")

// OpenDM returns the direct message between the caller and userID, creating it
// (created=true) the first time. Either person who had left it is back in it.
func (s *Service) OpenDM(ctx context.Context, p auth.Principal, userID string) (RoomJSON, bool, error) {
	if p.IsKey() {
		return RoomJSON{}, false, fault.New(fault.Forbidden, "an API key cannot start direct messages")
	}
	if userID == "" {
		return RoomJSON{}, false, fault.Field("user_id", "is required")
	}
	if userID == p.UserID {
		return RoomJSON{}, false, fault.Field("user_id", "must be someone else")
	}
	if err := s.auth.Require(p, "room.create"); err != nil {
		return RoomJSON{}, false, err
	}
	var peer store.User
	err := s.st.Read(ctx).Where("id = ? AND tenant_id = ? AND is_bot = ?", userID, p.TenantID, false).Take(&peer).Error
	if err != nil {
		return RoomJSON{}, false, store.NotFound(err, "user")
	}
	if peer.Disabled {
		return RoomJSON{}, false, fault.New(fault.Conflict, "the user is disabled")
	}
	key := dmKey(p.UserID, userID)
	var roomID string
	created := false
	err = s.st.Write(ctx, func(tx *store.Tx) error {
		var room store.Room
		err := tx.Where("tenant_id = ? AND dm_key = ?", p.TenantID, key).Take(&room).Error
		if err != nil && !store.IsNotFound(err) {
			return err
		}
		if err == nil {
			roomID = room.ID
			return s.rejoinDM(tx, room, []string{p.UserID, userID})
		}
		now := s.now()
		room = store.Room{ID: newID(), TenantID: p.TenantID, Kind: KindDM, DMKey: key, Visibility: "private",
			CreatedBy: p.UserID, CreatedAt: now, LastActivityAt: now}
		if err := tx.Create(&room).Error; err != nil {
			if store.IsUniqueViolation(err) {
				return errDMExists // another node created it first
			}
			return err
		}
		roomID, created = room.ID, true
		return s.rejoinDM(tx, room, []string{p.UserID, userID})
	})
	if errors.Is(err, errDMExists) {
		return s.OpenDM(ctx, p, userID)
	}
	if err != nil {
		return RoomJSON{}, false, err
	}
	room, err := s.Get(ctx, p, roomID)
	return room, created, err
}

// rejoinDM makes sure both people are members of their direct message.
func (s *Service) rejoinDM(tx *store.Tx, room store.Room, userIDs []string) error {
	var present []string
	if err := tx.Model(&store.RoomMember{}).Where("room_id = ?", room.ID).Pluck("user_id", &present).Error; err != nil {
		return err
	}
	for _, id := range userIDs {
		if slices.Contains(present, id) {
			continue
		}
		var user store.User
		if err := tx.Where("id = ?", id).Take(&user).Error; err != nil {
			return err
		}
		if err := s.addMember(tx, room.ID, room.TenantID, user, RoleMember, true); err != nil {
			return err
		}
	}
	return nil
}

// views renders rooms for the principal: each with its last message and,
// for direct messages, the other person (whose name is the room's name).
func (s *Service) views(ctx context.Context, p auth.Principal, rows []roomRow) ([]RoomJSON, error) {
	out := make([]RoomJSON, len(rows))
	var withMessages []string
	peers := map[string]string{} // room id → peer's user id
	for i, r := range rows {
		out[i] = r.view()
		if r.LastSeq > 0 {
			withMessages = append(withMessages, r.ID)
		}
		if r.Kind == KindDM {
			peers[r.ID] = dmPeer(r.DMKey, p.Subject())
		}
	}
	last, err := s.lastMessages(ctx, withMessages)
	if err != nil {
		return nil, err
	}
	users, err := s.usersByID(ctx, slices.Collect(maps.Values(peers)))
	if err != nil {
		return nil, err
	}
	for i := range out {
		if m, ok := last[out[i].ID]; ok {
			out[i].LastMessage = &m
		}
		if peerID, ok := peers[out[i].ID]; ok {
			if u, ok := users[peerID]; ok {
				out[i].Peer = &PeerJSON{UserJSON: auth.ViewUser(u), Online: s.presence.Online(u.ID)}
				out[i].Name = u.DisplayName
			}
		}
	}
	return out, nil
}

// lastMessages returns the newest message of each room, by room id.
func (s *Service) lastMessages(ctx context.Context, roomIDs []string) (map[string]MessageJSON, error) {
	out := map[string]MessageJSON{}
	if len(roomIDs) == 0 {
		return out, nil
	}
	var msgs []store.Message
	err := s.st.Read(ctx).Table("messages").Select("messages.*").
		Joins("JOIN rooms ON rooms.id = messages.room_id AND messages.seq = rooms.last_seq").
		Where("messages.room_id IN ?", roomIDs).Find(&msgs).Error
	if err != nil {
		return nil, err
	}
	rendered, err := renderMessages(s.st.Read(ctx), msgs)
	if err != nil {
		return nil, err
	}
	for _, m := range rendered {
		out[m.RoomID] = m
	}
	return out, nil
}

func (s *Service) usersByID(ctx context.Context, ids []string) (map[string]store.User, error) {
	out := make(map[string]store.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var users []store.User
	if err := s.st.Read(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, err
	}
	for _, u := range users {
		out[u.ID] = u
	}
	return out, nil
}
