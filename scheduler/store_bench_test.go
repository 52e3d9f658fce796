package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
	"github.com/consultbot/consultbot/storage"
)

// nudge nudges whoever started and went quiet for a day, at any hour.
const nudge = `
id: nudge
title: Nudge
open: true
quiet_hours: none
consent:
  version: 1
  text: Hello.
questions:
  - id: q
    type: text
    text: Anything to add?
closing: Thanks.
reminders:
  - after: 1d
    text: Still there?
`

// sendLimit is the channel fake's rate limit: Telegram's, per bot.
const sendLimit = 30

// BenchmarkStoreSendDue: 1,000 participants went quiet a day ago; one
// scheduler instance plans and hands their nudges to the outbox on the
// embedded store while a channel fake delivers from it at sendLimit
// messages a second. Reports the rate achieved from the first delivery to
// the last (msgs/s, and of-limit, its share of sendLimit), the same from
// the start of the tick (e2e-of-limit), how long the first delivery took
// (first-s: planning 1,000 jobs, then the first claim), and messages
// delivered more than once (dups).
func BenchmarkStoreSendDue(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	c := mustParse(b, nudge)
	start := at(b, "2026-06-01T12:00:00Z")
	now := start.Add(24*time.Hour + time.Minute)
	for b.Loop() {
		b.StopTimer()
		st, err := storage.Open(ctx, storage.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		r := storage.NewRunner(st, []*flows.Consultation{c}, storage.RunnerOptions{Now: func() time.Time { return start }})
		for i := range n {
			who := fmt.Sprintf("tg:%d", 1000+i)
			for k, in := range []flows.Input{{Command: flows.CmdStart, Arg: c.ID}, {Text: "yes"}} {
				in.ID, in.Participant, in.Channel, in.ReplyTo = fmt.Sprintf("tg:u:%d:%d", i, k), who, "telegram", who[3:]
				if err := r.Handle(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		}
		for { // the replies to joining go out before the benchmark
			msgs, err := st.Claim(ctx, "telegram", "setup", 500, time.Minute, now)
			if err != nil {
				b.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if err := st.Sending(ctx, m.ID, "setup", now); err != nil {
					b.Fatal(err)
				}
				if err := st.Sent(ctx, m.ID, "", now); err != nil {
					b.Fatal(err)
				}
			}
		}
		sc := st.Scheduling([]*flows.Consultation{c})
		s := scheduler.New(st.Jobs(), sc, sc, scheduler.Options{})
		b.StartTimer()

		began := time.Now()
		ticked := make(chan scheduler.Stats, 1)
		go func() {
			stats, err := s.Tick(ctx, now)
			if err != nil {
				b.Error(err)
			}
			ticked <- stats
		}()
		delivered, first, last := deliver(b, st, now, n, ticked)
		b.StopTimer()

		dups := 0
		for _, k := range delivered {
			dups += k - 1
		}
		if len(delivered) != n {
			b.Errorf("delivered %d distinct messages, want %d", len(delivered), n)
		}
		sustained := float64(len(delivered)-1) / last.Sub(first).Seconds()
		overall := float64(len(delivered)) / last.Sub(began).Seconds()
		b.ReportMetric(sustained, "msgs/s")
		b.ReportMetric(sustained/sendLimit, "of-limit")
		b.ReportMetric(overall/sendLimit, "e2e-of-limit")
		b.ReportMetric(float64(dups), "dups")
		b.ReportMetric(first.Sub(began).Seconds(), "first-s")
		if err := st.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// deliver is the channel fake: it takes due messages from the telegram
// outbox and marks them sent, at most sendLimit a second, until the tick
// is over and the outbox empty or want are delivered. It returns the
// deliveries per message id and the time of the last.
func deliver(b *testing.B, st *storage.Store, now time.Time, want int, ticked <-chan scheduler.Stats) (delivered map[string]int, first, last time.Time) {
	ctx := context.Background()
	limit := rate.NewLimiter(sendLimit, 1)
	delivered = map[string]int{}
	done := false
	for {
		// Batches of 5s of sending: a claim scans the embedded outbox.
		msgs, err := st.Claim(ctx, "telegram", "fake", 5*sendLimit, time.Minute, now)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if err := limit.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			if err := st.Sending(ctx, m.ID, "fake", now); err != nil {
				b.Fatal(err)
			}
			if err := st.Sent(ctx, m.ID, "", now); err != nil {
				b.Fatal(err)
			}
			delivered[m.ID]++
			last = time.Now()
			if first.IsZero() {
				first = last
			}
		}
		if len(msgs) > 0 {
			continue
		}
		if done || len(delivered) >= want {
			return delivered, first, last
		}
		select {
		case <-ticked:
			done = true
		case <-time.After(time.Millisecond): // poll the outbox again
		}
	}
}

// BenchmarkStoreClaim measures one claim of a batch of 50 on the embedded
// store with 1,000 and with 100,000 jobs waiting, and (load-ms) how long a
// restarted store takes to read them back before its first claim.
func BenchmarkStoreClaim(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) { benchClaim(b, n) })
	}
}

func benchClaim(b *testing.B, n int) {
	const batch = 50
	ctx := context.Background()
	dir := b.TempDir()
	st, err := storage.Open(ctx, storage.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	base := at(b, "2026-06-01T12:00:00Z")
	jobs := make([]scheduler.Job, 0, 5000)
	for i := range n {
		due := base.Add(-time.Duration(i) * time.Second)
		to := fmt.Sprintf("tg:-%d", i%97)
		jobs = append(jobs, scheduler.Job{
			ID: scheduler.JobID("bench:s0", to, due), Rule: "bench:s0", Kind: scheduler.KindSchedule,
			Consultation: "bench", Recipient: to, Channel: "telegram", To: to[3:],
			Text: "The group meets on Thursday.", Due: due, SendAt: due, State: scheduler.StatePending, Created: base,
		})
		if len(jobs) == cap(jobs) || i == n-1 {
			if err := st.Jobs().Insert(ctx, jobs); err != nil {
				b.Fatal(err)
			}
			jobs = jobs[:0]
		}
	}
	if err := st.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if st, err = storage.Open(ctx, storage.Config{DataDir: dir}); err != nil {
		b.Fatal(err)
	}
	defer st.Close(ctx)
	js := st.Jobs()
	began := time.Now()
	if _, err := js.Claim(ctx, "warm", base.Add(-1000*time.Hour), base, 1); err != nil { // nothing due then: only the load
		b.Fatal(err)
	}
	load := time.Since(began)

	// Each claim comes 2ms after the last, whose leases (1ms) have lapsed:
	// every claim takes a full batch, as long as the benchmark runs.
	now := base
	for b.Loop() {
		now = now.Add(2 * time.Millisecond)
		got, err := js.Claim(ctx, "bench", now, now.Add(time.Millisecond), batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != batch {
			b.Fatalf("claimed %d, want %d", len(got), batch)
		}
	}
	b.ReportMetric(float64(load.Milliseconds()), "load-ms")
}
