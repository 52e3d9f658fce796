package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Participant is a person, known by a pseudonymous id and linked to the
// channel identities they wrote from.
type Participant struct {
	ID            string            // "p_" + 16 hex digits
	Identities    []string          // "tg:123", "slack:T1:U2", "console:name"
	Addresses     map[string]string // channel → where replies go (chat id, DM channel)
	Language      string
	Timezone      string
	Active        string    // the consultation their messages go to
	Consultations []string  // every consultation they have a session in
	Unreachable   []string  // identities that blocked the bot
	Created       time.Time // day only
}

// participantDoc is a participants document.
type participantDoc struct {
	ID            string            `bson:"_id"`
	Identities    []string          `bson:"identities"`
	Addresses     map[string]string `bson:"addresses,omitempty"`
	Language      string            `bson:"language,omitempty"`
	Timezone      string            `bson:"timezone,omitempty"`
	Active        string            `bson:"active,omitempty"`
	Pending       string            `bson:"pending,omitempty"` // a consultation waiting for "leave the active one?"
	Consultations []string          `bson:"consultations,omitempty"`
	Unreachable   []string          `bson:"unreachable,omitempty"`
	Created       time.Time         `bson:"created"`
}

func (p participantDoc) clone() participantDoc {
	p.Identities = slices.Clone(p.Identities)
	p.Addresses = maps.Clone(p.Addresses)
	p.Consultations = slices.Clone(p.Consultations)
	p.Unreachable = slices.Clone(p.Unreachable)
	return p
}

func (p participantDoc) public() Participant {
	p = p.clone()
	return Participant{
		ID: p.ID, Identities: p.Identities, Addresses: p.Addresses, Language: p.Language,
		Timezone: p.Timezone, Active: p.Active, Consultations: p.Consultations,
		Unreachable: p.Unreachable, Created: p.Created,
	}
}

// identityDoc links a channel identity to its participant: _id is the
// identity, so two first messages at once make one participant.
type identityDoc struct {
	ID          string    `bson:"_id"`
	Participant string    `bson:"participant"`
	Created     time.Time `bson:"created"`
}

// isParticipantID reports whether who is a pseudonymous id rather than a
// channel identity.
func isParticipantID(who string) bool { return strings.HasPrefix(who, "p_") }

func newParticipantID() string { return "p_" + randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// day truncates t to its UTC day.
func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(24 * time.Hour)
}

// Participant returns the participant with pseudonymous id who ("p_...") or
// channel identity who ("tg:123"); ErrNotFound when there is none.
func (s *Store) Participant(ctx context.Context, who string) (Participant, error) {
	p, err := s.findParticipant(ctx, who)
	if err != nil {
		return Participant{}, err
	}
	return p.public(), nil
}

// findParticipant reads a participant by id or identity from the store.
func (s *Store) findParticipant(ctx context.Context, who string) (participantDoc, error) {
	id := who
	if !isParticipantID(who) {
		var link identityDoc
		if err := s.c(colIdentities).FindOne(ctx, byID(who)).Decode(&link); err != nil {
			return participantDoc{}, notFound(err, "participant "+who)
		}
		id = link.Participant
	}
	var p participantDoc
	if err := s.c(colParticipants).FindOne(ctx, byID(id)).Decode(&p); err != nil {
		return participantDoc{}, notFound(err, "participant "+who)
	}
	return p, nil
}

// person finds or creates the participant behind a channel identity. The
// embedded store answers from memory after the first time.
func (s *Store) person(ctx context.Context, identity string, now time.Time) (participantDoc, error) {
	if s.embedded != nil {
		if p, ok := s.cache.get(identity); ok {
			return p, nil
		}
	}
	p, err := s.findOrCreatePerson(ctx, identity, now)
	if err != nil {
		return participantDoc{}, err
	}
	if s.embedded != nil {
		s.cache.put(identity, p)
	}
	return p, nil
}

func (s *Store) findOrCreatePerson(ctx context.Context, identity string, now time.Time) (participantDoc, error) {
	if s.embedded == nil {
		// One indexed read in the common case.
		var p participantDoc
		err := s.c(colParticipants).FindOne(ctx, bson.D{{Key: "identities", Value: identity}}).Decode(&p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return participantDoc{}, fmt.Errorf("storage: participant %s: %w", identity, err)
		}
	}
	link := identityDoc{ID: identity, Participant: newParticipantID(), Created: day(now)}
	if _, err := s.c(colIdentities).InsertOne(ctx, link); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return participantDoc{}, fmt.Errorf("storage: linking %s: %w", identity, err)
		}
		if err := s.c(colIdentities).FindOne(ctx, byID(identity)).Decode(&link); err != nil {
			return participantDoc{}, fmt.Errorf("storage: participant %s: %w", identity, err)
		}
		var p participantDoc
		err := s.c(colParticipants).FindOne(ctx, byID(link.Participant)).Decode(&p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return participantDoc{}, fmt.Errorf("storage: participant %s: %w", identity, err)
		}
		// The link was written but not the participant (a crash between the
		// two writes): write it now.
	}
	// Find-or-create, so that a participant written meanwhile is kept.
	p := participantDoc{ID: link.Participant, Identities: []string{identity}, Created: day(now)}
	err := s.c(colParticipants).FindOneAndUpdate(ctx, byID(p.ID),
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "identities", Value: p.Identities}, {Key: "created", Value: p.Created}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&p)
	if err != nil {
		return participantDoc{}, fmt.Errorf("storage: creating participant for %s: %w", identity, err)
	}
	return p, nil
}

// updatePerson applies update to participant p (by _id) and keeps the
// embedded cache in step with what it wrote (next holds the new state).
func (s *Store) updatePerson(ctx context.Context, identity string, next participantDoc, update bson.D) error {
	res, err := s.c(colParticipants).UpdateOne(ctx, byID(next.ID), update)
	if err != nil {
		return fmt.Errorf("storage: updating participant %s: %w", next.ID, err)
	}
	if res.MatchedCount == 0 {
		s.cache.drop(next.ID)
		return fmt.Errorf("storage: participant %s: %w", next.ID, ErrConflict)
	}
	if s.embedded != nil {
		s.cache.put(identity, next)
	}
	return nil
}
