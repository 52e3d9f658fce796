package storage

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
)

// The inbox holds received updates until they are processed (the hot
// collection stays small); inbox_seen keeps only the ids of processed ones,
// for deduplication, until the retention period ends.

// inboxDoc is a received update not yet processed.
type inboxDoc struct {
	ID      string    `bson:"_id"`
	Channel string    `bson:"channel"`
	Payload []byte    `bson:"payload,omitempty"`
	At      time.Time `bson:"at"`
	Seq     int64     `bson:"seq"` // arrival order here, for updates in the same millisecond
}

// seenDoc is a processed update: its id only.
type seenDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
}

// InboxPut stores a received update before the platform is acknowledged.
// dup is true when the update was stored or processed before: drop it.
func (s *Store) InboxPut(ctx context.Context, r flows.Received) (dup bool, err error) {
	if r.ID == "" {
		return false, fmt.Errorf("storage: inbox: an update needs an id")
	}
	// Insert first, then look among the processed: InboxDone records an id
	// as seen before it leaves the inbox, so one of the two always sees it.
	_, err = s.c(colInbox).InsertOne(ctx, inboxDoc{ID: r.ID, Channel: r.Channel, Payload: r.Payload, At: r.At.UTC(), Seq: s.nextSeq()})
	if mongo.IsDuplicateKeyError(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: inbox %s: %w", r.ID, err)
	}
	seen, err := s.exists(ctx, colInboxSeen, r.ID)
	if err != nil {
		return false, fmt.Errorf("storage: inbox %s: %w", r.ID, err)
	}
	if seen {
		if _, err := s.c(colInbox).DeleteOne(ctx, byID(r.ID)); err != nil {
			return true, fmt.Errorf("storage: inbox %s: %w", r.ID, err)
		}
		return true, nil
	}
	return false, nil
}

// InboxPending returns a channel's updates not yet processed, oldest first
// (stored times have millisecond precision: updates within one millisecond
// come in the order they were stored).
func (s *Store) InboxPending(ctx context.Context, channel string, limit int) ([]flows.Received, error) {
	opts := options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "seq", Value: 1}, {Key: "_id", Value: 1}})
	if limit > 0 {
		opts.SetLimit(int64(limit))
	}
	cur, err := s.c(colInbox).Find(ctx, bson.D{{Key: "channel", Value: channel}}, opts)
	if err != nil {
		return nil, fmt.Errorf("storage: inbox of %s: %w", channel, err)
	}
	var docs []inboxDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: inbox of %s: %w", channel, err)
	}
	out := make([]flows.Received, len(docs))
	for i, d := range docs {
		out[i] = flows.Received{ID: d.ID, Channel: d.Channel, Payload: d.Payload, At: d.At}
	}
	return out, nil
}

// InboxDone marks an update processed: its payload, which holds what the
// person typed, is dropped; its id is kept to refuse a late duplicate.
func (s *Store) InboxDone(ctx context.Context, id string) error {
	_, err := s.c(colInboxSeen).InsertOne(ctx, seenDoc{ID: id, At: s.now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("storage: inbox %s: %w", id, err)
	}
	if _, err := s.c(colInbox).DeleteOne(ctx, byID(id)); err != nil {
		return fmt.Errorf("storage: inbox %s: %w", id, err)
	}
	return nil
}
