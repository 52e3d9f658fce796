// Package storage keeps consultbot's data in MongoDB through mongo-driver v2:
// a MongoDB server given by URI (a replica set or Atlas in production), or,
// without one, a FerretDB started inside the process over SQLite files in a
// data directory. It also holds the runner, which applies a participant's
// input to their session and queues the replies.
//
// Every state change is one single-document write: no transactions, change
// streams, TTL indexes or aggregation, which the embedded FerretDB lacks or
// answers wrongly. Documents have deterministic _ids (session = participant
// + consultation, answer = response + question, inbox item = update id), so a
// retried write is a no-op and a duplicate is refused by the _id index.
// Hot collections (inbox, outbox) hold only what is still to be done; what is
// done moves to inbox_seen and outbox_sent.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Sentinel errors; the store wraps them with details.
var (
	// ErrLocked: another process holds the data directory.
	ErrLocked = errors.New("data directory in use")
	// ErrNotFound: no such document.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the document changed since it was read, or is not in the
	// state the operation expects (e.g. an outbox item claimed by another owner).
	ErrConflict = errors.New("conflict")
)

// SchemaVersion is the layout of the stored documents this code reads and
// writes. Open records it and refuses a database written by a newer schema.
const SchemaVersion = 1

// DefaultRetention is how long sent outbox items keep their text and
// processed inbox ids are kept for deduplication.
const DefaultRetention = 30 * 24 * time.Hour

// Config is how to reach the store.
type Config struct {
	URI      string // MongoDB connection string; "" starts an embedded FerretDB in DataDir
	Database string // default "consultbot"
	DataDir  string // embedded store directory; default "consultbot-data"
	Logger   *slog.Logger
	Monitor  *event.CommandMonitor // optional: sees every command sent to the server

	Retention time.Duration    // sent outbox text and processed inbox ids; default DefaultRetention
	Now       func() time.Time // clock for bookkeeping times (loaded, seen); default time.Now
}

// Collection names.
const (
	colMeta          = "meta"
	colParticipants  = "participants"
	colIdentities    = "identities"
	colConsultations = "consultations"
	colSessions      = "sessions"
	colAnswers       = "answers"
	colResponses     = "responses"
	colInvites       = "invites"
	colInbox         = "inbox"
	colInboxSeen     = "inbox_seen"
	colOutbox        = "outbox"
	colOutboxSent    = "outbox_sent"
	colLeases        = "leases"
)

// Store is consultbot's data. It is safe for concurrent use.
type Store struct {
	client    *mongo.Client
	db        *mongo.Database
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration

	embedded     *embedded // nil with a URI
	ownsEmbedded bool      // Close stops it

	locks keyLocks     // per participant identity and per session, in this process
	cas   versionTable // embedded: session versions last written or seen
	cache peopleCache  // embedded: participants by identity
	jobs  jobMemory    // embedded: hot jobs and tallies (jobs.go)

	seqMu   sync.Mutex
	lastSeq int64 // outbox order: enqueue order in this process, wall clock across processes
}

// Open connects to the store, creates the indexes and records the schema
// version. With cfg.URI empty it starts an embedded FerretDB in cfg.DataDir
// and fails with ErrLocked when another process has that directory.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URI != "" {
		return connect(ctx, cfg, nil, false)
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = "consultbot-data"
	}
	e, err := startEmbedded(ctx, dir, logger(cfg))
	if err != nil {
		return nil, err
	}
	return connect(ctx, cfg, e, true)
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return cfg.Logger
}

