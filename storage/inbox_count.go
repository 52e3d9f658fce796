package storage

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// InboxCount counts a channel's received updates not yet processed: what
// InboxPending would return without a limit, without reading the payloads.
func (s *Store) InboxCount(ctx context.Context, channel string) (int, error) {
	n, err := s.c(colInbox).CountDocuments(ctx, bson.D{{Key: "channel", Value: channel}})
	if err != nil {
		return 0, fmt.Errorf("storage: counting the %s inbox: %w", channel, err)
	}
	return int(n), nil
}
