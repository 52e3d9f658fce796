package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
)

// benchQuestions is the length of the benchmark's consultation: a
// participant takes benchQuestions+2 steps (start, consent, answers).
const benchQuestions = 40

func benchConsultation(b *testing.B) *flows.Consultation {
	var y strings.Builder
	y.WriteString("id: bench\ntitle: Bench\nopen: true\nconsent:\n  version: 1\n  text: Agree?\nquestions:\n")
	for i := range benchQuestions {
		fmt.Fprintf(&y, "  - id: q%d\n    type: text\n    text: Question %d?\n", i, i)
	}
	y.WriteString("closing: Thanks.\n")
	c, err := flows.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// roundTrips counts the commands sent to the store and the time they took.
type roundTrips struct {
	n    atomic.Int64
	busy atomic.Int64 // nanoseconds
}

func (rt *roundTrips) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started:   func(context.Context, *event.CommandStartedEvent) { rt.n.Add(1) },
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { rt.busy.Add(int64(e.Duration)) },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { rt.busy.Add(int64(e.Duration)) },
	}
}

// BenchmarkStep measures flow steps (load, advance, write, queue) on the
// embedded store for 1 and 50 participants at once, the store round trips
// per step (counted by the driver's command monitor), and the raw rate of
// the same kinds of round trips made straight through the driver. The two
// alternate in rounds within one run, so both see the same machine; then
// overhead-% = 1 - (steps/s × roundtrips/step) / raw-rt/s is the share of a
// step's time the runner adds to the storage time.
func BenchmarkStep(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("participants=%d", n), func(b *testing.B) { benchStep(b, n) })
	}
}

// benchWorker is one simulated participant after another.
type benchWorker struct {
	w, person, step int
}

func (bw *benchWorker) identity() string { return fmt.Sprintf("console:w%d-%d", bw.w, bw.person) }

func benchStep(b *testing.B, workers int) {
	ctx := context.Background()
	var rt roundTrips
	s, err := Open(ctx, Config{DataDir: b.TempDir(), Monitor: rt.monitor()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	c := benchConsultation(b)
	r := NewRunner(s, []*flows.Consultation{c}, RunnerOptions{})
	ws := make([]*benchWorker, workers)
	for i := range ws {
		ws[i] = &benchWorker{w: i}
	}

	const rounds = 4
	var seq atomic.Int64
	var answerRTMax atomic.Int64
	var stepTime, rawTime, stepBusy time.Duration
	var stepTrips, rawTrips int64
	b.ResetTimer()
	for round := range rounds {
		budget := int64(b.N/rounds + 1)
		if round == rounds-1 {
			budget = int64(b.N) - int64(rounds-1)*int64(b.N/rounds+1)
		}
		if budget <= 0 {
			continue
		}
		var left atomic.Int64
		left.Store(budget)
		rt.n.Store(0)
		rt.busy.Store(0)
		var wg sync.WaitGroup
		start := time.Now()
		for _, bw := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					in := flows.Input{
						ID:          fmt.Sprintf("bench:%d", seq.Add(1)),
						Participant: bw.identity(),
						Channel:     "console",
						ReplyTo:     "term",
					}
					switch bw.step {
					case 0:
						in.Command = flows.CmdStart
					case 1:
						in.Text = "yes"
					default:
						in.Text = fmt.Sprintf("answer %d", bw.step)
					}
					before := rt.n.Load()
					if err := r.Handle(ctx, in); err != nil {
						b.Error(err)
						return
					}
					if workers == 1 && bw.step > 2 && bw.step < benchQuestions+1 {
						// An answer in the middle: what a typical step costs.
						if d := rt.n.Load() - before; d > answerRTMax.Load() {
							answerRTMax.Store(d)
						}
					}
					if bw.step++; bw.step == benchQuestions+2 {
						bw.person, bw.step = bw.person+1, 0
					}
				}
			}()
		}
		wg.Wait()
		stepTime += time.Since(start)
		trips := rt.n.Load()
		stepTrips += trips
		stepBusy += time.Duration(rt.busy.Load())

		b.StopTimer()
		n, d := rawRoundTrips(b, s, ws, trips)
		rawTrips += n
		rawTime += d
		b.StartTimer()
	}
	b.StopTimer()

	perStep := float64(stepTrips) / float64(b.N)
	stepsPerSec := float64(b.N) / stepTime.Seconds()
	raw := float64(rawTrips) / rawTime.Seconds()
	b.ReportMetric(perStep, "roundtrips/step")
	b.ReportMetric(stepsPerSec, "steps/s")
	b.ReportMetric(raw, "raw-rt/s")
	b.ReportMetric(100*(1-stepsPerSec*perStep/raw), "overhead-%")
	if workers == 1 {
		b.ReportMetric(float64(answerRTMax.Load()), "max-rt/answer-step")
		// With one participant at a time, the time outside store commands
		// is what the runner adds.
		b.ReportMetric(100*(1-stepBusy.Seconds()/stepTime.Seconds()), "outside-store-%")
	}
}

