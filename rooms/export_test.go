package rooms

import (
	"context"

	"parley/auth"
)

// Access exposes the access check to the benchmarks of package rooms_test.
func Access(s *Service, ctx context.Context, p auth.Principal, roomID, act string) error {
	_, err := s.access(ctx, p, roomID, act)
	return err
}
