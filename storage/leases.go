package storage

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Lease takes or renews the lease name for owner until now+ttl. It returns
// false while another owner holds an unexpired lease. (Telegram long polling
// allows one poller per token: instances take turns through a lease.)
func (s *Store) Lease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	now = now.UTC()
	filter := bson.D{
		{Key: "_id", Value: name},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "owner", Value: owner}},
			bson.D{{Key: "until", Value: bson.D{{Key: "$lte", Value: now}}}},
		}},
	}
	_, err := s.c(colLeases).UpdateOne(ctx, filter,
		bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "until", Value: now.Add(ttl)}}}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// Held by someone else: the upsert tried to insert a second "name".
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: lease %s: %w", name, err)
	}
	return true, nil
}

// ReleaseLease gives up owner's lease name, so another instance may take it
// at once.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := s.c(colLeases).DeleteOne(ctx, bson.D{{Key: "_id", Value: name}, {Key: "owner", Value: owner}}); err != nil {
		return fmt.Errorf("storage: lease %s: %w", name, err)
	}
	return nil
}
