package storage

import (
	"context"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

func TestInboxCount(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, r := range []flows.Received{
			{ID: "tg:u:1", Channel: "telegram", Payload: []byte(`{"update_id":1}`)},
			{ID: "tg:u:2", Channel: "telegram", Payload: []byte(`{"update_id":2}`)},
			{ID: "tg:u:3", Channel: "telegram", Payload: []byte(`{"update_id":3}`)},
			{ID: "tg:u:2", Channel: "telegram", Payload: []byte(`{"update_id":2}`)}, // a duplicate
			{ID: "slack:e:1", Channel: "slack", Payload: []byte(`{}`)},
		} {
			r.At = t0.Add(time.Duration(i) * time.Second)
			if _, err := s.InboxPut(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.InboxDone(ctx, "tg:u:1"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			channel string
			want    int
		}{
			{"telegram", 2},
			{"slack", 1},
			{"console", 0},
		} {
			got, err := s.InboxCount(ctx, tc.channel)
			if err != nil {
				t.Fatalf("InboxCount(%s): %v", tc.channel, err)
			}
			if got != tc.want {
				t.Errorf("InboxCount(%s): got %d, want %d", tc.channel, got, tc.want)
			}
			pending, err := s.InboxPending(ctx, tc.channel, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != got {
				t.Errorf("InboxCount(%s) = %d, but InboxPending returns %d", tc.channel, got, len(pending))
			}
		}
	})
}
