package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// rig is one shared store with any number of scheduler instances on it.
type rig struct {
	jobs     *memJobs
	sessions *fakeSessions
	out      *fakeOutbox
}

func newRig(cs ...*flows.Consultation) *rig {
	return &rig{jobs: newMemJobs(), sessions: newFakeSessions(cs...), out: newFakeOutbox()}
}

func (r *rig) instance(owner string, o Options) *Scheduler {
	o.Owner = owner
	return New(r.jobs, r.sessions, r.out, o)
}

// tick runs one instance's Tick and fails the test on an error.
func tick(t *testing.T, s *Scheduler, now time.Time) Stats {
	t.Helper()
	st, err := s.Tick(context.Background(), now)
	if err != nil {
		t.Fatalf("Tick(%s): %v", now, err)
	}
	return st
}

// run ticks s every step from from until to (inclusive).
func run(t *testing.T, s *Scheduler, from, to time.Time, step time.Duration) {
	t.Helper()
	for now := from; !now.After(to); now = now.Add(step) {
		tick(t, s, now)
	}
}

// sentLog writes each queued message as "rule@created".
func sentLog(msgs []flows.Outgoing) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		rule, _, _ := strings.Cut(m.ID, "|")
		out[i] = rule + "@" + m.Created.UTC().Format(time.RFC3339)
	}
	return out
}

func TestTickEachRuleFires(t *testing.T) {
	c := draft(t)
	r := newRig(c)
	r.sessions.set(c.ID, someone(t))
	s := r.instance("a", Options{})
	run(t, s, at(t, "2026-12-01T10:00:00Z"), at(t, "2026-12-22T00:00:00Z"), 10*time.Minute)

	want := []string{
		"draft-questions:r0@2026-12-03T10:30:00Z", // after 2d
		"draft-questions:r0@2026-12-05T10:30:00Z", // after another 2d: max 2
		"draft-questions:r1@2026-12-07T10:00:00Z", // Monday 10:00
		"draft-questions:r1@2026-12-14T10:00:00Z", // Monday 10:00
		"draft-questions:r2@2026-12-19T17:00:00Z", // 24h before the close
	}
	if got := sentLog(r.out.sent()); !slices.Equal(got, want) {
		t.Errorf("sent:\ngot  %q\nwant %q", got, want)
	}
	if want := []string{"draft-questions@2026-12-20T17:00:00Z"}; !slices.Equal(r.sessions.closes, want) {
		t.Errorf("closes: got %q, want %q", r.sessions.closes, want)
	}
	m := r.out.sent()[0]
	wantMsg := flows.Outgoing{
		ID: "draft-questions:r0|p1|20261203T103000Z", Channel: "telegram", Participant: "tg:1", To: "1",
		Reply:     flows.Reply{Text: "You started 'Feedback on our draft interview questions' but haven't finished — whenever you're ready, just reply here to carry on."},
		NotBefore: at(t, "2026-12-03T10:30:00Z"), Created: at(t, "2026-12-03T10:30:00Z"),
	}
	if fmt.Sprint(m) != fmt.Sprint(wantMsg) {
		t.Errorf("first message:\ngot  %+v\nwant %+v", m, wantMsg)
	}
	for _, j := range r.jobs.all() {
		if j.State != StateSent {
			t.Errorf("job %s: got state %s (%s), want sent", j.ID, j.State, j.Reason)
		}
	}
}

func TestTickQuietHoursDefer(t *testing.T) {
	c := draft(t)
	c.Reminders = c.Reminders[1:2] // Monday 10:00 London
	r := newRig(c)
	v := someone(t)
	v.Location = mustLoc(t, "America/New_York") // 05:00 there: quiet until 09:00 (14:00Z)
	r.sessions.set(c.ID, v)
	s := r.instance("a", Options{})
	run(t, s, at(t, "2026-12-07T09:00:00Z"), at(t, "2026-12-07T15:00:00Z"), 5*time.Minute)
	want := []string{"draft-questions:r0@2026-12-07T14:00:00Z"}
	if got := sentLog(r.out.sent()); !slices.Equal(got, want) {
		t.Errorf("sent: got %q, want %q", got, want)
	}
	if id := r.out.sent()[0].ID; id != "draft-questions:r0|p1|20261207T100000Z" {
		t.Errorf("got ID %q, want the due time before deferral in it", id)
	}
}

