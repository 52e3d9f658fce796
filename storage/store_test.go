package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
)

// t0 is the tests' clock start: a fixed time, at millisecond precision as
// BSON stores it.
var t0 = time.Date(2026, 3, 2, 14, 30, 15, 123e6, time.UTC)

func TestSchemaAndIndexesIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.setup(ctx); err != nil {
			t.Fatalf("setup again: %v", err)
		}
		v, err := s.Schema(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != SchemaVersion {
			t.Errorf("schema: got %d, want %d", v, SchemaVersion)
		}
		names, err := s.indexNames(ctx, colOutbox)
		if err != nil {
			t.Fatal(err)
		}
		if !names["channel_1_status_1_not_before_1"] {
			t.Errorf("outbox indexes: got %v, want channel_1_status_1_not_before_1 among them", names)
		}
		// A newer schema is refused.
		if _, err := s.c(colMeta).UpdateOne(ctx, byID("schema"), bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: SchemaVersion + 1}}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.setup(ctx); err == nil {
			t.Errorf("setup on a newer schema: got nil, want an error")
		}
	})
}

func TestInbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		r1 := flows.Received{ID: "tg:u:1", Channel: "telegram", Payload: []byte(`{"text":"hello"}`), At: t0}
		r2 := flows.Received{ID: "tg:u:2", Channel: "telegram", Payload: []byte(`{"text":"second"}`), At: t0.Add(time.Second)}
		r3 := flows.Received{ID: "slack:e:1", Channel: "slack", Payload: []byte(`{}`), At: t0}
		for _, r := range []flows.Received{r2, r1, r3} {
			dup, err := s.InboxPut(ctx, r)
			if err != nil || dup {
				t.Fatalf("InboxPut(%s): got dup=%v err=%v, want false, nil", r.ID, dup, err)
			}
		}
		// A duplicate delivery is refused while pending...
		dup, err := s.InboxPut(ctx, r1)
		if err != nil || !dup {
			t.Fatalf("InboxPut(duplicate pending): got dup=%v err=%v, want true, nil", dup, err)
		}
		got, err := s.InboxPending(ctx, "telegram", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != r1.ID || got[1].ID != r2.ID {
			t.Fatalf("InboxPending: got %v, want %s then %s", got, r1.ID, r2.ID)
		}
		if string(got[0].Payload) != string(r1.Payload) || !got[0].At.Equal(t0) {
			t.Errorf("InboxPending[0]: got payload %q at %v, want %q at %v", got[0].Payload, got[0].At, r1.Payload, t0)
		}
		if err := s.InboxDone(ctx, r1.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.InboxDone(ctx, r1.ID); err != nil {
			t.Fatalf("InboxDone again: %v", err)
		}
		// ... and after it was processed.
		dup, err = s.InboxPut(ctx, r1)
		if err != nil || !dup {
			t.Fatalf("InboxPut(duplicate processed): got dup=%v err=%v, want true, nil", dup, err)
		}
		got, _ = s.InboxPending(ctx, "telegram", 10)
		if len(got) != 1 || got[0].ID != r2.ID {
			t.Errorf("InboxPending after done: got %v, want only %s", got, r2.ID)
		}
		// The processed item keeps its id and nothing of what was typed.
		var seen bson.M
		if err := s.c(colInboxSeen).FindOne(ctx, byID(r1.ID)).Decode(&seen); err != nil {
			t.Fatal(err)
		}
		for k := range seen {
			if k != "_id" && k != "at" {
				t.Errorf("processed inbox item: got field %q, want only _id and at", k)
			}
		}
		if n, _ := s.c(colInbox).CountDocuments(ctx, byID(r1.ID)); n != 0 {
			t.Errorf("processed item in the hot inbox: got %d, want 0", n)
		}
	})
}

