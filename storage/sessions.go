package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
)

// Response statuses, as exported.
const (
	ResponseCompleted  = "completed"
	ResponseInProgress = "in_progress"
	ResponseStopped    = "stopped"
)

// How much input history a session keeps for crash safety: the ids of the
// last inputs applied (a replayed one is not applied twice) and the replies
// of the last few (re-queued when one is replayed).
const (
	keepApplied = 32
	keepReplies = 4
)

// sessionDoc is one participant's session in one consultation: _id is
// participant id + ":" + consultation id. Every write to it is conditional
// on version.
type sessionDoc struct {
	ID           string        `bson:"_id"`
	Participant  string        `bson:"participant"`
	Consultation string        `bson:"consultation"`
	Version      int64         `bson:"version"`
	State        flows.Session `bson:"state"`
	Anonymous    bool          `bson:"anonymous,omitempty"`
	// Response keys the response record and the answers: the session id,
	// or in an anonymous consultation a random id held only here, and only
	// while the session is in progress.
	Response string         `bson:"response,omitempty"`
	RStatus  string         `bson:"rstatus,omitempty"` // the response status last recorded
	Applied  []string       `bson:"applied,omitempty"`
	Recent   []appliedInput `bson:"recent,omitempty"`
	Unknown  int            `bson:"unknown,omitempty"` // bumped by Store.Unknown: a message may not have arrived
	Reasked  int            `bson:"reasked,omitempty"` // the Unknown count already answered by asking again
}

// appliedInput is the replies one input produced.
type appliedInput struct {
	Input string           `bson:"input"`
	Out   []flows.Outgoing `bson:"out,omitempty"`
}

// responseDoc is one response to a consultation, for export.
type responseDoc struct {
	ID           string    `bson:"_id"`
	Consultation string    `bson:"consultation"`
	Participant  string    `bson:"participant,omitempty"` // "" when anonymous
	Version      string    `bson:"version"`
	Status       string    `bson:"status"`
	Started      time.Time `bson:"started"` // day only when anonymous
}

// answerDoc is one answer: _id is response + ":" + question.
type answerDoc struct {
	ID           string         `bson:"_id"`
	Response     string         `bson:"response"`
	Consultation string         `bson:"consultation"`
	Version      string         `bson:"version"`
	Participant  string         `bson:"participant,omitempty"` // "" when anonymous
	Question     string         `bson:"question"`
	Value        flows.Answer   `bson:"value"`
	History      []flows.Answer `bson:"history,omitempty"` // earlier values, oldest first
}

func sessionID(participant, consultation string) string { return participant + ":" + consultation }

func answerID(response, question string) string { return response + ":" + question }

func newResponseID() string { return "r_" + randomHex(8) }

// newVersion starts a session's version at a random number, so a session
// deleted and made again never repeats a version another process may hold.
func newVersion() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>2) + 1
}

// responseStatus maps a session status to the response status exported; ""
// means no response (not started, declined, withdrawn).
func responseStatus(st flows.Status) string {
	switch st {
	case flows.StatusCompleted:
		return ResponseCompleted
	case flows.StatusStopped:
		return ResponseStopped
	case flows.StatusActive, flows.StatusPaused, flows.StatusClosed:
		return ResponseInProgress
	}
	return ""
}

// loadSession reads a session; ok is false when there is none.
func (s *Store) loadSession(ctx context.Context, id string) (doc sessionDoc, ok bool, err error) {
	err = s.c(colSessions).FindOne(ctx, byID(id)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return sessionDoc{}, false, nil
	}
	if err != nil {
		return sessionDoc{}, false, fmt.Errorf("storage: session %s: %w", id, err)
	}
	if s.embedded != nil {
		s.cas.observe(id, doc.Version)
	}
	return doc, true, nil
}

