package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/flows/flowstest"
)

// The export benchmark's data: exportParticipants people who each answered
// all exportQuestions questions of one consultation.
const (
	exportParticipants = 1000
	exportQuestions    = 20
)

func exportConsultation(tb testing.TB) *flows.Consultation {
	tb.Helper()
	c, err := flows.Parse("export.yaml", []byte(flowstest.EveryTypeYAML(exportQuestions)))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// exportFixture is the documents the runner leaves for participants who
// took c to the end: participants, identities, sessions, responses and
// answers, made by running the pure engine on the inputs flowstest.Inputs gives
// and shaped as Runner.apply writes them (TestExportFixtureMatchesRunner
// checks the shapes). Participant n's steps are at start(n) + k*gap.
type exportFixture struct {
	participants, identities, sessions, responses, answers []any
}

func makeExportFixture(tb testing.TB, c *flows.Consultation, people int, start func(n int) time.Time, gap time.Duration) exportFixture {
	tb.Helper()
	var f exportFixture
	for n := range people {
		identity := fmt.Sprintf("console:export-%d", n)
		pid := newParticipantID()
		sid := sessionID(pid, c.ID)
		now := start(n)
		f.identities = append(f.identities, identityDoc{ID: identity, Participant: pid, Created: day(now)})
		f.participants = append(f.participants, participantDoc{
			ID: pid, Identities: []string{identity}, Addresses: map[string]string{"console": identity},
			Active: c.ID, Consultations: []string{c.ID}, Created: day(now),
		})

		state := flows.Session{Participant: pid, Consultation: c.ID, Channel: "console"}
		doc := sessionDoc{ID: sid, Participant: pid, Consultation: c.ID, Version: newVersion()}
		for k, in := range flowstest.Inputs(c, n) {
			in.ID = fmt.Sprintf("console:export:%d:%d", n, k)
			in.Participant, in.Channel, in.ReplyTo = identity, "console", identity
			next, replies, err := c.Advance(state, in, now)
			if err != nil {
				tb.Fatalf("participant %d, input %d: %v", n, k, err)
			}
			out := make([]flows.Outgoing, len(replies))
			for i, rp := range replies {
				out[i] = flows.Outgoing{
					ID: fmt.Sprintf("%s:%d", in.ID, i), Channel: "console", Participant: identity,
					To: identity, Reply: rp, Session: sid, Created: now,
				}
			}
			doc.Applied = lastN(append(doc.Applied, in.ID), keepApplied)
			doc.Recent = lastN(append(doc.Recent, appliedInput{Input: in.ID, Out: out}), keepReplies)
			doc.Version++
			state = next
			now = now.Add(gap)
		}
		if state.Status != flows.StatusCompleted {
			tb.Fatalf("participant %d: got status %q after every answer, want completed", n, state.Status)
		}
		doc.State = state
		doc.Response = sid
		doc.RStatus = responseStatus(state.Status)
		// The runner's later writes $set anonymous and reasked, zero or not.
		sd, err := withoutID(doc)
		if err != nil {
			tb.Fatal(err)
		}
		sd = append(bson.D{{Key: "_id", Value: doc.ID}}, sd...)
		sd = append(sd, bson.E{Key: "anonymous", Value: doc.Anonymous}, bson.E{Key: "reasked", Value: doc.Reasked})
		f.sessions = append(f.sessions, sd)
		f.responses = append(f.responses, responseDoc{
			ID: sid, Consultation: c.ID, Participant: pid, Version: state.Hash,
			Status: doc.RStatus, Started: state.Started.UTC(),
		})
		live := liveAnswers(c, state.Answers)
		if len(live) != len(c.Questions) {
			tb.Fatalf("participant %d: got %d answers, want %d", n, len(live), len(c.Questions))
		}
		for _, q := range c.Questions {
			f.answers = append(f.answers, answerDoc{
				ID: answerID(sid, q.ID), Response: sid, Consultation: c.ID, Version: state.Hash,
				Participant: pid, Question: q.ID, Value: live[q.ID],
			})
		}
	}
	return f
}

// insert writes the fixture with InsertMany, in batches.
func (f exportFixture) insert(tb testing.TB, s *Store) {
	tb.Helper()
	ctx := context.Background()
	for _, col := range []struct {
		name string
		docs []any
	}{
		{colIdentities, f.identities},
		{colParticipants, f.participants},
		{colSessions, f.sessions},
		{colResponses, f.responses},
		{colAnswers, f.answers},
	} {
		for batch := range slices.Chunk(col.docs, 1000) {
			if _, err := s.c(col.name).InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
				tb.Fatalf("inserting %s: %v", col.name, err)
			}
		}
	}
}

// BenchmarkResponses measures Store.Responses of a consultation with 1,000
// participants × 20 answers on the embedded store (the export's reading
// part; cmd/consultbot's BenchmarkExport measures the whole export).
func BenchmarkResponses(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	c := exportConsultation(b)
	if err := s.SaveConsultation(ctx, c, []byte(flowstest.EveryTypeYAML(exportQuestions))); err != nil {
		b.Fatal(err)
	}
	begin := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	populate := time.Now()
	makeExportFixture(b, c, exportParticipants, func(n int) time.Time { return begin.Add(time.Duration(n) * time.Minute) }, 20*time.Second).insert(b, s)
	b.Logf("inserted %d participants × %d answers in %v", exportParticipants, exportQuestions, time.Since(populate).Round(time.Millisecond))

	for b.Loop() {
		rs, err := s.Responses(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != exportParticipants || len(rs[len(rs)-1].Answers) != exportQuestions {
			b.Fatalf("got %d responses, the last with %d answers; want %d with %d", len(rs), len(rs[len(rs)-1].Answers), exportParticipants, exportQuestions)
		}
	}
	b.ReportMetric(float64(exportParticipants), "responses/op")
}
