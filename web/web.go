// Package web holds the mobile web client. It is plain HTML, CSS and ES modules,
// embedded in the binary so that `go run ./cmd/parley` serves it with no build step.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static returns the client's files, rooted at the folder that is served at "/".
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the folder is embedded at build time; a miss is a build bug
	}
	return sub
}