// connect opens a store on MongoDB at cfg.URI, or on the embedded FerretDB e
// (closed with the store when owned).
func connect(ctx context.Context, cfg Config, e *embedded, owned bool) (*Store, error) {
	if cfg.Database == "" {
		cfg.Database = "consultbot"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	s := &Store{log: logger(cfg), now: cfg.Now, retention: cfg.Retention, embedded: e, ownsEmbedded: owned}
	s.cas.m = map[string]int64{}
	s.cache.m = map[string]participantDoc{}

	opts := options.Client()
	if e != nil {
		opts.ApplyURI(e.uri)
		// FerretDB's updates are read-modify-write: two connections updating
		// one document lose writes. One connection serialises them.
		opts.SetMaxPoolSize(1)
	} else {
		opts.ApplyURI(cfg.URI)
	}
	if cfg.Monitor != nil {
		opts.SetMonitor(cfg.Monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		s.closeEmbedded()
		return nil, fmt.Errorf("storage: connecting: %w", err)
	}
	s.client = client
	s.db = client.Database(cfg.Database)
	if err := client.Ping(ctx, nil); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("storage: reaching %s: %w", s.where(), err)
	}
	if err := s.setup(ctx); err != nil {
		s.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// where names the store for messages, without credentials.
func (s *Store) where() string {
	if s.embedded != nil {
		return "the embedded store in " + s.embedded.dir
	}
	return "MongoDB"
}

// Close disconnects and, for the embedded store, stops FerretDB and releases
// the data directory.
func (s *Store) Close(ctx context.Context) error {
	var err error
	if s.client != nil {
		if e := s.client.Disconnect(ctx); e != nil {
			err = fmt.Errorf("storage: disconnecting: %w", e)
		}
	}
	s.closeEmbedded()
	return err
}

func (s *Store) closeEmbedded() {
	if s.embedded != nil && s.ownsEmbedded {
		s.embedded.close()
	}
}

// Embedded reports whether the store is the embedded FerretDB.
func (s *Store) Embedded() bool { return s.embedded != nil }

// DataDir returns the embedded store's directory (absolute), or "".
func (s *Store) DataDir() string {
	if s.embedded == nil {
		return ""
	}
	return s.embedded.dir
}

func (s *Store) c(name string) *mongo.Collection { return s.db.Collection(name) }

// index is one index to create at start.
type index struct {
	collection string
	keys       bson.D
}

func indexes() []index {
	return append([]index{
		{colParticipants, bson.D{{Key: "identities", Value: 1}}},
		{colConsultations, bson.D{{Key: "consultation", Value: 1}, {Key: "loaded", Value: 1}}},
		{colSessions, bson.D{{Key: "participant", Value: 1}}},
		{colSessions, bson.D{{Key: "consultation", Value: 1}, {Key: "state.status", Value: 1}}},
		{colAnswers, bson.D{{Key: "consultation", Value: 1}}},
		{colAnswers, bson.D{{Key: "response", Value: 1}}},
		{colResponses, bson.D{{Key: "consultation", Value: 1}}},
		{colInbox, bson.D{{Key: "channel", Value: 1}, {Key: "at", Value: 1}}},
		{colInboxSeen, bson.D{{Key: "at", Value: 1}}},
		{colOutbox, bson.D{{Key: "channel", Value: 1}, {Key: "status", Value: 1}, {Key: "not_before", Value: 1}}},
		{colOutbox, bson.D{{Key: "participant", Value: 1}}},
		{colOutboxSent, bson.D{{Key: "at", Value: 1}}},
		{colOutboxSent, bson.D{{Key: "participant", Value: 1}}},
		{colOutboxSent, bson.D{{Key: "channel", Value: 1}, {Key: "status", Value: 1}}},
	}, jobIndexes()...)
}

// schemaDoc records the schema version in the meta collection.
type schemaDoc struct {
	ID      string    `bson:"_id"`
	Version int       `bson:"version"`
	Created time.Time `bson:"created"`
	Updated time.Time `bson:"updated"`
}

// setup checks the schema version, migrates and creates the indexes.
// Every step is idempotent, so two instances starting together are fine.
func (s *Store) setup(ctx context.Context) error {
	meta := s.c(colMeta)
	now := s.now()
	var doc schemaDoc
	err := meta.FindOne(ctx, bson.D{{Key: "_id", Value: "schema"}}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		doc = schemaDoc{ID: "schema", Version: SchemaVersion, Created: now, Updated: now}
		if _, err := meta.InsertOne(ctx, doc); err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("storage: recording the schema version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("storage: reading the schema version: %w", err)
	case doc.Version > SchemaVersion:
		return fmt.Errorf("storage: %s was written by a newer consultbot (schema %d; this one knows %d): upgrade consultbot", s.where(), doc.Version, SchemaVersion)
	case doc.Version < SchemaVersion:
		// Migrations from older schemas go here, each idempotent, then:
		if _, err := meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: "schema"}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: SchemaVersion}, {Key: "updated", Value: now}}}}); err != nil {
			return fmt.Errorf("storage: recording the schema version: %w", err)
		}
	}
	if err := s.indexIDs(ctx, collections()...); err != nil {
		return err
	}
	// Create only the missing ones: FerretDB 1.24 fails on some requests
	// to create an index that exists.
	have := map[string]map[string]bool{}
	for _, ix := range indexes() {
		names, ok := have[ix.collection]
		if !ok {
			var err error
			if names, err = s.indexNames(ctx, ix.collection); err != nil {
				return err
			}
			have[ix.collection] = names
		}
		name := indexName(ix.keys)
		if names[name] {
			continue
		}
		model := mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(name)}
		if _, err := s.c(ix.collection).Indexes().CreateOne(ctx, model); err != nil {
			return fmt.Errorf("storage: creating index %s of %s: %w", name, ix.collection, err)
		}
	}
	return nil
}

