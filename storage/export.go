package storage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
)

// Response is one participant's answers to a consultation, for export.
type Response struct {
	Participant string // pseudonymous id; "" when the consultation is anonymous
	Key         string // the response's stable key (not derived from the person when anonymous)
	Status      string // completed, in_progress or stopped
	Version     string // hash of the consultation version answered
	Started     time.Time
	Answers     map[string]flows.Answer // by question id
}

// Responses returns a consultation's responses, sorted by Started then Key.
// Declined and withdrawn sessions are not responses; answers left behind
// by /back over a branch are not kept. The summary is made here in Go: the
// embedded store's aggregation is not to be trusted.
func (s *Store) Responses(ctx context.Context, consultation string) ([]Response, error) {
	filter := bson.D{{Key: "consultation", Value: consultation}}
	cur, err := s.c(colResponses).Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("storage: responses of %s: %w", consultation, err)
	}
	var recs []responseDoc
	if err := cur.All(ctx, &recs); err != nil {
		return nil, fmt.Errorf("storage: responses of %s: %w", consultation, err)
	}
	cur, err = s.c(colAnswers).Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("storage: answers of %s: %w", consultation, err)
	}
	byResponse := map[string]map[string]flows.Answer{}
	for cur.Next(ctx) {
		var a answerDoc
		if err := cur.Decode(&a); err != nil {
			cur.Close(ctx)
			return nil, fmt.Errorf("storage: answers of %s: %w", consultation, err)
		}
		if byResponse[a.Response] == nil {
			byResponse[a.Response] = map[string]flows.Answer{}
		}
		byResponse[a.Response][a.Question] = a.Value
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("storage: answers of %s: %w", consultation, err)
	}
	cur.Close(ctx)

	out := make([]Response, 0, len(recs))
	for _, r := range recs {
		answers := byResponse[r.ID]
		if answers == nil {
			answers = map[string]flows.Answer{}
		}
		out = append(out, Response{
			Participant: r.Participant, Key: r.ID, Status: r.Status, Version: r.Version,
			Started: r.Started, Answers: answers,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}
