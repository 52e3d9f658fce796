package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/flows/flowstest"
	"github.com/consultbot/consultbot/storage"
)

// The export benchmark's data: benchPeople participants who each answered
// all benchQuestions questions, put in through the runner by benchWorkers
// participants at a time.
const (
	benchPeople    = 1000
	benchQuestions = 20
	benchWorkers   = 50
)

// populateThroughRunner takes people participants through c with the
// runner, workers of them at a time, as a channel would hand their messages
// over. It returns how many steps it took.
func populateThroughRunner(ctx context.Context, r *storage.Runner, c *flows.Consultation, people, workers int) (int64, error) {
	var next, steps atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < people; n = int(next.Add(1)) - 1 {
				identity := fmt.Sprintf("console:bench-%d", n)
				for k, in := range flowstest.Inputs(c, n) {
					in.ID = fmt.Sprintf("console:bench:%d:%d", n, k)
					in.Participant, in.Channel, in.ReplyTo = identity, "console", identity
					if err := r.Handle(ctx, in); err != nil {
						mu.Lock()
						if first == nil {
							first = fmt.Errorf("participant %d, input %d: %w", n, k, err)
						}
						mu.Unlock()
						return
					}
					steps.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return steps.Load(), first
}

// BenchmarkExport measures the whole export (Store.Responses and the
// formatting, as `consultbot export` does it) of 1,000 participants × 20
// answers on the embedded store, in CSV and JSON. The data is put in once,
// through the runner with 50 participants at a time (a minute or two); its
// time is logged and reported as populate-s. Use -benchtime for more iterations rather than -count,
// which would put the data in again.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(ctx)
	src := flowstest.EveryTypeYAML(benchQuestions)
	c, err := flows.Parse("export.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	if err := st.SaveConsultation(ctx, c, []byte(src)); err != nil {
		b.Fatal(err)
	}
	r := storage.NewRunner(st, []*flows.Consultation{c}, storage.RunnerOptions{})
	start := time.Now()
	steps, err := populateThroughRunner(ctx, r, c, benchPeople, benchWorkers)
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Logf("populated %d participants × %d answers through the runner (%d participants at a time): %d steps in %v, %.0f steps/s",
		benchPeople, benchQuestions, benchWorkers, steps, took.Round(time.Millisecond), float64(steps)/took.Seconds())

	for _, format := range []string{"csv", "json"} {
		b.Run(format, func(b *testing.B) {
			req := exportRequest{Consultation: c.ID, Format: format}
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				if err := writeExport(ctx, st, c, req, &out, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(out.Len()))
			b.ReportMetric(took.Seconds(), "populate-s")
			if err := checkBenchExport(format, out.Bytes()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// checkBenchExport checks that an export holds every participant with
// every answer.
func checkBenchExport(format string, out []byte) error {
	if format == "csv" {
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
		if len(rows) != benchPeople+1 {
			return fmt.Errorf("export csv: got %d rows, want a header and %d", len(rows), benchPeople)
		}
		for i, row := range rows[1:] {
			for j, cell := range row {
				if cell == "" {
					return fmt.Errorf("export csv: row %d: got column %s empty, want every column filled", i+1, rows[0][j])
				}
			}
		}
		return nil
	}
	var doc struct {
		Responses []struct {
			Status  string         `json:"status"`
			Answers map[string]any `json:"answers"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("export json: %w", err)
	}
	if len(doc.Responses) != benchPeople {
		return fmt.Errorf("export json: got %d responses, want %d", len(doc.Responses), benchPeople)
	}
	for i, r := range doc.Responses {
		if r.Status != "completed" || len(r.Answers) != benchQuestions {
			return fmt.Errorf("export json: response %d: got status %q with %d answers, want completed with %d", i+1, r.Status, len(r.Answers), benchQuestions)
		}
	}
	return nil
}
