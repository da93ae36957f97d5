package testkit

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"parley/config"
	"parley/internal/testkit/pgtest"
)

// ClusterKeys are the secrets every node of one cluster must be given: a
// JWT key (hex) and a VAPID private key (base64url P-256).
func ClusterKeys(t testing.TB) (jwtKey, vapidKey string) {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	vapid, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(vapid.Bytes())
}

// Cluster starts what the nodes of one test cluster share: a fresh
// PostgreSQL database and a NATS server of the test's own (which the test
// may stop and start). The option gives a node's config the database, the
// bus and the shared keys; pass it to every Start of the cluster.
func Cluster(t testing.TB) (*NATS, func(*config.Config)) {
	t.Helper()
	db := pgtest.Fresh(t)
	n := StartNATS(t)
	jwtKey, vapidKey := ClusterKeys(t)
	return n, func(c *config.Config) {
		c.DatabaseURL, c.NATSURL = db, n.URL
		c.JWTKey, c.PushVAPIDPrivateKey = jwtKey, vapidKey
	}
}