// writeSession stores doc if the stored session is still at version base
// (or absent, when !exists); ErrConflict otherwise. doc.Version must be the
// new version. On MongoDB the filter does the check; the embedded store,
// the only writer of its data, checks against the versions it knows.
func (s *Store) writeSession(ctx context.Context, doc sessionDoc, base int64, exists bool) error {
	if s.embedded != nil {
		unlock := s.locks.lock("session:" + doc.ID)
		defer unlock()
		cur, known := s.cas.get(doc.ID)
		if !known {
			stored, ok, err := s.loadSession(ctx, doc.ID)
			if err != nil {
				return err
			}
			cur, known = stored.Version, ok
		}
		if exists && (!known || cur != base) {
			return fmt.Errorf("storage: session %s: %w", doc.ID, ErrConflict)
		}
	}
	if !exists {
		_, err := s.c(colSessions).InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("storage: session %s: %w", doc.ID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("storage: session %s: %w", doc.ID, err)
		}
		if s.embedded != nil {
			s.cas.set(doc.ID, doc.Version)
		}
		return nil
	}
	filter := bson.D{{Key: "_id", Value: doc.ID}, {Key: "version", Value: base}}
	if s.embedded != nil {
		filter = byID(doc.ID)
	}
	set := bson.D{
		{Key: "participant", Value: doc.Participant},
		{Key: "consultation", Value: doc.Consultation},
		{Key: "version", Value: doc.Version},
		{Key: "state", Value: doc.State},
		{Key: "anonymous", Value: doc.Anonymous},
		{Key: "rstatus", Value: doc.RStatus},
		{Key: "applied", Value: doc.Applied},
		{Key: "recent", Value: doc.Recent},
		{Key: "reasked", Value: doc.Reasked},
	}
	update := bson.D{{Key: "$set", Value: set}}
	if doc.Response == "" {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "response", Value: ""}}})
	} else {
		set = append(set, bson.E{Key: "response", Value: doc.Response})
		update[0].Value = set
	}
	res, err := s.c(colSessions).UpdateOne(ctx, filter, update)
	if err != nil {
		return fmt.Errorf("storage: session %s: %w", doc.ID, err)
	}
	if res.MatchedCount == 0 {
		if s.embedded != nil {
			s.cas.forget(doc.ID)
		}
		return fmt.Errorf("storage: session %s: %w", doc.ID, ErrConflict)
	}
	if s.embedded != nil {
		s.cas.set(doc.ID, doc.Version)
	}
	return nil
}

// deleteSession removes a session document.
func (s *Store) deleteSession(ctx context.Context, id string) (bool, error) {
	if s.embedded != nil {
		unlock := s.locks.lock("session:" + id)
		defer unlock()
		defer s.cas.forget(id)
	}
	res, err := s.c(colSessions).DeleteOne(ctx, byID(id))
	if err != nil {
		return false, fmt.Errorf("storage: deleting session %s: %w", id, err)
	}
	return res.DeletedCount > 0, nil
}

// sameAnswer reports whether two answers are equal as stored (BSON keeps
// milliseconds).
func sameAnswer(a, b flows.Answer) bool {
	return a.Type == b.Type && a.Text == b.Text && a.Number == b.Number &&
		slices.Equal(a.Values, b.Values) && a.At.Truncate(time.Millisecond).Equal(b.At.Truncate(time.Millisecond))
}

// liveAnswers returns the answers that count: those to questions on the
// path the answers take, so an answer left behind when /back changed a
// branch is not kept. Answers to questions the consultation no longer has
// are kept.
func liveAnswers(c *flows.Consultation, answers map[string]flows.Answer) map[string]flows.Answer {
	if len(answers) == 0 {
		return nil
	}
	live := make(map[string]flows.Answer, len(answers))
	known := make(map[string]bool, len(c.Questions))
	for _, q := range c.Questions {
		known[q.ID] = true
		a, ok := answers[q.ID]
		if !ok {
			continue
		}
		if q.When != nil && !q.When.Holds(live) {
			continue
		}
		live[q.ID] = a
	}
	for id, a := range answers {
		if !known[id] {
			live[id] = a
		}
	}
	return live
}

// anonymize strips an answer of what could point at the person: the time
// of day.
func anonymize(a flows.Answer) flows.Answer {
	a.At = day(a.At)
	return a
}