// TestTickQuietHoursAtSend: a job that becomes claimable in quiet hours
// (sent late after downtime) waits for the end rather than going at night.
func TestTickQuietHoursAtSend(t *testing.T) {
	c := draft(t)
	c.Reminders = []flows.Reminder{{Kind: flows.RemindCron, Cron: "0 20 * * *", Text: flows.Plain("Evening reminder")}}
	r := newRig(c)
	r.sessions.set(c.ID, someone(t))
	s := r.instance("a", Options{})
	tick(t, s, at(t, "2026-12-02T22:00:00Z")) // down from 19:00 to 22:00: the 20:00 one is due, but it is night
	if got := r.out.sent(); len(got) != 0 {
		t.Fatalf("at 22:00: got %q sent, want nothing", sentLog(got))
	}
	tick(t, s, at(t, "2026-12-03T09:00:00Z"))
	want := []string{"draft-questions:r0@2026-12-03T09:00:00Z"}
	if got := sentLog(r.out.sent()); !slices.Equal(got, want) {
		t.Errorf("sent: got %q, want %q", got, want)
	}
}

func TestTickDailyCap(t *testing.T) {
	var cs []*flows.Consultation
	for _, id := range []string{"a", "b", "c", "d"} {
		c := draft(t)
		c.ID = id
		c.Reminders = []flows.Reminder{{Kind: flows.RemindAfter, After: 48 * time.Hour, Max: 1}}
		c.ClosesAt = at(t, "2026-12-20T17:00:00Z")
		cs = append(cs, c)
	}
	// d warns before it closes, at the same time as the others nudge.
	cs[3].Reminders = []flows.Reminder{{Kind: flows.RemindBeforeClose, Before: 48 * time.Hour}}
	cs[3].ClosesAt = at(t, "2026-12-05T10:30:00Z")
	r := newRig(cs...)
	for _, c := range cs {
		r.sessions.set(c.ID, someone(t))
	}
	s := r.instance("one", Options{})
	st := tick(t, s, at(t, "2026-12-03T10:30:00Z"))
	if st.Sent != 2 || st.Skipped != 1 || st.Deferred != 1 {
		t.Errorf("at 10:30: got %+v, want 2 sent, 1 skipped, 1 deferred", st)
	}
	j, _ := r.jobs.get("c:r0|p1|20261203T103000Z")
	if j.State != StateSkipped || j.Reason != "daily reminder limit reached" {
		t.Errorf("third nudge: got %s (%s), want skipped (daily reminder limit reached)", j.State, j.Reason)
	}
	run(t, s, at(t, "2026-12-03T10:40:00Z"), at(t, "2026-12-04T12:00:00Z"), 20*time.Minute)
	want := []string{"a:r0@2026-12-03T10:30:00Z", "b:r0@2026-12-03T10:30:00Z", "d:r0@2026-12-04T09:00:00Z"}
	if got := sentLog(r.out.sent()); !slices.Equal(got, want) {
		t.Errorf("sent:\ngot  %q\nwant %q", got, want)
	}
	// A cap of 3 lets the third nudge through.
	r2 := newRig(cs[:3]...)
	for _, c := range cs[:3] {
		r2.sessions.set(c.ID, someone(t))
	}
	if st := tick(t, r2.instance("one", Options{DailyCap: 3}), at(t, "2026-12-03T10:30:00Z")); st.Sent != 3 {
		t.Errorf("cap 3: got %d sent, want 3", st.Sent)
	}
}

