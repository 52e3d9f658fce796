package slackbot

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// percentile returns the p-th percentile (0-100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// BenchmarkSocketModeAck measures how soon Socket Mode envelopes are
// acknowledged (stored in the inbox first) when 50 participants answer at
// once, on the embedded store, with the runner and the sender busy with the
// same answers. Slack's limit is 3 s; the goal is 100 ms at the 99th
// percentile. Each iteration is one burst of 50 answers.
//
//	go test ./bots/slackbot -run '^$' -bench SocketModeAck -benchtime 20x
func BenchmarkSocketModeAck(b *testing.B) {
	const people = 50
	w := newWorld(b)
	f := w.f
	c := w.cons["draft-questions"]
	users := make([]string, people)
	for i := range users {
		users[i] = fmt.Sprintf("UB%03d", i)
	}
	burst := func(label string, send func(i int, u string) string) []string {
		envs := make([]string, people)
		for i, u := range users {
			envs[i] = send(i, u)
		}
		waitFor(b, label+" acknowledged", func() bool {
			for _, e := range envs {
				if f.ackCount(e) == 0 {
					return false
				}
			}
			return true
		})
		waitFor(b, label+" handled", w.settled)
		return envs
	}
	lastMsg := func(u string) *fakeMessage {
		msgs := f.posted("D" + u)
		if len(msgs) == 0 {
			b.Fatalf("%s: no message", u)
		}
		return msgs[len(msgs)-1]
	}
	// Everyone starts the consultation and consents: they are then at its
	// first question.
	burst("start", func(_ int, u string) string {
		return f.envelope("slash_commands", f.slash(u, "", "D"+u))
	})
	burst("pick", func(_ int, u string) string {
		m := lastMsg(u)
		btn, ok := buttonByLabel(m, c.Title.In("", c.Language))
		if !ok {
			b.Fatalf("%s: no button for %s in %q", u, c.ID, m.text())
		}
		return f.envelope("interactive", f.press(u, m, btn.Value, nil))
	})
	burst("consent", func(_ int, u string) string {
		m := lastMsg(u)
		return f.envelope("interactive", f.press(u, m, m.buttons()[0].Value, nil))
	})

	var measured []string
	answers := []string{"Peer mentor", "4", "Keep it as it is", "2", "Drop it", "5", "keep", "none", "no"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		envs := burst("answers", func(j int, u string) string {
			return f.envelope("events_api", f.dmEvent(fmt.Sprintf("EvB-%d-%d", i, j), u, answers[i%len(answers)]))
		})
		measured = append(measured, envs...)
	}
	b.StopTimer()

	f.mu.Lock()
	lat := make([]time.Duration, 0, len(measured))
	for _, e := range measured {
		lat = append(lat, f.acks[e][0].Latency)
	}
	f.mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ack-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ack-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ack-ms")
	b.ReportMetric(float64(len(lat)), "envelopes")
}

// BenchmarkDelivery measures the sender: one message to each of 200
// participants' DMs, from the embedded store's outbox, under a workspace
// budget of 50 messages a second (burst 1). It reports the rate reached as
// a fraction of the budget (goal: at least 0.95), and fails on a lost or
// duplicated message.
//
//	go test ./bots/slackbot -run '^$' -bench Delivery -benchtime 3x
func BenchmarkDelivery(b *testing.B) {
	const (
		people = 200
		budget = 50.0
	)
	ctx := b.Context()
	st, err := storage.Open(ctx, storage.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close(context.Background()) })
	f := newFakeSlack(b)
	startBot(b, f, &recorder{}, st, false, func(c *Config) {
		c.WorkspaceRate, c.WorkspaceBurst = budget, 1
		c.ChannelRate, c.ChannelBurst = 1, 3
	})
	var fractions, paces []float64
	var enqueue []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		msgs := make([]flows.Outgoing, people)
		for j := range msgs {
			u := fmt.Sprintf("UD%03d", j)
			msgs[j] = flows.Outgoing{
				ID: fmt.Sprintf("bench-%d-%d", i, j), Channel: Channel, Participant: "slack:" + f.Team + ":" + u,
				To: "D" + u, Reply: flows.Reply{Text: fmt.Sprintf("Meeting reminder %d", i)},
			}
		}
		before := len(f.allPosted())
		b.StartTimer()
		start := time.Now()
		if err := st.Enqueue(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
		queued := time.Now()
		waitFor(b, "every message posted", func() bool { return len(f.allPosted()) >= before+people })
		b.StopTimer()
		posted := f.allPosted()[before:]
		first, last := posted[0].At, posted[len(posted)-1].At
		// From the outbox holding them to the last one posted; and between
		// the first and the last post (the pace once going).
		fractions = append(fractions, (people-1)/budget/last.Sub(queued).Seconds())
		paces = append(paces, (people-1)/budget/last.Sub(first).Seconds())
		enqueue = append(enqueue, queued.Sub(start))

		// 0 lost, 0 duplicates: each DM got this round's message exactly once.
		waitFor(b, "the outbox drained", func() bool {
			counts, err := st.OutboxCounts(ctx, Channel)
			return err == nil && counts[storage.OutPending]+counts[storage.OutClaimed]+counts[storage.OutSending] == 0
		})
		got := map[string]int{}
		for _, m := range f.allPosted()[before:] {
			got[m.Channel]++
		}
		for j := range people {
			if n := got[fmt.Sprintf("DUD%03d", j)]; n != 1 {
				b.Fatalf("round %d: DM %d got %d messages, want 1", i, j, n)
			}
		}
		if extra := len(f.allPosted()) - before - people; extra != 0 {
			b.Fatalf("round %d: %d messages too many", i, extra)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(fractions)
	b.ReportMetric(fractions[0], "min-budget-fraction")
	b.ReportMetric(fractions[len(fractions)/2], "median-budget-fraction")
	slices.Sort(paces)
	b.ReportMetric(paces[0], "min-pace-fraction")
	slices.Sort(enqueue)
	b.ReportMetric(float64(enqueue[len(enqueue)/2].Milliseconds()), "enqueue-200-ms")
}