func TestInvitesAndConsultations(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		codes, err := s.CreateInvites(ctx, "draft", 50, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != 50 {
			t.Fatalf("CreateInvites: got %d codes, want 50", len(codes))
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 10 || seen[c] {
				t.Errorf("code %q: want 10 characters, unique", c)
			}
			for _, r := range c {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
					t.Errorf("code %q: want [a-z0-9] only", c)
				}
			}
			seen[c] = true
		}
		got, err := s.Invite(ctx, " "+codes[3]+" ")
		if err != nil || got != "draft" {
			t.Errorf("Invite: got %q, %v, want draft", got, err)
		}
		if _, err := s.Invite(ctx, "nosuchcode"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Invite(unknown): got %v, want ErrNotFound", err)
		}

		c := &flows.Consultation{ID: "draft", Hash: "h1"}
		s.now = func() time.Time { return t0 }
		if err := s.SaveConsultation(ctx, c, []byte("id: draft\n")); err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return t0.Add(time.Hour) }
		if err := s.SaveConsultation(ctx, c, []byte("id: draft\n")); err != nil {
			t.Fatalf("SaveConsultation again: %v", err)
		}
		if err := s.SaveConsultation(ctx, &flows.Consultation{ID: "draft", Hash: "h2"}, []byte("id: draft\ntitle: x\n")); err != nil {
			t.Fatal(err)
		}
		vs, err := s.Versions(ctx, "draft")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 || vs[0].Hash != "h1" || vs[1].Hash != "h2" {
			t.Errorf("Versions: got %v, want h1 then h2", vs)
		}
		src, err := s.Source(ctx, "draft", "h2")
		if err != nil || string(src) != "id: draft\ntitle: x\n" {
			t.Errorf("Source: got %q, %v", src, err)
		}
	})
}

func TestLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		steps := []struct {
			owner string
			at    time.Duration
			want  bool
		}{
			{"a", 0, true},
			{"b", time.Second, false},
			{"a", 20 * time.Second, true}, // renews until 50s
			{"b", 40 * time.Second, false},
			{"b", 50 * time.Second, true}, // a's lease lapsed
			{"a", 51 * time.Second, false},
		}
		for _, st := range steps {
			got, err := s.Lease(ctx, "telegram-poll", st.owner, 30*time.Second, t0.Add(st.at))
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("Lease(%s at +%v): got %v, want %v", st.owner, st.at, got, st.want)
			}
		}
		if err := s.ReleaseLease(ctx, "telegram-poll", "b"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Lease(ctx, "telegram-poll", "a", time.Minute, t0.Add(52*time.Second)); !got {
			t.Errorf("Lease after release: got false, want true")
		}
	})
}

func msg(id string) flows.Outgoing {
	return flows.Outgoing{ID: id, Channel: "telegram", Participant: "tg:1", To: "1", Reply: flows.Reply{Text: "text of " + id}, Created: t0}
}

