package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"go.mongodb.org/mongo-driver/v2/mongo"
	_ "modernc.org/sqlite" // FerretDB's SQLite driver, to add the _id indexes below
)

// collections lists every collection the store uses.
func collections() []string {
	return []string{
		colMeta, colParticipants, colIdentities, colConsultations, colSessions, colAnswers,
		colResponses, colInvites, colInbox, colInboxSeen, colOutbox, colOutboxSent, colLeases,
		colJobs, colJobsDone, colJobCaps,
	}
}

// indexIDs gives the SQLite tables behind the named collections an index
// that FerretDB 1.24's SQLite backend actually uses for _id.
//
// That backend indexes _id as _ferretdb_sjson->"_id" but filters with
// _ferretdb_sjson->'$._id', which SQLite does not match to the index: every
// find, update and delete by _id scans the whole table (an update by _id
// costs ~10 ms at 2,000 documents, ~150 µs with this index). The index is
// one FerretDB does not know of; SQLite keeps it up to date and drops it
// with its table. Only for the embedded store, whose files this process
// holds.
func (s *Store) indexIDs(ctx context.Context, names ...string) error {
	if s.embedded == nil {
		return nil
	}
	for _, name := range names {
		// Make the table exist, so there is something to index.
		err := s.db.CreateCollection(ctx, name)
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.Code == 48) { // 48: NamespaceExists
			return fmt.Errorf("storage: creating collection %s: %w", name, err)
		}
	}
	file := filepath.Join(s.embedded.dir, "sqlite", s.db.Name()+".sqlite")
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(file), RawQuery: "_pragma=busy_timeout(10000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("storage: opening %s: %w", file, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tables := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT name, table_name FROM "_ferretdb_collections"`)
	if err != nil {
		return fmt.Errorf("storage: reading the collections of %s: %w", file, err)
	}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			rows.Close()
			return fmt.Errorf("storage: reading the collections of %s: %w", file, err)
		}
		tables[name] = table
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("storage: reading the collections of %s: %w", file, err)
	}
	for _, name := range names {
		table, ok := tables[name]
		if !ok {
			return fmt.Errorf("storage: collection %s has no table in %s", name, file)
		}
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+"_consultbot_id", table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: indexing _id of %s: %w", name, err)
		}
	}
	return nil
}
