package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"strings"

	"github.com/google/uuid"

	"parley/auth"
	"parley/internal/fault"
	"parley/store"
)

// NewSubscription is a device's push subscription, as PushManager gives it.
type NewSubscription struct {
	Endpoint string
	P256dh   string
	Auth     string
}

// Subscribe registers the caller's device for pushes, with the caller's
// login: logging out ends it. An endpoint registered again (the same browser
// subscribing anew, or another person logging in on it) moves to this login;
// a user past the limit loses their oldest subscription.
func (s *Service) Subscribe(ctx context.Context, p auth.Principal, in NewSubscription) (string, error) {
	if p.IsKey() {
		return "", fault.New(fault.Forbidden, "an API key has no devices to push to")
	}
	if err := checkEndpoint(ctx, in.Endpoint, s.opts.AllowPrivate); err != nil {
		return "", fault.Field("endpoint", err.Error())
	}
	pub, err := decodeKey(in.P256dh)
	if err != nil {
		return "", fault.Field("keys.p256dh", "must be the subscription's P-256 public key, base64url")
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return "", fault.Field("keys.p256dh", "must be the subscription's P-256 public key, base64url")
	}
	if secret, err := decodeKey(in.Auth); err != nil || len(secret) != 16 {
		return "", fault.Field("keys.auth", "must be the subscription's 16-byte auth secret, base64url")
	}
	sub := store.PushSubscription{ID: uuid.Must(uuid.NewV7()).String(), TenantID: p.TenantID, UserID: p.UserID,
		SessionID: p.SessionID, Endpoint: in.Endpoint, P256dh: in.P256dh, Auth: in.Auth, CreatedAt: s.now()}
	err = s.st.Write(ctx, func(tx *store.Tx) error { return insertSubscription(tx, sub, s.opts.MaxPerUser) })
	return sub.ID, err
}

// Unsubscribe removes one of the caller's subscriptions.
func (s *Service) Unsubscribe(ctx context.Context, p auth.Principal, id string) error {
	if p.IsKey() {
		return fault.New(fault.Forbidden, "an API key has no devices to push to")
	}
	return s.st.Write(ctx, func(tx *store.Tx) error {
		n, err := deleteUsersSubscription(tx, p.UserID, id)
		if err == nil && n == 0 {
			err = fault.New(fault.NotFound, "subscription not found")
		}
		return err
	})
}

// LoginsEnded removes the subscriptions of logins that end (auth.LoginEnder),
// in the same transaction.
func (s *Service) LoginsEnded(tx *store.Tx, userID string, sessionIDs []string) error {
	return deleteSessionsSubscriptions(tx, userID, sessionIDs)
}

// decodeKey reads base64url (as browsers give keys), with or without padding.
func decodeKey(s string) ([]byte, error) {
	if len(s) > 256 {
		return nil, base64.CorruptInputError(256)
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
