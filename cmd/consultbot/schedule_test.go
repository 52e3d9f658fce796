package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/bots/console"
	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
	"github.com/consultbot/consultbot/storage"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// screen is the terminal's output, read as it comes.
type screen struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor polls until text appears in output not yet consumed, and
// consumes output up to its end.
func (s *screen) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		rest := s.buf.String()[s.seen:]
		if i := strings.Index(rest, text); i >= 0 {
			s.seen += i + len(text)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %q; the terminal shows:\n%s", text, s.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the output, not waiting for time to pass
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestReminderReachesTheTerminal: a participant starts draft-questions in
// the terminal and goes silent at 22:15 London time (BST). Two days later
// the after: 2d nudge is due at 22:15, inside the quiet hours, so it goes
// at 09:00 the next morning, once, although the scheduler that planned it
// stopped and another one started in between.
func TestReminderReachesTheTerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := storage.Open(ctx, storage.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	all, err := flows.LoadDir("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	var cs []*flows.Consultation
	for _, c := range all {
		if c.ID == "draft-questions" {
			cs = append(cs, c)
		}
	}
	if len(cs) != 1 {
		t.Fatalf("examples: got %d draft-questions, want 1", len(cs))
	}

	clock := &fakeClock{now: mustTime(t, "2026-06-02T21:10:00Z")} // a Tuesday, 22:10 BST
	runner := storage.NewRunner(st, cs, storage.RunnerOptions{Now: clock.Now})
	in, typed := io.Pipe()
	out := &screen{}
	con := console.New(console.Config{In: in, Out: out, Identity: "console:sam", Now: clock.Now, Poll: 5 * time.Millisecond}, runner, st)
	done := make(chan error, 1)
	go func() { done <- con.Run(ctx) }()
	defer func() {
		typed.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("console: %v", err)
		}
	}()
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(typed, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	out.waitFor(t, "Do you agree to take part?")
	say("yes")
	out.waitFor(t, "which of these best describes you?")
	clock.Set(mustTime(t, "2026-06-02T21:15:00Z")) // 22:15 BST: the last answer
	say("2")
	out.waitFor(t, "Draft question 1:")

	const nudge = "Hello again. You started giving feedback on our draft questions."
	tickUntil := func(s *scheduler.Scheduler, from, to time.Time) {
		t.Helper()
		for now := from; !now.After(to); now = now.Add(15 * time.Minute) {
			clock.Set(now)
			if _, err := s.Tick(ctx, now); err != nil {
				t.Fatalf("Tick(%s): %v", now, err)
			}
		}
	}
	queued := func() int {
		t.Helper()
		counts, err := st.OutboxCounts(ctx, console.Channel)
		if err != nil {
			t.Fatal(err)
		}
		return counts[storage.OutPending] + counts[storage.OutClaimed] + counts[storage.OutSending]
	}

	// The first scheduler runs past the due time (Thursday 22:15 BST),
	// plans the nudge for after the quiet hours, and stops.
	first := schedulerAt(st, cs, nil, clock.Now)
	tickUntil(first, mustTime(t, "2026-06-02T21:30:00Z"), mustTime(t, "2026-06-04T23:00:00Z"))
	jobs, err := st.Jobs().List(ctx, "draft-questions")
	if err != nil {
		t.Fatal(err)
	}
	due, sendAt := mustTime(t, "2026-06-04T21:15:00Z"), mustTime(t, "2026-06-05T08:00:00Z") // 09:00 BST
	if len(jobs) != 1 || jobs[0].State != scheduler.StatePending || !jobs[0].Due.Equal(due) || !jobs[0].SendAt.Equal(sendAt) {
		t.Fatalf("jobs after the first scheduler: got %+v, want one pending nudge due %s, sent from %s", jobs, due, sendAt)
	}

	// Another starts; nothing goes out in the night.
	second := schedulerAt(st, cs, nil, clock.Now)
	if first.Owner() == second.Owner() {
		t.Fatalf("two schedulers share the owner name %q", first.Owner())
	}
	tickUntil(second, mustTime(t, "2026-06-04T23:15:00Z"), mustTime(t, "2026-06-05T07:45:00Z"))
	if n := queued(); n != 0 {
		t.Fatalf("before 09:00 local: %d messages queued, want none", n)
	}
	if strings.Contains(out.String(), nudge) {
		t.Fatalf("the nudge showed before 09:00 local:\n%s", out.String())
	}
	tickUntil(second, sendAt, sendAt)
	out.waitFor(t, nudge)

	// Nothing more until the second nudge would be due (Saturday 22:15 BST).
	tickUntil(second, sendAt.Add(15*time.Minute), mustTime(t, "2026-06-06T20:00:00Z"))
	tickUntil(first, mustTime(t, "2026-06-06T20:15:00Z"), mustTime(t, "2026-06-06T20:15:00Z")) // the first one back
	if n := queued(); n != 0 {
		t.Errorf("after the nudge: %d messages queued, want none", n)
	}
	if n := strings.Count(out.String(), nudge); n != 1 {
		t.Errorf("the nudge showed %d times, want once:\n%s", n, out.String())
	}
	j, err := st.Jobs().Job(ctx, jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != scheduler.StateSent || j.Owner != second.Owner() || j.Attempts != 1 {
		t.Errorf("the nudge's job: got %+v, want sent by the second scheduler on its first attempt", j)
	}
	london, _ := time.LoadLocation("Europe/London")
	if got := j.SendAt.In(london).Format("Mon 15:04"); got != "Fri 09:00" {
		t.Errorf("the nudge went at %s London time, want Fri 09:00", got)
	}
}

func TestPruneRuns(t *testing.T) {
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	now := mustTime(t, "2026-06-02T12:00:00Z")
	j := scheduler.Job{ID: "c:s0|tg:-1|x", Rule: "c:s0", Kind: scheduler.KindSchedule, Consultation: "c", Recipient: "tg:-1",
		Text: "Meeting tonight", Due: now, SendAt: now, State: scheduler.StatePending, Created: now}
	if err := st.Jobs().Insert(ctx, []scheduler.Job{j}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Jobs().Claim(ctx, "me", now, now.Add(time.Minute), 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim: got %v, %v", got, err)
	}
	if err := st.Jobs().Finish(ctx, j.ID, "me", scheduler.StateSent, "", now); err != nil {
		t.Fatal(err)
	}
	if err := prune(ctx, st, now.Add(storage.DefaultRetention+time.Hour)); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if after, _ := st.Jobs().Job(ctx, j.ID); after.Text != "" || after.State != scheduler.StateSent {
		t.Errorf("after prune: got %+v, want the job kept without its text", after)
	}
}