// rawRoundTrips makes about total round trips of the kinds a step sends
// (find the session by _id, upsert an answer, update the session, insert an
// outbox item) straight through the driver, one goroutine per worker, each
// on a copy of its worker's current session. It returns how many it made
// and how long they took.
func rawRoundTrips(b *testing.B, s *Store, ws []*benchWorker, total int64) (int64, time.Duration) {
	ctx := context.Background()
	var out outDoc
	if err := s.c(colOutbox).FindOne(ctx, bson.D{}).Decode(&out); err != nil {
		b.Fatal(err)
	}
	var docs []sessionDoc
	tag := randomHex(4)
	for _, bw := range ws {
		var doc sessionDoc
		found := false
		for _, who := range []string{bw.identity(), fmt.Sprintf("console:w%d-%d", bw.w, bw.person-1)} {
			p, err := s.Participant(ctx, who)
			if err != nil {
				continue
			}
			if err := s.c(colSessions).FindOne(ctx, byID(sessionID(p.ID, "bench"))).Decode(&doc); err == nil {
				found = true
				break
			}
		}
		if !found {
			continue // this worker has not had a turn yet
		}
		doc.ID = fmt.Sprintf("raw:%d:%s", bw.w, tag)
		if err := s.indexIDs(ctx, "raw_sessions", "raw_answers", "raw_outbox"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.c("raw_sessions").InsertOne(ctx, doc); err != nil {
			b.Fatal(err)
		}
		docs = append(docs, doc)
	}
	answer := flows.Answer{Type: flows.TypeText, Text: "raw answer", At: time.Now()}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, doc := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := doc.ID
			for n := next.Add(4); n <= total+3; n = next.Add(4) {
				var got sessionDoc
				if err := s.c("raw_sessions").FindOne(ctx, byID(sid)).Decode(&got); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.c("raw_answers").UpdateOne(ctx, byID(fmt.Sprintf("%s:%d", sid, n)),
					bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: answer}, {Key: "response", Value: sid}}}},
					options.UpdateOne().SetUpsert(true)); err != nil {
					b.Error(err)
					return
				}
				got.Version++
				if _, err := s.c("raw_sessions").UpdateOne(ctx, byID(sid), bson.D{{Key: "$set", Value: bson.D{
					{Key: "state", Value: got.State}, {Key: "version", Value: got.Version},
					{Key: "applied", Value: got.Applied}, {Key: "recent", Value: got.Recent},
				}}}); err != nil {
					b.Error(err)
					return
				}
				o := out
				o.ID = fmt.Sprintf("%s:%d", sid, n)
				if _, err := s.c("raw_outbox").InsertOne(ctx, o); err != nil {
					b.Error(err)
					return
				}
				done.Add(4)
			}
		}()
	}
	wg.Wait()
	return done.Load(), time.Since(start)
}