func ids(ms []flows.Outgoing) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestOutboxLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		later := msg("m3")
		later.NotBefore = t0.Add(time.Hour)
		if err := s.Enqueue(ctx, msg("m1"), msg("m2"), later); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(ctx, msg("m1")); err != nil {
			t.Fatalf("Enqueue again: %v", err)
		}
		counts, err := s.OutboxCounts(ctx, "telegram")
		if err != nil {
			t.Fatal(err)
		}
		if counts[OutPending] != 3 {
			t.Errorf("pending: got %d, want 3", counts[OutPending])
		}

		got, err := s.Claim(ctx, "telegram", "A", 10, time.Minute, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), []string{"m1", "m2"}) {
			t.Fatalf("Claim: got %v, want [m1 m2] (m3 not due)", ids(got))
		}
		if got[0].Reply.Text != "text of m1" {
			t.Errorf("claimed reply: got %q", got[0].Reply.Text)
		}
		if again, _ := s.Claim(ctx, "telegram", "B", 10, time.Minute, t0.Add(time.Second)); len(again) != 0 {
			t.Errorf("Claim by B while A's lease holds: got %v, want none", ids(again))
		}
		if err := s.Sending(ctx, "m1", "B", t0); !errors.Is(err, ErrConflict) {
			t.Errorf("Sending by a non-owner: got %v, want ErrConflict", err)
		}
		if err := s.Sending(ctx, "m1", "A", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Sent(ctx, "m1", "msg-77", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Sent(ctx, "m1", "msg-77", t0); err != nil {
			t.Errorf("Sent again: %v", err)
		}
		// Enqueueing a sent message again does not queue it.
		if err := s.Enqueue(ctx, msg("m1")); err != nil {
			t.Fatal(err)
		}
		// A's lease on m2 lapses: B takes it back (its request never left).
		got, _ = s.Claim(ctx, "telegram", "B", 10, time.Minute, t0.Add(2*time.Minute))
		if !slices.Equal(ids(got), []string{"m2"}) {
			t.Fatalf("Claim after lapse: got %v, want [m2]", ids(got))
		}
		if err := s.Sending(ctx, "m2", "A", t0); !errors.Is(err, ErrConflict) {
			t.Errorf("Sending by the old owner: got %v, want ErrConflict", err)
		}
		if err := s.Retry(ctx, "m2", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Claim(ctx, "telegram", "B", 10, time.Minute, t0.Add(150*time.Second)); len(got) != 0 {
			t.Errorf("Claim before the retry is due: got %v", ids(got))
		}
		got, _ = s.Claim(ctx, "telegram", "B", 10, time.Minute, t0.Add(3*time.Minute))
		if !slices.Equal(ids(got), []string{"m2"}) || got[0].Attempts != 1 {
			t.Fatalf("Claim after retry: got %v, want [m2] with 1 attempt", got)
		}
		if err := s.Sending(ctx, "m2", "B", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// The process dies mid-request: m2 becomes unknown, never resent.
		if n, err := s.Recover(ctx, t0.Add(3*time.Minute+30*time.Second)); err != nil || n != 0 {
			t.Errorf("Recover within the lease: got %d, %v, want 0", n, err)
		}
		if n, err := s.Recover(ctx, t0.Add(5*time.Minute)); err != nil || n != 1 {
			t.Errorf("Recover after the lease: got %d, %v, want 1", n, err)
		}
		got, _ = s.Claim(ctx, "telegram", "C", 10, time.Minute, t0.Add(2*time.Hour))
		if !slices.Equal(ids(got), []string{"m3"}) {
			t.Fatalf("Claim at the end: got %v, want [m3]", ids(got))
		}
		if err := s.Failed(ctx, "m3", "400 Bad Request: chat not found", t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		counts, _ = s.OutboxCounts(ctx, "telegram")
		want := map[string]int{OutPending: 0, OutClaimed: 0, OutSending: 0, OutUnknown: 1, OutFailed: 1}
		for k, v := range want {
			if counts[k] != v {
				t.Errorf("OutboxCounts[%s]: got %d, want %d (all: %v)", k, counts[k], v, counts)
			}
		}
		if n, _ := s.c(colOutbox).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Errorf("hot outbox: got %d items, want 0", n)
		}
		var rec outDoc
		if err := s.c(colOutboxSent).FindOne(ctx, byID("m1")).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec.Status != OutSent || rec.Ref != "msg-77" || rec.Reply.Text != "text of m1" {
			t.Errorf("sent record: got status %q ref %q text %q", rec.Status, rec.Ref, rec.Reply.Text)
		}
		// After the retention period the text goes.
		if _, err := s.Prune(ctx, t0.Add(DefaultRetention+time.Hour)); err != nil {
			t.Fatal(err)
		}
		rec = outDoc{}
		if err := s.c(colOutboxSent).FindOne(ctx, byID("m1")).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec.Reply.Text != "" || !rec.Pruned {
			t.Errorf("pruned record: got text %q pruned %v, want no text", rec.Reply.Text, rec.Pruned)
		}
	})
}

func TestClaimBatchesInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var want []string
		for i := range 12 {
			m := msg(fmt.Sprintf("in:%d:0", i))
			if err := s.Enqueue(ctx, m); err != nil {
				t.Fatal(err)
			}
			want = append(want, m.ID)
		}
		var got []string
		for {
			batch, err := s.Claim(ctx, "telegram", "A", 5, time.Minute, t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			if len(batch) > 5 {
				t.Fatalf("batch of %d, want at most 5", len(batch))
			}
			got = append(got, ids(batch)...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("claim order: got %v, want enqueue order %v", got, want)
		}
	})
}

func TestLeaseRaceOneWinner(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 8
		wins := make(chan bool, n)
		errs := make(chan error, n)
		for i := range n {
			go func() {
				ok, err := s.Lease(ctx, "poll", fmt.Sprintf("owner%d", i), time.Minute, t0)
				wins <- ok
				errs <- err
			}()
		}
		won := 0
		for range n {
			if <-wins {
				won++
			}
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if won != 1 {
			t.Errorf("winners: got %d, want 1", won)
		}
	})
}
