package store

import (
	"context"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// writerSetup runs on every connection of the SQLite writer.
//
// temp_store = MEMORY: a statement that writes several rows inside a
// savepoint (each job of a batch has one) keeps a statement journal, which
// SQLite otherwise spills to a file in /var/tmp once it passes 64 KiB. With
// 16 posters into one room that was 6 temporary-file writes per commit, and
// keeping them in memory cut BenchmarkPostMessage/posters=16 from 109 to 93
// cpu-µs per message (docs/PERFORMANCE.md, "Evening: the writer"). Nothing
// durable lives there: a statement journal only serves to undo a statement
// or savepoint before the commit.
const writerSetup = "PRAGMA temp_store = MEMORY"

// sqliteConnector opens connections to one SQLite database and runs setup
// statements on each, so that a connection database/sql reopens gets them
// too.
type sqliteConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func writerConnector(dsn string) driver.Connector {
	return sqliteConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(writerSetup, nil)
		return err
	}}}
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

func (c sqliteConnector) Driver() driver.Driver { return c.drv }
