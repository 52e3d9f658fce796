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
)

// Forgotten says what Forget deleted.
type Forgotten struct {
	Participant string // the pseudonymous id forgotten
	Identities  int    // channel identities unlinked
	Sessions    int
	Answers     int
	Outbox      int // messages to or about them, queued or kept as sent
	Jobs        int // reminders planned for them, pending or done
	// Untraceable counts finished sessions of anonymous consultations: their
	// answers carry no link to the person, so they stay, unattributable.
	Untraceable int
}

// Forget deletes everything stored about a participant, given by
// pseudonymous id ("p_...") or channel identity ("tg:123"): answers,
// response records, sessions, queued and sent messages, reminders planned
// and daily reminder counts, identity links and the participant.
// ErrNotFound when nobody matches.
func (s *Store) Forget(ctx context.Context, who string, now time.Time) (Forgotten, error) {
	p, err := s.findParticipant(ctx, who)
	if err != nil {
		return Forgotten{}, err
	}
	// Wait for steps of this person in progress here, and keep new ones out.
	idents := slices.Clone(p.Identities)
	if !isParticipantID(who) && !slices.Contains(idents, who) {
		idents = append(idents, who)
	}
	slices.Sort(idents)
	for _, id := range idents {
		defer s.locks.lock("identity:" + id)()
	}
	defer s.cache.drop(p.ID)

	f := Forgotten{Participant: p.ID}
	sessions, err := s.sessionsOf(ctx, p)
	if err != nil {
		return f, err
	}
	for _, doc := range sessions {
		responses := []string{doc.ID} // a named response is keyed by the session
		if doc.Response != "" && doc.Response != doc.ID {
			responses = append(responses, doc.Response) // an anonymous one in progress
		}
		if doc.Anonymous && doc.Response == "" && doc.State.Status.Ended() {
			f.Untraceable++
		}
		for _, r := range responses {
			res, err := s.c(colAnswers).DeleteMany(ctx, bson.D{{Key: "response", Value: r}})
			if err != nil {
				return f, fmt.Errorf("storage: forgetting answers: %w", err)
			}
			f.Answers += int(res.DeletedCount)
			if _, err := s.c(colResponses).DeleteOne(ctx, byID(r)); err != nil {
				return f, fmt.Errorf("storage: forgetting a response: %w", err)
			}
		}
		ok, err := s.deleteSession(ctx, doc.ID)
		if err != nil {
			return f, err
		}
		if ok {
			f.Sessions++
		}
	}

	for _, col := range []string{colOutbox, colOutboxSent} {
		res, err := s.c(col).DeleteMany(ctx, bson.D{{Key: "participant", Value: bson.D{{Key: "$in", Value: idents}}}})
		if err != nil {
			return f, fmt.Errorf("storage: forgetting messages: %w", err)
		}
		f.Outbox += int(res.DeletedCount)
	}

	if f.Jobs, err = s.forgetJobs(ctx, p.ID); err != nil {
		return f, err
	}

	res, err := s.c(colIdentities).DeleteMany(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: idents}}}},
		bson.D{{Key: "participant", Value: p.ID}},
	}}})
	if err != nil {
		return f, fmt.Errorf("storage: forgetting identities: %w", err)
	}
	f.Identities = int(res.DeletedCount)
	if _, err := s.c(colParticipants).DeleteOne(ctx, byID(p.ID)); err != nil {
		return f, fmt.Errorf("storage: forgetting participant: %w", err)
	}
	s.log.InfoContext(ctx, "participant forgotten", "participant", p.ID, "sessions", f.Sessions, "answers", f.Answers)
	return f, nil
}

// sessionsOf returns every session of a participant: those the participant
// document lists and any other with their id.
func (s *Store) sessionsOf(ctx context.Context, p participantDoc) ([]sessionDoc, error) {
	cur, err := s.c(colSessions).Find(ctx, bson.D{{Key: "participant", Value: p.ID}})
	if err != nil {
		return nil, fmt.Errorf("storage: sessions of %s: %w", p.ID, err)
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: sessions of %s: %w", p.ID, err)
	}
	for _, cid := range p.Consultations {
		id := sessionID(p.ID, cid)
		if slices.ContainsFunc(docs, func(d sessionDoc) bool { return d.ID == id }) {
			continue
		}
		var doc sessionDoc
		err := s.c(colSessions).FindOne(ctx, byID(id), options.FindOne()).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storage: session %s: %w", id, err)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}
