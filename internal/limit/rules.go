package limit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"parley/internal/fault"
)

// Names of Parley's limits, as /metrics labels its refusals.
const (
	LoginAccount = "login_account"
	LoginIP      = "login_ip"
	SignupIP     = "signup_ip"
	TenantIP     = "tenant_ip"
	PostUser     = "post_user"
	PostKey      = "post_key"
	RoomUser     = "room_user"
	RoomKey      = "room_key"
	RoomsPerHour = "rooms_per_hour"
	TypingUser   = "typing_user"
	UploadUser   = "upload_user"
	SearchUser   = "search_user"
)

// Rates are the configured rates of Parley's limits; a zero Rate is no limit.
type Rates struct {
	LoginAccount, LoginIP, SignupIP, TenantIP Rate
	PostUser, PostKey, RoomUser, RoomKey      Rate
	RoomsPerHour                              int // per user, in any hour
	TypingUser                                Rate
	UploadUser, SearchUser                    Rate
}

type rules struct {
	loginAccount, loginIP, signupIP, tenantIP Rule
	postUser, postKey, roomUser, roomKey      Rule
	roomsPerHour                              Rule
	typingUser                                Rule
	uploadUser, searchUser                    Rule
}

func (r Rates) rules() rules {
	return rules{
		loginAccount: Rule{Name: LoginAccount, Rate: r.LoginAccount, What: "log-in attempts for this account"},
		loginIP:      Rule{Name: LoginIP, Rate: r.LoginIP, What: "log-in attempts from this address"},
		signupIP:     Rule{Name: SignupIP, Rate: r.SignupIP, What: "sign-ups from this address"},
		tenantIP:     Rule{Name: TenantIP, Rate: r.TenantIP, What: "new workspaces from this address"},
		postUser:     Rule{Name: PostUser, Rate: r.PostUser, What: "messages"},
		postKey:      Rule{Name: PostKey, Rate: r.PostKey, What: "messages from this key"},
		roomUser:     Rule{Name: RoomUser, Rate: r.RoomUser, What: "new rooms"},
		roomKey:      Rule{Name: RoomKey, Rate: r.RoomKey, What: "new rooms from this key"},
		roomsPerHour: Rule{Name: RoomsPerHour, Rate: Rate{N: r.RoomsPerHour, Per: time.Hour}, Window: true,
			What: "new rooms this hour"},
		typingUser: Rule{Name: TypingUser, Rate: r.TypingUser, What: "typing notices"},
		uploadUser: Rule{Name: UploadUser, Rate: r.UploadUser, What: "uploads"},
		searchUser: Rule{Name: SearchUser, Rate: r.SearchUser, What: "searches"},
	}
}

// Caller is who a per-caller limit counts: a user, or an API key (which
// serves many users, so it may be given more).
type Caller struct {
	ID    string
	IsKey bool
}

// Every method below counts one action, or refuses it with a RateLimited
// error; refund gives the action back, for one that turned out not to count.

// accountKey names an account unambiguously, as text PostgreSQL stores
// (which refuses a NUL byte, whatever a client sends).
func accountKey(tenant, username string) string {
	return strconv.Quote(tenant) + " " + strconv.Quote(strings.ToLower(username))
}

// StartLogin counts a log-in attempt against its account (tenant and
// username, in any case) and its client IP while the password is checked, so
// parallel guesses meet the limit as serial ones do. Only failures should
// keep counting: refund a right password.
func (l *Limiter) StartLogin(ctx context.Context, tenant, username, ip string) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.loginAccount, Key: accountKey(tenant, username)},
		Check{Rule: l.rules.loginIP, Key: IPKey(ip)})
}

// Signup counts a sign-up from a client IP (each one costs a password hash).
func (l *Limiter) Signup(ctx context.Context, ip string) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.signupIP, Key: IPKey(ip)})
}

// CreateTenant counts a new tenant from a client IP.
func (l *Limiter) CreateTenant(ctx context.Context, ip string) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.tenantIP, Key: IPKey(ip)})
}

// Post counts a message posted by a user or a key.
func (l *Limiter) Post(ctx context.Context, c Caller) (refund func(), err error) {
	return l.PostMany(ctx, c, 1)
}

// PostMany counts n messages posted at once (a batch): all of them, or none.
// More than the caller's whole burst could never pass, so that is refused
// as a bad request rather than with a wait that would not help.
func (l *Limiter) PostMany(ctx context.Context, c Caller, n int) (refund func(), err error) {
	rule := l.rules.postUser
	if c.IsKey {
		rule = l.rules.postKey
	}
	if !rule.Rate.Off() && n > rule.Rate.N {
		return nil, fault.Field("messages", fmt.Sprintf("at most %d at once: the posting limit (%s) allows no more", rule.Rate.N, rule.Rate))
	}
	checks := make([]Check, n)
	for i := range checks {
		checks[i] = Check{Rule: rule, Key: c.ID}
	}
	return l.take(ctx, checks...)
}

// CreateRoom counts a room created by a user (a bucket and an hourly cap)
// or a key (a bucket).
func (l *Limiter) CreateRoom(ctx context.Context, c Caller) (refund func(), err error) {
	if c.IsKey {
		return l.take(ctx, Check{Rule: l.rules.roomKey, Key: c.ID})
	}
	return l.take(ctx, Check{Rule: l.rules.roomUser, Key: c.ID}, Check{Rule: l.rules.roomsPerHour, Key: c.ID})
}

// Typing counts a "typing" notice of a user (each is fanned out to a room).
func (l *Limiter) Typing(ctx context.Context, c Caller) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.typingUser, Key: c.ID})
}

// Upload counts a file uploaded by a user or a key.
func (l *Limiter) Upload(ctx context.Context, c Caller) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.uploadUser, Key: c.ID})
}

// Search counts a search by a user or a key (each reads an index).
func (l *Limiter) Search(ctx context.Context, c Caller) (refund func(), err error) {
	return l.take(ctx, Check{Rule: l.rules.searchUser, Key: c.ID})
}

// take is Take with a function that refunds what it took.
func (l *Limiter) take(ctx context.Context, checks ...Check) (refund func(), err error) {
	if err := l.Take(ctx, checks...); err != nil {
		return nil, err
	}
	return func() { l.Refund(context.WithoutCancel(ctx), checks...) }, nil
}
