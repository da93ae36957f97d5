package limit

import (
	"context"
	"time"
)

// The statements of the shared store: portable SQL (SQLite and PostgreSQL),
// each committing on its own, each touching the rows of one key. Times are
// Unix microseconds; the tables are created by store's migrations.
//
// A token bucket is kept as its theoretical arrival time (GCRA): tat is when
// the bucket will be full again, each action moves it on by Per/N, and an
// action is allowed while tat stays within Per of now. One number per key,
// spent by one conditional upsert, and a row whose tat has passed is a full
// bucket that may go.

// spendToken takes one token of key's bucket, if it has one left.
func spendToken(ctx context.Context, db SQL, name, key string, rate Rate, now time.Time) (bool, error) {
	per, perToken, at := rate.Per.Microseconds(), rate.Per.Microseconds()/int64(rate.N), now.UnixMicro()
	n, err := db.Exec(ctx, `INSERT INTO limit_buckets(name, subject, tat) VALUES (?, ?, ?)
		ON CONFLICT(name, subject) DO UPDATE SET
			tat = (CASE WHEN limit_buckets.tat > ? THEN limit_buckets.tat ELSE ? END) + ?
		WHERE limit_buckets.tat <= ?`,
		name, key, at+perToken, at, at, perToken, at+per-perToken)
	return n == 1, err
}

// tokenWait is how long until key's bucket has a token again.
func tokenWait(ctx context.Context, db SQL, name, key string, rate Rate, now time.Time) (time.Duration, error) {
	var tat int64
	if err := db.QueryRow(ctx, `SELECT tat FROM limit_buckets WHERE name = ? AND subject = ?`, name, key).Scan(&tat); err != nil {
		return 0, err
	}
	perToken := rate.Per.Microseconds() / int64(rate.N)
	return time.Duration(tat+perToken-rate.Per.Microseconds()-now.UnixMicro()) * time.Microsecond, nil
}

// refundToken gives one token back to key's bucket. (A full bucket's tat is
// in the past, where one more token changes nothing: the next action starts
// again from now.)
func refundToken(ctx context.Context, db SQL, name, key string, rate Rate) error {
	_, err := db.Exec(ctx, `UPDATE limit_buckets SET tat = tat - ? WHERE name = ? AND subject = ?`,
		rate.Per.Microseconds()/int64(rate.N), name, key)
	return err
}

// slot is one counted place of a key: a window's action or a lease.
type slot struct {
	n       int
	expires int64
}

// liveSlots lists key's slots that have not expired.
func liveSlots(ctx context.Context, db SQL, name, key string, now int64) ([]slot, error) {
	rows, err := db.Query(ctx, `SELECT slot, expires_at FROM limit_leases WHERE name = ? AND subject = ? AND expires_at > ?`, name, key, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var live []slot
	for rows.Next() {
		var s slot
		if err := rows.Scan(&s.n, &s.expires); err != nil {
			return nil, err
		}
		live = append(live, s)
	}
	return live, rows.Err()
}

// claimSlot takes slot n of key for holder until expires, if the slot is
// free or has expired; false if another claim holds it.
func claimSlot(ctx context.Context, db SQL, name, key string, n int, holder string, expires, now int64) (bool, error) {
	count, err := db.Exec(ctx, `INSERT INTO limit_leases(name, subject, slot, holder, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(name, subject, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE limit_leases.expires_at <= ?`,
		name, key, n, holder, expires, now)
	return count == 1, err
}

// dropLatestSlot gives back key's most recently taken slot (a window's last action).
func dropLatestSlot(ctx context.Context, db SQL, name, key string) error {
	_, err := db.Exec(ctx, `DELETE FROM limit_leases WHERE name = ? AND subject = ? AND slot =
		(SELECT slot FROM limit_leases WHERE name = ? AND subject = ? ORDER BY expires_at DESC LIMIT 1)`,
		name, key, name, key)
	return err
}

// releaseSlot gives back one of holder's slots of key.
func releaseSlot(ctx context.Context, db SQL, name, key, holder string) error {
	_, err := db.Exec(ctx, `DELETE FROM limit_leases WHERE name = ? AND subject = ? AND slot =
		(SELECT MIN(slot) FROM limit_leases WHERE name = ? AND subject = ? AND holder = ?)`,
		name, key, name, key, holder)
	return err
}

// releaseHolder gives back every slot holder holds.
func releaseHolder(ctx context.Context, db SQL, holder string) error {
	_, err := db.Exec(ctx, `DELETE FROM limit_leases WHERE holder = ?`, holder)
	return err
}

// renewLeases moves the expiry of every lease holder holds to expires.
func renewLeases(ctx context.Context, db SQL, holder string, expires int64) error {
	_, err := db.Exec(ctx, `UPDATE limit_leases SET expires_at = ? WHERE holder = ?`, expires, holder)
	return err
}

// sweep deletes what counts for nothing any more: expired slots and full buckets.
func sweep(ctx context.Context, db SQL, now int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM limit_leases WHERE expires_at <= ?`, now); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `DELETE FROM limit_buckets WHERE tat <= ?`, now)
	return err
}