// answerWrites returns the writes that take the stored answers of a
// response from old to next: upserts of changed answers, keeping the value
// they replace in history, and deletes of answers gone. written holds the
// answer ids earlier attempts of this step wrote before losing a conflict:
// those are put right too.
func answerWrites(doc sessionDoc, c *flows.Consultation, old, next map[string]flows.Answer, hash, response string, written map[string]bool) []mongo.WriteModel {
	var models []mongo.WriteModel
	questions := map[string]bool{}
	for q := range next {
		questions[q] = true
	}
	for q := range old {
		questions[q] = true
	}
	prefix := response + ":"
	for id := range written {
		if q, ok := strings.CutPrefix(id, prefix); ok {
			questions[q] = true
		}
	}
	for _, q := range slices.Sorted(maps.Keys(questions)) {
		prev, had := old[q]
		a, has := next[q]
		id := answerID(response, q)
		stale := written[id]
		switch {
		case !has:
			if had || stale {
				models = append(models, mongo.NewDeleteOneModel().SetFilter(byID(id)))
			}
		case had && sameAnswer(prev, a) && !stale:
		default:
			if doc.Anonymous {
				a, prev = anonymize(a), anonymize(prev)
			}
			set := bson.D{
				{Key: "response", Value: response},
				{Key: "consultation", Value: c.ID},
				{Key: "version", Value: hash},
				{Key: "question", Value: q},
				{Key: "value", Value: a},
			}
			if !doc.Anonymous {
				set = append(set, bson.E{Key: "participant", Value: doc.Participant})
			}
			update := bson.D{{Key: "$set", Value: set}}
			if had && !sameAnswer(prev, a) {
				// $addToSet: a retried write does not repeat the entry.
				update = append(update, bson.E{Key: "$addToSet", Value: bson.D{{Key: "history", Value: prev}}})
			}
			models = append(models, mongo.NewUpdateOneModel().SetFilter(byID(id)).SetUpdate(update).SetUpsert(true))
		}
	}
	return models
}

// writeAnswers applies answer writes in one request per kind.
func (s *Store) writeAnswers(ctx context.Context, models []mongo.WriteModel) error {
	if len(models) == 0 {
		return nil
	}
	if _, err := s.c(colAnswers).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("storage: writing answers: %w", err)
	}
	return nil
}

// writeResponse records a response's status (made on first write).
func (s *Store) writeResponse(ctx context.Context, r responseDoc) error {
	set := bson.D{{Key: "status", Value: r.Status}, {Key: "version", Value: r.Version}}
	onInsert := bson.D{{Key: "consultation", Value: r.Consultation}, {Key: "started", Value: r.Started}}
	if r.Participant != "" {
		onInsert = append(onInsert, bson.E{Key: "participant", Value: r.Participant})
	}
	_, err := s.c(colResponses).UpdateOne(ctx, byID(r.ID),
		bson.D{{Key: "$set", Value: set}, {Key: "$setOnInsert", Value: onInsert}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("storage: response %s: %w", r.ID, err)
	}
	return nil
}

// purgeResponse deletes a response record and its answers, looked up by
// _id for every question the consultation has and every answer the session
// holds. It returns how many answers it deleted.
func (s *Store) purgeResponse(ctx context.Context, response string, questions []string) (int, error) {
	if response == "" {
		return 0, nil
	}
	seen := map[string]bool{}
	var models []mongo.WriteModel
	for _, q := range questions {
		if !seen[q] {
			seen[q] = true
			models = append(models, mongo.NewDeleteOneModel().SetFilter(byID(answerID(response, q))))
		}
	}
	n := 0
	if len(models) > 0 {
		res, err := s.c(colAnswers).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err != nil {
			return 0, fmt.Errorf("storage: deleting answers: %w", err)
		}
		n = int(res.DeletedCount)
	}
	if _, err := s.c(colResponses).DeleteOne(ctx, byID(response)); err != nil {
		return n, fmt.Errorf("storage: deleting response: %w", err)
	}
	return n, nil
}
