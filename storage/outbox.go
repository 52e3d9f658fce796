package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
)

// Outbox statuses. The hot collection (outbox) holds pending, claimed and
// sending items; sent, failed and unknown ones move to outbox_sent.
const (
	outHeld    = "held" // being enqueued: not yet claimable (internal)
	OutPending = "pending"
	OutClaimed = "claimed"
	OutSending = "sending"
	OutSent    = "sent"
	OutFailed  = "failed"
	OutUnknown = "unknown"
)

// outDoc is an outbox item, in outbox or outbox_sent.
type outDoc struct {
	flows.Outgoing `bson:",inline"`
	Seq            int64     `bson:"seq"`
	Status         string    `bson:"status"`
	Owner          string    `bson:"owner,omitempty"`
	Claim          string    `bson:"claim,omitempty"`
	LeaseUntil     time.Time `bson:"lease_until,omitempty"`
	LeaseMS        int64     `bson:"lease_ms,omitempty"`
	SendingAt      time.Time `bson:"sending_at,omitempty"`
	Hold           string    `bson:"hold,omitempty"`
	Anonymous      bool      `bson:"anon,omitempty"` // belongs to an anonymous consultation: text dropped once out
	// outbox_sent only
	Ref    string    `bson:"ref,omitempty"`
	Reason string    `bson:"reason,omitempty"`
	Done   time.Time `bson:"done,omitempty"`
	Pruned bool      `bson:"pruned,omitempty"`
}

func (s *Store) newOutDoc(m flows.Outgoing, status string, now time.Time) outDoc {
	if m.Created.IsZero() {
		m.Created = now
	}
	m.Created = m.Created.UTC()
	m.NotBefore = m.NotBefore.UTC()
	return outDoc{Outgoing: m, Seq: s.nextSeq(), Status: status}
}

// Enqueue queues messages. It is idempotent by ID: a message already queued,
// or already sent, failed or unknown, is not queued again.
func (s *Store) Enqueue(ctx context.Context, msgs ...flows.Outgoing) error {
	docs := make([]outDoc, 0, len(msgs))
	hold := randomHex(8)
	now := s.now()
	for _, m := range msgs {
		if m.ID == "" {
			return fmt.Errorf("storage: enqueue: a message needs an id")
		}
		d := s.newOutDoc(m, outHeld, now)
		d.Hold = hold
		docs = append(docs, d)
	}
	return s.enqueueChecked(ctx, docs, hold)
}

// enqueueChecked inserts docs held (not claimable), drops those already done
// (in outbox_sent), then releases the rest. Inserting before looking mirrors
// Sent, which records an item as done before it leaves the hot collection:
// one of the two sees the other, so nothing is queued twice.
func (s *Store) enqueueChecked(ctx context.Context, docs []outDoc, hold string) error {
	if len(docs) == 0 {
		return nil
	}
	inserted, err := s.insertOut(ctx, docs)
	if err != nil {
		return err
	}
	if len(inserted) == 0 {
		return nil
	}
	done, err := s.doneIDs(ctx, inserted)
	if err != nil {
		return err
	}
	var release []string
	for _, id := range inserted {
		if done[id] {
			if _, err := s.c(colOutbox).DeleteOne(ctx, s.held(id, hold)); err != nil {
				return fmt.Errorf("storage: enqueue %s: %w", id, err)
			}
			continue
		}
		release = append(release, id)
	}
	if len(release) == 0 {
		return nil
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: OutPending}}}, {Key: "$unset", Value: bson.D{{Key: "hold", Value: ""}}}}
	if len(release) == 1 {
		// The common case (one reply, one reminder): by _id alone on the
		// embedded store, which finds it through an index, where any other
		// filter scans the outbox.
		_, err = s.c(colOutbox).UpdateOne(ctx, s.held(release[0], hold), update)
	} else {
		// A batch: one write, and at most one scan.
		_, err = s.c(colOutbox).UpdateMany(ctx,
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: release}}}, {Key: "hold", Value: hold}}, update)
	}
	if err != nil {
		return fmt.Errorf("storage: enqueue: %w", err)
	}
	return nil
}

