package auth

import (
	"time"

	"parley/store"
)

// UserJSON is a user as the API shows it.
type UserJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// ViewUser renders a user for the API.
func ViewUser(u store.User) UserJSON {
	return UserJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
}