// TestTickStops: reminders planned before the person paused, stopped,
// withdrew, finished or blocked the bot are skipped when their time comes.
func TestTickStops(t *testing.T) {
	tests := []struct {
		name   string
		change func(*View)
		reason string
	}{
		{"paused", func(v *View) { v.Status = flows.StatusPaused }, "participant paused"},
		{"paused reminders", func(v *View) { v.Paused = true }, "participant paused"},
		{"stopped", func(v *View) { v.Status = flows.StatusStopped }, "session stopped"},
		{"withdrawn", func(v *View) { v.Status = flows.StatusWithdrawn }, "session withdrawn"},
		{"completed", func(v *View) { v.Status = flows.StatusCompleted }, "session completed"},
		{"blocked the bot", func(v *View) { v.Unreachable = true }, "participant unreachable"},
		{"answered since", func(v *View) { v.Updated = at(t, "2026-12-04T08:00:00Z") }, "participant active since the nudge was planned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Reminders = c.Reminders[:1]
			r := newRig(c)
			v := someone(t)
			v.Updated = at(t, "2026-12-01T22:30:00Z") // nudge due 3 Dec 22:30, sent at 09:00
			r.sessions.set(c.ID, v)
			s := r.instance("a", Options{})
			tick(t, s, at(t, "2026-12-03T22:30:00Z"))
			r.sessions.update(c.ID, "p1", tt.change)
			tick(t, s, at(t, "2026-12-04T09:00:00Z"))
			if got := r.out.sent(); len(got) != 0 {
				t.Errorf("got %q sent, want nothing", sentLog(got))
			}
			j, _ := r.jobs.get("draft-questions:r0|p1|20261203T223000Z")
			if j.State != StateSkipped || j.Reason != tt.reason {
				t.Errorf("got %s (%s), want skipped (%s)", j.State, j.Reason, tt.reason)
			}
			// And nothing more is planned (for "answered since", not before
			// another 2 days of silence).
			run(t, s, at(t, "2026-12-04T09:10:00Z"), at(t, "2026-12-06T07:59:00Z"), time.Hour)
			if got := r.out.sent(); len(got) != 0 {
				t.Errorf("later: got %q sent, want nothing", sentLog(got))
			}
		})
	}
}

// TestTickResume: after /resume (which counts as activity) the silence is
// counted again from then.
func TestTickResume(t *testing.T) {
	c := draft(t)
	c.Reminders = c.Reminders[:1]
	r := newRig(c)
	v := someone(t)
	v.Status = flows.StatusPaused
	r.sessions.set(c.ID, v)
	s := r.instance("a", Options{})
	run(t, s, at(t, "2026-12-01T10:30:00Z"), at(t, "2026-12-06T10:00:00Z"), 30*time.Minute)
	r.sessions.update(c.ID, "p1", func(v *View) { v.Status, v.Updated = flows.StatusActive, at(t, "2026-12-06T10:00:00Z") })
	run(t, s, at(t, "2026-12-06T10:00:00Z"), at(t, "2026-12-12T00:00:00Z"), 30*time.Minute)
	want := []string{"draft-questions:r0@2026-12-08T10:00:00Z", "draft-questions:r0@2026-12-10T10:00:00Z"}
	if got := sentLog(r.out.sent()); !slices.Equal(got, want) {
		t.Errorf("sent: got %q, want %q", got, want)
	}
}

func TestTickDowntime(t *testing.T) {
	tests := []struct {
		name    string
		restart string
		sent    []string
		skipped map[string]string // job id → reason
	}{
		{
			name: "2 hours: sent late", restart: "2026-12-02T12:00:00Z",
			sent: []string{"draft-questions:r0@2026-12-02T12:00:00Z", "draft-questions:s:news@2026-12-02T12:00:00Z"},
		},
		{
			name: "2 days: older ones recorded as skipped", restart: "2026-12-04T12:00:00Z",
			sent: []string{"draft-questions:r0@2026-12-04T12:00:00Z", "draft-questions:s:news@2026-12-04T12:00:00Z"},
			skipped: map[string]string{
				"draft-questions:r0|p1|20261202T100000Z":          "missed by 50h during downtime",
				"draft-questions:r0|p1|20261203T100000Z":          "missed by 26h during downtime",
				"draft-questions:s:news|tg:-100|20261202T100000Z": "missed by 50h during downtime",
				"draft-questions:s:news|tg:-100|20261203T100000Z": "missed by 26h during downtime",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Reminders = []flows.Reminder{{Kind: flows.RemindCron, Cron: "0 10 * * *", Text: flows.Plain("Daily reminder")}}
			c.Schedules = []flows.Schedule{{ID: "news", To: "tg:-100", Cron: "0 10 * * *", Text: flows.Plain("Daily news")}}
			r := newRig(c)
			r.sessions.set(c.ID, someone(t))
			run(t, r.instance("before", Options{}), at(t, "2026-12-01T10:00:00Z"), at(t, "2026-12-02T09:50:00Z"), 10*time.Minute)
			before := len(r.out.sent())
			// Down until the restart: a new instance, nothing carried over but the store.
			tick(t, r.instance("after", Options{}), at(t, tt.restart))
			if got := sentLog(r.out.sent()[before:]); !slices.Equal(got, tt.sent) {
				t.Errorf("after the restart, sent:\ngot  %q\nwant %q", got, tt.sent)
			}
			for id, reason := range tt.skipped {
				j, ok := r.jobs.get(id)
				if !ok || j.State != StateSkipped || j.Reason != reason {
					t.Errorf("job %s: got %s (%q), want skipped (%q)", id, j.State, j.Reason, reason)
				}
			}
		})
	}
}