// held is the filter of an item this enqueue inserted and holds. On the
// embedded store it is _id alone, which its index serves: the item is ours
// all the same, since the insert that made it was ours, one process writes
// there, and nothing but this enqueue touches a held item.
func (s *Store) held(id, hold string) bson.D {
	if s.Embedded() {
		return byID(id)
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "hold", Value: hold}}
}

// insertOut inserts docs, ignoring those whose id is queued already, and
// returns the ids it inserted.
func (s *Store) insertOut(ctx context.Context, docs []outDoc) ([]string, error) {
	inserted, err := insertIgnoringDuplicates(ctx, s.c(colOutbox), docs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(inserted))
	for i, d := range inserted {
		ids[i] = d.ID
	}
	return ids, nil
}

// doneIDs returns which of ids are in outbox_sent. The embedded store looks
// each up by _id (its index); MongoDB answers $in from the index at once.
func (s *Store) doneIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	done := map[string]bool{}
	if s.embedded != nil {
		for _, id := range ids {
			ok, err := s.exists(ctx, colOutboxSent, id)
			if err != nil {
				return nil, fmt.Errorf("storage: enqueue %s: %w", id, err)
			}
			done[id] = ok
		}
		return done, nil
	}
	cur, err := s.c(colOutboxSent).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: enqueue: %w", err)
	}
	var got []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &got); err != nil {
		return nil, fmt.Errorf("storage: enqueue: %w", err)
	}
	for _, g := range got {
		done[g.ID] = true
	}
	return done, nil
}

// claimable is the filter of a channel's items a sender may take at now:
// pending and due, or claimed by a sender whose lease lapsed.
func claimable(channel string, now time.Time) bson.D {
	return bson.D{
		{Key: "channel", Value: channel},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "status", Value: OutPending}, {Key: "not_before", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "status", Value: OutClaimed}, {Key: "lease_until", Value: bson.D{{Key: "$lte", Value: now}}}},
		}},
	}
}

// Claim takes up to max due items of a channel for owner, oldest first, for
// lease: pending items whose NotBefore has come, and claimed items whose
// lease lapsed (their request never left). Three round trips for a batch.
func (s *Store) Claim(ctx context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error) {
	if max < 1 {
		max = 1
	}
	now = now.UTC()
	order := bson.D{{Key: "seq", Value: 1}, {Key: "_id", Value: 1}}
	cur, err := s.c(colOutbox).Find(ctx, claimable(channel, now),
		options.Find().SetSort(order).SetLimit(int64(max)).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: claiming from the %s outbox: %w", channel, err)
	}
	var cands []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &cands); err != nil {
		return nil, fmt.Errorf("storage: claiming from the %s outbox: %w", channel, err)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	token := randomHex(8)
	filter := append(claimable(channel, now), bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	_, err = s.c(colOutbox).UpdateMany(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: OutClaimed},
		{Key: "owner", Value: owner},
		{Key: "claim", Value: token},
		{Key: "lease_until", Value: now.Add(lease)},
		{Key: "lease_ms", Value: lease.Milliseconds()},
	}}})
	if err != nil {
		return nil, fmt.Errorf("storage: claiming from the %s outbox: %w", channel, err)
	}
	cur, err = s.c(colOutbox).Find(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "claim", Value: token}},
		options.Find().SetSort(order))
	if err != nil {
		return nil, fmt.Errorf("storage: claiming from the %s outbox: %w", channel, err)
	}
	var docs []outDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: claiming from the %s outbox: %w", channel, err)
	}
	out := make([]flows.Outgoing, len(docs))
	for i, d := range docs {
		out[i] = d.Outgoing
	}
	return out, nil
}

// Sending marks a claimed item as leaving, just before its request is made;
// ErrConflict when owner no longer holds it. From here on the item is never
// sent again by us: a crash leaves it for Recover to mark unknown.
func (s *Store) Sending(ctx context.Context, id, owner string, now time.Time) error {
	res, err := s.c(colOutbox).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "status", Value: OutClaimed}, {Key: "owner", Value: owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: OutSending}, {Key: "sending_at", Value: now.UTC()}}}})
	if err != nil {
		return fmt.Errorf("storage: outbox %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("storage: outbox %s is not claimed by %s: %w", id, owner, ErrConflict)
	}
	return nil
}

