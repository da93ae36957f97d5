package rooms

import (
	"time"

	"parley/auth"
	"parley/store"
)

// Revocations is auth.Revoker: it logs the end of a login or of a user's
// access inside the write that ends it, so that every node's relay ends the
// open streams concerned in commit order, and a lost bus message is recovered
// from the log like any other event.
type Revocations struct {
	bus Bus
	now func() time.Time
}

// NewRevocations logs revocations and publishes account changes on bus.
func NewRevocations(bus Bus) *Revocations {
	return &Revocations{bus: bus, now: func() time.Time { return time.Now().UTC() }}
}

// SessionRevoked ends the login's streams once tx commits.
func (r *Revocations) SessionRevoked(tx *store.Tx, sessionID string) error {
	return r.log(tx, loggedEvent{Event: store.Event{Type: EvSessionRevoked,
		Payload: string(mustJSON(revokedPayload{SessionID: sessionID}))}, sessionID: sessionID})
}

// UserDisabled ends every stream of the user once tx commits.
func (r *Revocations) UserDisabled(tx *store.Tx, userID string) error {
	return r.log(tx, loggedEvent{Event: store.Event{Type: EvUserDisabled,
		Payload: string(mustJSON(revokedPayload{UserID: userID}))}, userID: userID})
}

func (r *Revocations) log(tx *store.Tx, ev loggedEvent) error {
	_, err := appendLog(tx, r.bus, r.now(), []loggedEvent{ev})
	return err
}

// UserUpdated tells the user's own live streams, on every node, that their
// account changed: a new role or name reaches their open apps at once.
func (r *Revocations) UserUpdated(user auth.UserJSON) {
	ev := ephemeral(EvUserUpdated, userPayload{User: user})
	ev.TargetUserID = user.ID
	r.bus.PublishLive(ev)
}