// TestTickLeaseTakeover: an instance dies mid-send; once its lease lapses
// another takes the job over, and the message is queued once.
func TestTickLeaseTakeover(t *testing.T) {
	tests := []struct {
		name       string
		die        func(r *rig, now time.Time) // instance a claims and dies
		wantCalls  int
		wantFinish error
	}{
		{
			name: "died after claiming, before the hand-off",
			die: func(r *rig, now time.Time) {
				if _, err := r.jobs.Claim(context.Background(), "a", now, now.Add(DefaultLease), 10); err != nil {
					t.Fatal(err)
				}
			},
			wantCalls: 1,
		},
		{
			name: "died after the hand-off, before marking sent",
			die: func(r *rig, now time.Time) {
				r.out.fail = func(flows.Outgoing) error { return errors.New("killed") }
				tick(t, r.instance("a", Options{}), now) // a logs the error; the job stays claimed
				r.out.fail = nil
			},
			wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Reminders = nil
			c.Schedules = []flows.Schedule{{ID: "news", To: "tg:-100", Cron: "0 10 * * *", Text: flows.Plain("Daily news")}}
			r := newRig(c)
			now := at(t, "2026-12-02T10:00:00Z")
			if err := r.jobs.Insert(context.Background(), PlanSchedules(c, nil, now, Policy{})); err != nil {
				t.Fatal(err)
			}
			tt.die(r, now)
			b := r.instance("b", Options{})
			if st := tick(t, b, now.Add(time.Minute)); st.Sent != 0 {
				t.Errorf("within a's lease: b sent %d, want 0", st.Sent)
			}
			if st := tick(t, b, now.Add(DefaultLease+time.Second)); st.Sent != 1 {
				t.Errorf("after a's lease: b sent %d, want 1", st.Sent)
			}
			const id = "draft-questions:s:news|tg:-100|20261202T100000Z"
			if got := len(r.out.sent()); got != 1 {
				t.Errorf("got %d messages queued, want 1", got)
			}
			if got := r.out.calls[id]; got != tt.wantCalls {
				t.Errorf("got %d Enqueue calls, want %d", got, tt.wantCalls)
			}
			j, _ := r.jobs.get(id)
			if j.State != StateSent || j.Owner != "b" || j.Attempts != 2 {
				t.Errorf("got %s by %q after %d claims, want sent by b after 2", j.State, j.Owner, j.Attempts)
			}
			err := r.jobs.Finish(context.Background(), id, "a", StateSent, "", now)
			if !errors.Is(err, ErrConflict) {
				t.Errorf("a's late Finish: got %v, want ErrConflict", err)
			}
		})
	}
}