// Sent records that the platform accepted an item (ref: its message id
// there). The item leaves the hot collection for outbox_sent, whose text is
// dropped after the retention period (at once for anonymous consultations).
func (s *Store) Sent(ctx context.Context, id, ref string, now time.Time) error {
	return s.moveOut(ctx, id, OutSent, ref, "", now, true)
}

// Failed records a permanent failure (e.g. the platform refused the request):
// the item leaves the hot collection, with reason kept.
func (s *Store) Failed(ctx context.Context, id, reason string, now time.Time) error {
	return s.moveOut(ctx, id, OutFailed, "", reason, now, false)
}

// Unknown records that an item's request left but no answer came: it is
// never sent again by us. Its session is flagged, so the runner asks the
// current question again on the participant's next message.
func (s *Store) Unknown(ctx context.Context, id, reason string, now time.Time) error {
	return s.moveOut(ctx, id, OutUnknown, "", reason, now, false)
}

// moveOut moves item id from outbox to outbox_sent with status. A record
// already in outbox_sent is kept unless overwrite (sent is the last word).
func (s *Store) moveOut(ctx context.Context, id, status, ref, reason string, now time.Time, overwrite bool) error {
	var d outDoc
	err := s.c(colOutbox).FindOne(ctx, byID(id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Moved out already (a retried call)?
		out, cerr := s.exists(ctx, colOutboxSent, id)
		if cerr != nil {
			return fmt.Errorf("storage: outbox %s: %w", id, cerr)
		}
		if out {
			if overwrite {
				_, err := s.c(colOutboxSent).UpdateOne(ctx, byID(id), bson.D{{Key: "$set", Value: bson.D{
					{Key: "status", Value: status}, {Key: "ref", Value: ref}, {Key: "done", Value: now.UTC()}}}})
				if err != nil {
					return fmt.Errorf("storage: outbox %s: %w", id, err)
				}
			}
			return nil
		}
		return fmt.Errorf("storage: outbox %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("storage: outbox %s: %w", id, err)
	}
	if status == OutUnknown && d.Session != "" {
		// Flag first: the flag is harmless if what follows fails.
		if _, err := s.c(colSessions).UpdateOne(ctx, byID(d.Session), bson.D{{Key: "$inc", Value: bson.D{{Key: "unknown", Value: 1}}}}); err != nil {
			return fmt.Errorf("storage: outbox %s: flagging session: %w", id, err)
		}
	}
	d.Status, d.Ref, d.Reason, d.Done = status, ref, reason, now.UTC()
	d.Owner, d.Claim, d.Hold, d.LeaseUntil, d.LeaseMS = "", "", "", time.Time{}, 0
	if d.Anonymous {
		d.Reply = flows.Reply{Question: d.Reply.Question}
		d.Pruned = true
	}
	if overwrite {
		_, err = s.c(colOutboxSent).ReplaceOne(ctx, byID(id), d, options.Replace().SetUpsert(true))
	} else {
		var fields bson.D
		if fields, err = withoutID(d); err == nil {
			_, err = s.c(colOutboxSent).UpdateOne(ctx, byID(id), bson.D{{Key: "$setOnInsert", Value: fields}}, options.UpdateOne().SetUpsert(true))
		}
	}
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("storage: outbox %s: %w", id, err)
	}
	if _, err := s.c(colOutbox).DeleteOne(ctx, byID(id)); err != nil {
		return fmt.Errorf("storage: outbox %s: %w", id, err)
	}
	return nil
}

// Retry puts an item back to pending, due at notBefore, counting the
// attempt: after a 429, or a failure before the request left.
func (s *Store) Retry(ctx context.Context, id string, notBefore time.Time) error {
	res, err := s.c(colOutbox).UpdateOne(ctx, byID(id), bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: OutPending}, {Key: "not_before", Value: notBefore.UTC()}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
		{Key: "$unset", Value: bson.D{{Key: "owner", Value: ""}, {Key: "claim", Value: ""}, {Key: "lease_until", Value: ""}, {Key: "sending_at", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("storage: outbox %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("storage: outbox %s: %w", id, ErrNotFound)
	}
	return nil
}

// Unreachable records that identity blocked the bot: the participant is
// marked and their pending items fail. Their next message clears the mark.
func (s *Store) Unreachable(ctx context.Context, identity string, now time.Time) error {
	unlock := s.locks.lock(identity)
	p, err := s.findParticipant(ctx, identity)
	if err == nil {
		next := p.clone()
		if !slices.Contains(next.Unreachable, identity) {
			next.Unreachable = append(next.Unreachable, identity)
		}
		err = s.updatePerson(ctx, identity, next, bson.D{{Key: "$addToSet", Value: bson.D{{Key: "unreachable", Value: identity}}}})
	}
	unlock()
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	cur, err := s.c(colOutbox).Find(ctx, bson.D{{Key: "participant", Value: identity}, {Key: "status", Value: OutPending}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("storage: outbox of %s: %w", identity, err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return fmt.Errorf("storage: outbox of %s: %w", identity, err)
	}
	for _, d := range ids {
		if err := s.moveOut(ctx, d.ID, OutFailed, "", "unreachable: the person blocked the bot", now, false); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Recover marks unknown the items left sending past their lease: their
// request may have left, so they are not sent again. Run it at start and
// periodically; it returns how many it marked.
func (s *Store) Recover(ctx context.Context, now time.Time) (int, error) {
	cur, err := s.c(colOutbox).Find(ctx, bson.D{{Key: "status", Value: OutSending}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "sending_at", Value: 1}, {Key: "lease_ms", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("storage: recovering the outbox: %w", err)
	}
	var docs []outDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("storage: recovering the outbox: %w", err)
	}
	n := 0
	for _, d := range docs {
		if d.SendingAt.Add(time.Duration(d.LeaseMS) * time.Millisecond).After(now) {
			continue
		}
		err := s.moveOut(ctx, d.ID, OutUnknown, "", "lease lapsed while sending: the request may have left", now, false)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// OutboxCounts counts a channel's items by status: pending, claimed and
// sending in the hot collection; unknown and failed among those gone out.
func (s *Store) OutboxCounts(ctx context.Context, channel string) (map[string]int, error) {
	counts := map[string]int{OutPending: 0, OutClaimed: 0, OutSending: 0, OutUnknown: 0, OutFailed: 0}
	cur, err := s.c(colOutbox).Find(ctx, bson.D{{Key: "channel", Value: channel}},
		options.Find().SetProjection(bson.D{{Key: "status", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: counting the %s outbox: %w", channel, err)
	}
	var docs []struct {
		Status string `bson:"status"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: counting the %s outbox: %w", channel, err)
	}
	for _, d := range docs {
		if d.Status != outHeld {
			counts[d.Status]++
		}
	}
	for _, st := range []string{OutUnknown, OutFailed} {
		n, err := s.c(colOutboxSent).CountDocuments(ctx, bson.D{{Key: "channel", Value: channel}, {Key: "status", Value: st}})
		if err != nil {
			return nil, fmt.Errorf("storage: counting the %s outbox: %w", channel, err)
		}
		counts[st] = int(n)
	}
	return counts, nil
}

// Prune drops the text of items gone out more than the retention period ago
// and forgets processed inbox ids as old. It returns how many documents it
// changed; run it now and then.
func (s *Store) Prune(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.retention).UTC()
	res, err := s.c(colOutboxSent).UpdateMany(ctx,
		bson.D{{Key: "done", Value: bson.D{{Key: "$lt", Value: cutoff}}}, {Key: "pruned", Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pruned", Value: true}, {Key: "reply", Value: bson.D{}}}}})
	if err != nil {
		return 0, fmt.Errorf("storage: pruning the outbox: %w", err)
	}
	del, err := s.c(colInboxSeen).DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if err != nil {
		return int(res.ModifiedCount), fmt.Errorf("storage: pruning the inbox: %w", err)
	}
	return int(res.ModifiedCount + del.DeletedCount), nil
}

// withoutID returns v's fields but _id, for $setOnInsert.
func withoutID(v any) (bson.D, error) {
	raw, err := bson.Marshal(v)
	if err != nil {
		return nil, err
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	out := d[:0]
	for _, e := range d {
		if e.Key != "_id" {
			out = append(out, e)
		}
	}
	return out, nil
}
