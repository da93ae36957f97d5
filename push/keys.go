package push

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Keys is a VAPID key pair, base64url without padding (as browsers take the
// public key as applicationServerKey).
type Keys struct {
	Public  string
	Private string
}

// LoadOrCreateKeys returns the configured VAPID private key's pair, or the one
// kept in dataDir, generating it (mode 0600) on first start so that devices'
// subscriptions keep working across restarts. Several nodes must share one
// configured key.
func LoadOrCreateKeys(configured, dataDir string) (Keys, error) {
	if configured != "" {
		k, err := keysFrom(configured)
		if err != nil {
			return Keys{}, fmt.Errorf("push_vapid_private_key: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(dataDir, "vapid.key")
	if raw, err := os.ReadFile(path); err == nil {
		k, err := keysFrom(strings.TrimSpace(string(raw)))
		if err != nil {
			return Keys{}, fmt.Errorf("VAPID key file %s is damaged: %w", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Keys{}, fmt.Errorf("read VAPID key: %w", err)
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return Keys{}, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("create data dir: %w", err)
	}
	encoded := base64.RawURLEncoding.EncodeToString(priv.Bytes())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Keys{}, fmt.Errorf("create VAPID key: %w", err)
	}
	if _, err := f.WriteString(encoded); err != nil {
		f.Close()
		return Keys{}, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Keys{}, err
	}
	if err := f.Close(); err != nil {
		return Keys{}, err
	}
	return keysFrom(encoded)
}

// keysFrom derives the pair from a base64url P-256 private key.
func keysFrom(private string) (Keys, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(private, "="))
	if err != nil {
		return Keys{}, errors.New("not base64url")
	}
	priv, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return Keys{}, errors.New("not a P-256 private key")
	}
	return Keys{
		Public:  base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Private: base64.RawURLEncoding.EncodeToString(raw),
	}, nil
}
