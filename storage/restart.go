package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Restarted tidies what a process that died left behind, at start. On the
// embedded store this process holds the data directory's lock, so no other
// process can be at work: every outbox item left "sending" becomes unknown at
// once (its request may have left), every item left "claimed" is pending again
// (its request never left), and every lease is free, so a bot restarted after
// a crash does not wait for the dead process's leases to lapse. On a shared
// MongoDB another instance may be at work, so only what Recover finds lapsed
// is tidied. It returns how many items became unknown.
func (s *Store) Restarted(ctx context.Context, now time.Time) (int, error) {
	if !s.Embedded() {
		return s.Recover(ctx, now)
	}
	now = now.UTC()
	cur, err := s.c(colOutbox).Find(ctx, bson.D{{Key: "status", Value: OutSending}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("storage: restart: %w", err)
	}
	var docs []outDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("storage: restart: %w", err)
	}
	n := 0
	for _, d := range docs {
		err := s.moveOut(ctx, d.ID, OutUnknown, "", "the process stopped while sending: the request may have left", now, false)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("storage: restart: %w", err)
		}
		n++
	}
	_, err = s.c(colOutbox).UpdateMany(ctx, bson.D{{Key: "status", Value: OutClaimed}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: OutPending}}},
		{Key: "$unset", Value: bson.D{{Key: "owner", Value: ""}, {Key: "claim", Value: ""}, {Key: "lease_until", Value: ""}}},
	})
	if err != nil {
		return n, fmt.Errorf("storage: restart: %w", err)
	}
	if _, err := s.c(colLeases).DeleteMany(ctx, bson.D{}); err != nil {
		return n, fmt.Errorf("storage: restart: %w", err)
	}
	return n, nil
}