// indexName is MongoDB's default name of an index on keys: a_1_b_1.
func indexName(keys bson.D) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('_')
		}
		fmt.Fprintf(&b, "%s_%v", k.Key, k.Value)
	}
	return b.String()
}

// indexNames lists the names of a collection's indexes.
func (s *Store) indexNames(ctx context.Context, collection string) (map[string]bool, error) {
	cur, err := s.c(collection).Indexes().List(ctx)
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == 26 { // NamespaceNotFound: no collection yet
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: listing the indexes of %s: %w", collection, err)
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, fmt.Errorf("storage: listing the indexes of %s: %w", collection, err)
	}
	names := map[string]bool{}
	for _, sp := range specs {
		names[sp.Name] = true
	}
	return names, nil
}

// Schema returns the schema version recorded in the database.
func (s *Store) Schema(ctx context.Context) (int, error) {
	var doc schemaDoc
	if err := s.c(colMeta).FindOne(ctx, bson.D{{Key: "_id", Value: "schema"}}).Decode(&doc); err != nil {
		return 0, fmt.Errorf("storage: reading the schema version: %w", err)
	}
	return doc.Version, nil
}

// byID is the filter on one _id: the only filter FerretDB's SQLite backend
// answers from an index rather than by scanning the table.
func byID(id string) bson.D { return bson.D{{Key: "_id", Value: id}} }

// exists reports whether collection holds a document with _id id. (A find:
// the driver's CountDocuments is an aggregation, which FerretDB does not
// answer from an index.)
func (s *Store) exists(ctx context.Context, collection, id string) (bool, error) {
	err := s.c(collection).FindOne(ctx, byID(id), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// notFound turns the driver's "no documents" into ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("storage: %s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("storage: %s: %w", what, err)
}

// nextSeq returns an increasing number that orders outbox items: enqueue
// order within this process, and the wall clock between processes.
func (s *Store) nextSeq() int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	n := time.Now().UnixNano()
	if n <= s.lastSeq {
		n = s.lastSeq + 1
	}
	s.lastSeq = n
	return n
}

// insertIgnoringDuplicates inserts docs unordered and returns those
// inserted: a document whose _id is stored already is no error, which makes
// inserts with deterministic ids idempotent.
func insertIgnoringDuplicates[T any](ctx context.Context, c *mongo.Collection, docs []T) ([]T, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	dup := map[int]bool{}
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return nil, fmt.Errorf("storage: insert into %s: %w", c.Name(), err)
		}
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return nil, fmt.Errorf("storage: insert into %s: %w", c.Name(), err)
			}
			dup[we.Index] = true
		}
	}
	out := make([]T, 0, len(docs))
	for i, d := range docs {
		if !dup[i] {
			out = append(out, d)
		}
	}
	return out, nil
}
