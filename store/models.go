package store

import "time"

// The rows Parley keeps. Tables are created by the versioned migrations in
// migrations.go, not by GORM's AutoMigrate, so every schema change is explicit.

type Tenant struct {
	ID           string `gorm:"primaryKey"`
	Slug         string
	Name         string
	SignupPolicy string
	CreatedAt    time.Time
}

type User struct {
	ID           string `gorm:"primaryKey"`
	TenantID     string
	Username     string
	DisplayName  string
	PasswordHash string
	Role         string
	Disabled     bool
	IsBot        bool
	CreatedAt    time.Time
}

// Session is one login: the refresh tokens it issues and the access tokens that name it.
type Session struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

type RefreshToken struct {
	Hash      string `gorm:"primaryKey"`
	SessionID string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Invite is a sign-up code, stored as its hash and a short public prefix.
type Invite struct {
	Hash      string `gorm:"primaryKey"`
	TenantID  string
	Prefix    string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	MaxUses   int
	Uses      int
}

type APIKey struct {
	ID         string `gorm:"primaryKey"`
	TenantID   string
	Name       string
	Prefix     string
	Hash       string
	Scopes     string // comma-separated
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func (APIKey) TableName() string { return "api_keys" }

type Room struct {
	ID             string `gorm:"primaryKey"`
	TenantID       string
	Name           string
	Topic          string
	Visibility     string
	Archived       bool
	LastSeq        int64
	CreatedBy      string
	CreatedAt      time.Time
	LastActivityAt time.Time
	Kind           string // "room", or "dm" for a direct message
	DMKey          string `gorm:"column:dm_key"` // a DM's two user ids, sorted: one DM per pair
}

type RoomMember struct {
	RoomID        string `gorm:"primaryKey"`
	UserID        string `gorm:"primaryKey"`
	TenantID      string
	Role          string
	LastReadSeq   int64
	JoinedAt      time.Time
	Notifications string // "all", "mentions" or "none"
}

type Message struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	RoomID    string
	Seq       int64
	AuthorID  string
	Body      string
	ClientID  string
	CreatedAt time.Time
	EditedAt  *time.Time
	Deleted   bool
	ReplyToID string // the message of the same room this one answers ("" for none)
}

// Reaction is one person's emoji on a message.
type Reaction struct {
	MessageID string `gorm:"primaryKey"`
	Emoji     string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (Reaction) TableName() string { return "message_reactions" }

// Mention is a room member named with @username in a message.
type Mention struct {
	MessageID string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	RoomID    string
	Seq       int64
}

func (Mention) TableName() string { return "message_mentions" }

// Event is one entry of the event log that streams replay on resume. Its ID is
// the stream cursor. Message events point at the message (rendered as it is now,
// so an erased body stays erased); other events carry their payload.
type Event struct {
	ID           int64 `gorm:"primaryKey;autoIncrement"`
	TenantID     string
	RoomID       string
	Type         string
	MessageID    string
	TargetUserID string // set for events meant for one user only (room.left, room.deleted)
	Payload      string
	CreatedAt    time.Time
}

// AuditEntry is one admin or API key action in a tenant's audit log.
type AuditEntry struct {
	ID         string `gorm:"primaryKey"` // time-ordered (UUIDv7): the log pages by it
	TenantID   string
	ActorType  string // user, key or operator
	ActorID    string
	ActorName  string
	Action     string
	TargetType string
	TargetID   string
	TargetName string
	Detail     string // a JSON object of strings
	IP         string
	CreatedAt  time.Time
}

func (AuditEntry) TableName() string { return "audit_log" }

// PushSubscription is one device's Web Push subscription, tied to the login
// that registered it (logging out ends it).
type PushSubscription struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	SessionID string
	Endpoint  string
	P256dh    string `gorm:"column:p256dh"`
	Auth      string
	CreatedAt time.Time
}

// Attachment is an uploaded file: waiting for its message (MessageID empty)
// until it is attached or expires. Its bytes are in the blob store.
type Attachment struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	RoomID      string
	UploaderID  string
	MessageID   string
	Position    int // its place among its message's attachments
	Name        string
	ContentType string
	Size        int64
	Width       int
	Height      int
	BlobKey     string
	ThumbKey    string // "" when it has no thumbnail
	ThumbSize   int64
	CreatedAt   time.Time
}

// BlobTrash is a blob to delete from the blob store once NotBefore has
// passed: the files of deleted messages and expired uploads, and (until an
// upload's row is committed) the blobs an upload is writing.
type BlobTrash struct {
	BlobKey   string `gorm:"primaryKey"`
	NotBefore time.Time
	Attempts  int
}

func (BlobTrash) TableName() string { return "blob_trash" }
