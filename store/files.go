package store

import (
	"errors"
	"fmt"
	"os"
)

// ownerOnly keeps the database file and its -wal and -shm companions
// readable by the server's own user only (0600), whatever the umask: the file
// is created so before SQLite opens it (SQLite gives its companions the
// file's mode), and files left looser by an older version are tightened.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restrict %s to its owner: %w", p, err)
		}
	}
	return nil
}
