package limit

import "context"

// Renew is one renewal as Run makes it every third of a lease.
func (s *Shared) Renew(ctx context.Context) error { return s.renew(ctx) }