// TestTickUnknown: a job whose instances keep dying is given up as unknown.
func TestTickUnknown(t *testing.T) {
	c := draft(t)
	c.Reminders = nil
	c.Schedules = []flows.Schedule{{ID: "news", To: "tg:-100", Cron: "0 10 * * *", Text: flows.Plain("Daily news")}}
	r := newRig(c)
	now := at(t, "2026-12-02T10:00:00Z")
	if err := r.jobs.Insert(context.Background(), PlanSchedules(c, nil, now, Policy{})); err != nil {
		t.Fatal(err)
	}
	for i := range DefaultMaxAttempts {
		if _, err := r.jobs.Claim(context.Background(), fmt.Sprint("dead", i), now, now, 10); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	tick(t, r.instance("b", Options{}), now)
	j, _ := r.jobs.get("draft-questions:s:news|tg:-100|20261202T100000Z")
	if j.State != StateUnknown || j.Reason != "claimed 5 times without an outcome" {
		t.Errorf("got %s (%s), want unknown", j.State, j.Reason)
	}
	if got := len(r.out.sent()); got != 0 {
		t.Errorf("got %d messages, want 0", got)
	}
}

// TestTickDST: a daily group message at 01:30 local goes once a day across
// both changes, in London and New York.
func TestTickDST(t *testing.T) {
	tests := []struct {
		name     string
		zone     string
		spec     string
		from, to string
		want     []string
	}{
		{"London spring", "Europe/London", "30 1 * * *", "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"London autumn", "Europe/London", "30 1 * * *", "2026-10-24T00:00:00Z", "2026-10-26T12:00:00Z",
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"New York spring", "America/New_York", "30 2 * * *", "2026-03-07T00:00:00Z", "2026-03-09T12:00:00Z",
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"New York autumn", "America/New_York", "30 1 * * *", "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z",
			[]string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Timezone, c.Location = tt.zone, mustLoc(t, tt.zone)
			c.Reminders, c.ClosesAt = nil, time.Time{}
			c.Schedules = []flows.Schedule{{ID: "night", To: "slack:C1", Cron: tt.spec, Text: flows.Plain("Night shift")}}
			r := newRig(c)
			run(t, r.instance("a", Options{}), at(t, tt.from), at(t, tt.to), 5*time.Minute)
			var got []string
			for _, m := range r.out.sent() {
				got = append(got, m.Created.UTC().Format(time.RFC3339))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sent at:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestTickCloseOnce: several instances, late after downtime: the close runs,
// once.
func TestTickCloseOnce(t *testing.T) {
	c := draft(t)
	r := newRig(c)
	r.sessions.set(c.ID, someone(t))
	for _, owner := range []string{"a", "b", "c"} {
		tick(t, r.instance(owner, Options{}), at(t, "2026-12-23T00:00:00Z")) // 3 days late
	}
	if want := []string{"draft-questions@2026-12-20T17:00:00Z"}; !slices.Equal(r.sessions.closes, want) {
		t.Errorf("closes: got %q, want %q", r.sessions.closes, want)
	}
	if got := r.out.sent(); len(got) != 0 {
		t.Errorf("after the close: got %q sent, want nothing", sentLog(got))
	}
}

// TestTickManyInstances: several instances sharing one store plan and claim
// 1,000 occurrences at once; each is queued exactly once.
func TestTickManyInstances(t *testing.T) {
	const people, instances = 1000, 4
	c := draft(t)
	c.Reminders = c.Reminders[:1]
	r := newRig(c)
	for i := range people {
		v := someone(t)
		v.Participant, v.Identity, v.To = fmt.Sprintf("p%04d", i), fmt.Sprintf("tg:%d", i), fmt.Sprint(i)
		r.sessions.set(c.ID, v)
	}
	now := at(t, "2026-12-03T10:30:00Z")
	var wg sync.WaitGroup
	stats := make([]Stats, instances)
	errs := make([]error, instances)
	for i := range instances {
		s := r.instance(fmt.Sprint("instance-", i), Options{BatchSize: 7})
		wg.Go(func() { stats[i], errs[i] = s.Tick(context.Background(), now) })
	}
	wg.Wait()
	total := 0
	for i := range instances {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
		}
		total += stats[i].Sent
	}
	if total != people {
		t.Errorf("got %d sent over all instances, want %d", total, people)
	}
	if got := len(r.out.sent()); got != people {
		t.Errorf("got %d messages queued, want %d", got, people)
	}
	for id, n := range r.out.calls {
		if n != 1 {
			t.Errorf("%s: got %d Enqueue calls, want 1", id, n)
		}
	}
	for _, j := range r.jobs.all() {
		if j.State != StateSent || j.Attempts != 1 {
			t.Errorf("%s: got %s after %d claims, want sent after 1", j.ID, j.State, j.Attempts)
		}
	}
	t.Logf("sent per instance: %d %d %d %d", stats[0].Sent, stats[1].Sent, stats[2].Sent, stats[3].Sent)
}

// TestRun: Run ticks at once on its injected clock and stops with ctx.
func TestRun(t *testing.T) {
	c := draft(t)
	r := newRig(c)
	r.sessions.set(c.ID, someone(t))
	now := at(t, "2026-12-03T10:30:00Z")
	s := r.instance("a", Options{Now: func() time.Time { return now }, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.out.sent()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run queued nothing before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: got %v, want nil after cancel", err)
	}
	if got, want := sentLog(r.out.sent()), []string{"draft-questions:r0@2026-12-03T10:30:00Z"}; !slices.Equal(got, want) {
		t.Errorf("sent: got %q, want %q", got, want)
	}
}

func BenchmarkTick1000(b *testing.B) {
	c := draft(b)
	c.Reminders = c.Reminders[:1]
	now := at(b, "2026-12-03T10:30:00Z")
	for b.Loop() {
		b.StopTimer()
		r := newRig(c)
		for i := range 1000 {
			v := someone(b)
			v.Participant, v.Identity, v.To = fmt.Sprintf("p%04d", i), fmt.Sprintf("tg:%d", i), fmt.Sprint(i)
			r.sessions.set(c.ID, v)
		}
		s := r.instance("a", Options{})
		b.StartTimer()
		if st, err := s.Tick(context.Background(), now); err != nil || st.Sent != 1000 {
			b.Fatalf("Tick: %+v, %v", st, err)
		}
	}
}

// TestTickSkipsWhatChanged: jobs planned before the file or the sessions
// changed are skipped, with the reason recorded.
func TestTickSkipsWhatChanged(t *testing.T) {
	const reminder = "draft-questions:r0|p1|20261203T223000Z"
	const news = "draft-questions:s:news|tg:-100|20261204T090000Z"
	tests := []struct {
		name   string
		change func(r *rig, c *flows.Consultation)
		want   map[string]string // job id → reason
	}{
		{"consultation no longer loaded", func(r *rig, _ *flows.Consultation) { r.sessions.cs = nil },
			map[string]string{reminder: "consultation no longer loaded", news: "consultation no longer loaded"}},
		{"schedule removed", func(_ *rig, c *flows.Consultation) { c.Schedules = nil },
			map[string]string{news: "schedule removed from the file"}},
		{"reminder rule changed", func(_ *rig, c *flows.Consultation) { c.Reminders[0].Kind = flows.RemindBeforeClose },
			map[string]string{reminder: "reminder rule changed"}},
		{"closes earlier now", func(_ *rig, c *flows.Consultation) { c.ClosesAt = at(t, "2026-12-04T08:00:00Z") },
			map[string]string{reminder: "consultation closed"}},
		{"participant gone", func(r *rig, c *flows.Consultation) { delete(r.sessions.views[c.ID], "p1") },
			map[string]string{reminder: "participant not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Reminders = c.Reminders[:1]
			c.Schedules = []flows.Schedule{{ID: "news", To: "tg:-100", Cron: "0 9 * * *", Text: flows.Plain("Daily news")}}
			r := newRig(c)
			v := someone(t)
			v.Updated = at(t, "2026-12-01T22:30:00Z") // nudge due 3 Dec 22:30, sent at 09:00
			r.sessions.set(c.ID, v)
			s := r.instance("a", Options{})
			tick(t, s, at(t, "2026-12-03T22:30:00Z"))
			nine := at(t, "2026-12-04T09:00:00Z")
			if err := r.jobs.Insert(context.Background(), PlanSchedules(c, nil, nine, Policy{})); err != nil {
				t.Fatal(err)
			}
			tt.change(r, c)
			tick(t, s, nine)
			for id, reason := range tt.want {
				j, ok := r.jobs.get(id)
				if !ok || j.State != StateSkipped || j.Reason != reason {
					t.Errorf("job %s: got %s (%q), want skipped (%q)", id, j.State, j.Reason, reason)
				}
			}
			for _, m := range r.out.sent() {
				if _, skipped := tt.want[m.ID]; skipped {
					t.Errorf("got %s sent, want it skipped", m.ID)
				}
			}
		})
	}
}

// TestTickQuietPastClose: a late reminder that would have to wait past the
// close for quiet hours to end is skipped.
func TestTickQuietPastClose(t *testing.T) {
	c := draft(t)
	c.Reminders = []flows.Reminder{{Kind: flows.RemindCron, Cron: "0 20 * * *", Text: flows.Plain("Evening reminder")}}
	c.ClosesAt = at(t, "2026-12-03T08:00:00Z")
	r := newRig(c)
	r.sessions.set(c.ID, someone(t))
	tick(t, r.instance("a", Options{}), at(t, "2026-12-02T22:00:00Z")) // the 20:00 one, late, in quiet hours
	j, _ := r.jobs.get("draft-questions:r0|p1|20261202T200000Z")
	if want := "quiet hours last until after the consultation closes"; j.State != StateSkipped || j.Reason != want {
		t.Errorf("got %s (%q), want skipped (%q)", j.State, j.Reason, want)
	}
}
