package scheduler_test

// The scheduler on the real store (package storage): the embedded FerretDB
// always, and MongoDB when MONGODB_URI is set.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
	"github.com/consultbot/consultbot/storage"
)

// place is where a test's data lives: a data directory, or a database on
// MONGODB_URI. open opens a store on it; several may be open at once on
// MongoDB (one client each, as separate instances would have), while the
// embedded store is held by one store at a time.
type place struct {
	name string
	cfg  storage.Config
}

func places(t testing.TB) []place {
	ps := []place{{name: "embedded", cfg: storage.Config{DataDir: t.TempDir()}}}
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		db := fmt.Sprintf("sched_%x", time.Now().UnixNano()&0xffffffff)
		ps = append(ps, place{name: "mongodb", cfg: storage.Config{URI: uri, Database: db}})
		t.Cleanup(func() {
			ctx := context.Background()
			c, err := mongo.Connect(options.Client().ApplyURI(uri))
			if err != nil {
				t.Errorf("dropping %s: %v", db, err)
				return
			}
			defer c.Disconnect(ctx)
			if err := c.Database(db).Drop(ctx); err != nil {
				t.Errorf("dropping %s: %v", db, err)
			}
		})
	}
	return ps
}

func (p place) open(t testing.TB) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), p.cfg)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	return s
}

// stores returns n stores on p: n clients on MongoDB, one store n times on
// the embedded one. They are closed at the end of the test.
func (p place) stores(t testing.TB, n int) []*storage.Store {
	t.Helper()
	out := make([]*storage.Store, n)
	for i := range out {
		if i > 0 && p.cfg.URI == "" {
			out[i] = out[0]
			continue
		}
		s := p.open(t)
		t.Cleanup(func() { s.Close(context.Background()) })
		out[i] = s
	}
	return out
}

func mustParse(t testing.TB, yaml string) *flows.Consultation {
	t.Helper()
	c, err := flows.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countingOutbox passes messages on to the store's outbox and counts the
// hand-offs per message id, across every instance that shares it. fail,
// when set, may fail a hand-off before (true) or after (false) it is made.
type countingOutbox struct {
	next  scheduler.Outbox
	mu    *sync.Mutex
	calls map[string]int
	fail  func(m flows.Outgoing) (before, after bool)
}

func (o countingOutbox) Enqueue(ctx context.Context, m flows.Outgoing) error {
	var before, after bool
	if o.fail != nil {
		before, after = o.fail(m)
	}
	if before {
		return errors.New("instance died before the hand-off")
	}
	o.mu.Lock()
	o.calls[m.ID]++
	o.mu.Unlock()
	if err := o.next.Enqueue(ctx, m); err != nil {
		return err
	}
	if after {
		return errors.New("instance died after the hand-off")
	}
	return nil
}

// announce is a consultation with one scheduled announcement to a group:
// its jobs go out without looking at sessions.
const announce = `
id: announce
title: Announcements
open: true
consent:
  version: 1
  text: Hello.
questions:
  - id: q
    type: text
    text: Anything to add?
closing: Thanks.
schedules:
  - id: meeting
    to: "tg:-100123"
    cron: "0 0 1 1 *"
    text: The group meets on Thursday.
`

// TestStoreManyInstancesEachOnce: four instances tick at the same time
// over 1,000 due occurrences in one store while a sender delivers; each
// occurrence is queued once and delivered once.
func TestStoreManyInstancesEachOnce(t *testing.T) {
	for _, p := range places(t) {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			c := mustParse(t, announce)
			now := at(t, "2026-06-03T12:00:00Z")
			const instances = 4
			n := 1000
			if testing.Short() {
				n = 200
			}
			stores := p.stores(t, instances)
			rule := scheduler.ScheduleRuleID(c.ID, c.Schedules[0], 0)
			jobs := make([]scheduler.Job, n)
			for i := range jobs {
				due := now.Add(-time.Duration(i) * 10 * time.Second)
				jobs[i] = scheduler.Job{
					ID: scheduler.JobID(rule, c.Schedules[0].To, due), Rule: rule, Kind: scheduler.KindSchedule,
					Consultation: c.ID, Recipient: c.Schedules[0].To, Channel: "telegram", To: "-100123",
					Text: fmt.Sprintf("Announcement %d", i), Due: due, SendAt: due, State: scheduler.StatePending, Created: due,
				}
			}
			if err := stores[0].Jobs().Insert(ctx, jobs); err != nil {
				t.Fatal(err)
			}

			calls, mu := map[string]int{}, &sync.Mutex{}
			stats := make([]scheduler.Stats, instances)
			var wg sync.WaitGroup
			for i, st := range stores {
				sc := st.Scheduling([]*flows.Consultation{c})
				out := countingOutbox{next: sc, mu: mu, calls: calls}
				s := scheduler.New(st.Jobs(), sc, out, scheduler.Options{Owner: fmt.Sprintf("i%d", i), BatchSize: 25})
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if stats[i], err = s.Tick(ctx, now); err != nil {
						t.Errorf("instance %d: %v", i, err)
					}
				}()
			}
			// A sender delivers meanwhile, as the channel would.
			ticking := make(chan struct{})
			delivered := map[string]int{}
			sender := make(chan error, 1)
			go func() {
				st := stores[len(stores)-1]
				for {
					msgs, err := st.Claim(ctx, "telegram", "sender", 50, time.Minute, now)
					if err != nil {
						sender <- err
						return
					}
					for _, m := range msgs {
						delivered[m.ID]++
						if err := st.Sending(ctx, m.ID, "sender", now); err != nil {
							sender <- err
							return
						}
						if err := st.Sent(ctx, m.ID, "", now); err != nil {
							sender <- err
							return
						}
					}
					if len(msgs) > 0 {
						continue
					}
					select {
					case <-ticking: // every instance is done: nothing more will come
						sender <- nil
						return
					case <-time.After(time.Millisecond): // poll again, leaving the store to the instances
					}
				}
			}()
			wg.Wait()
			close(ticking)
			if err := <-sender; err != nil {
				t.Fatalf("sender: %v", err)
			}

			sent := 0
			for i, st := range stats {
				sent += st.Sent
				if st.Failed != 0 || st.Skipped != 0 {
					t.Errorf("instance %d: got %+v, want nothing failed or skipped", i, st)
				}
			}
			if sent != n {
				t.Errorf("sent: got %d in all, want %d", sent, n)
			}
			if len(calls) != n {
				t.Errorf("queued %d distinct occurrences, want %d", len(calls), n)
			}
			for id, k := range calls {
				if k != 1 {
					t.Errorf("occurrence %s queued %d times, want once", id, k)
				}
			}
			if len(delivered) != n {
				t.Errorf("delivered %d distinct messages, want %d", len(delivered), n)
			}
			for id, k := range delivered {
				if k != 1 {
					t.Errorf("message %s delivered %d times, want once", id, k)
				}
			}
			list, err := stores[0].Jobs().List(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range list {
				if j.State != scheduler.StateSent || j.Attempts != 1 {
					t.Errorf("job %s: got %s after %d claims, want sent after 1", j.ID, j.State, j.Attempts)
					break
				}
			}
		})
	}
}

// TestStoreLeaseTakeover: an instance claims a reminder and dies while
// sending it; once its lease lapses another instance takes the job over
// and the person gets the message once.
func TestStoreLeaseTakeover(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after bool
	}{
		{"died before the hand-off", true, false},
		{"died after the hand-off", false, true},
	} {
		for _, p := range places(t) {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				ctx := context.Background()
				c := mustParse(t, announce)
				stores := p.stores(t, 2)
				now := at(t, "2026-06-03T12:00:00Z")
				rule := scheduler.ScheduleRuleID(c.ID, c.Schedules[0], 0)
				j := scheduler.Job{
					ID: scheduler.JobID(rule, "tg:-100123", now), Rule: rule, Kind: scheduler.KindSchedule,
					Consultation: c.ID, Recipient: "tg:-100123", Channel: "telegram", To: "-100123",
					Text: "The group meets on Thursday.", Due: now, SendAt: now, State: scheduler.StatePending, Created: now,
				}
				if err := stores[0].Jobs().Insert(ctx, []scheduler.Job{j}); err != nil {
					t.Fatal(err)
				}
				calls, mu := map[string]int{}, &sync.Mutex{}
				instance := func(st *storage.Store, owner string, fail func(flows.Outgoing) (bool, bool)) *scheduler.Scheduler {
					sc := st.Scheduling([]*flows.Consultation{c})
					return scheduler.New(st.Jobs(), sc, countingOutbox{next: sc, mu: mu, calls: calls, fail: fail}, scheduler.Options{Owner: owner})
				}
				dying := instance(stores[0], "dying", func(flows.Outgoing) (bool, bool) { return tc.before, tc.after })
				heir := instance(stores[1], "heir", nil)

				if st, _ := dying.Tick(ctx, now); st.Failed != 1 {
					t.Fatalf("dying instance: got %+v, want the one job failed", st)
				}
				if st, err := heir.Tick(ctx, now.Add(time.Minute)); err != nil || st.Sent != 0 {
					t.Fatalf("heir within the lease: got %+v, %v, want nothing sent", st, err)
				}
				after := now.Add(scheduler.DefaultLease + time.Second)
				if st, err := heir.Tick(ctx, after); err != nil || st.Sent != 1 {
					t.Fatalf("heir after the lease: got %+v, %v, want the job sent", st, err)
				}
				got, err := stores[1].Jobs().Job(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State != scheduler.StateSent || got.Owner != "heir" || got.Attempts != 2 {
					t.Errorf("job: got %+v, want sent by the heir on the second claim", got)
				}
				msgs, err := stores[1].Claim(ctx, "telegram", "test", 10, time.Minute, after)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) != 1 || msgs[0].ID != j.ID || msgs[0].Reply.Text != j.Text {
					t.Errorf("outbox: got %+v, want the one message", msgs)
				}
			})
		}
	}
}

// daily reminds everyone who has not finished at 10:00 London time.
const daily = `
id: daily
title: Daily check-in
open: true
timezone: Europe/London
consent:
  version: 1
  text: Hello.
questions:
  - id: q
    type: text
    text: How was today?
closing: Thanks.
reminders:
  - cron: "0 10 * * *"
    text: Time for the daily check-in.
`

// join starts identity on consultation c through the runner at now.
func join(t *testing.T, st *storage.Store, c *flows.Consultation, identity string, now time.Time) {
	t.Helper()
	r := storage.NewRunner(st, []*flows.Consultation{c}, storage.RunnerOptions{Now: func() time.Time { return now }})
	for i, in := range []flows.Input{{Command: flows.CmdStart, Arg: c.ID}, {Text: "yes"}} {
		in.ID = fmt.Sprintf("console:%s:%d", identity, i)
		in.Participant, in.Channel, in.ReplyTo = identity, "console", identity
		if err := r.Handle(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreRestartAfterDowntime: the instance stops at 09:30 on Monday
// (London is on UTC in March) and starts again later on a store opened
// afresh. Missed by under 6 hours: sent late. Missed by more: recorded as
// skipped with how late it was.
func TestStoreRestartAfterDowntime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart string
		want    []string // "due state reason"
	}{
		{"2 hours", "2026-03-02T11:30:00Z", []string{
			"2026-03-02T10:00:00Z sent ",
		}},
		{"2 days", "2026-03-04T10:00:00Z", []string{
			"2026-03-02T10:00:00Z skipped missed by 48h during downtime",
			"2026-03-03T10:00:00Z skipped missed by 24h during downtime",
			"2026-03-04T10:00:00Z sent ",
		}},
	} {
		for _, p := range places(t) {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				ctx := context.Background()
				c := mustParse(t, daily)
				st := p.open(t)
				join(t, st, c, "console:kim", at(t, "2026-03-01T12:00:00Z")) // Sunday noon, then silence
				s := scheduler.New(st.Jobs(), st.Scheduling([]*flows.Consultation{c}), st.Scheduling([]*flows.Consultation{c}), scheduler.Options{})
				for now := at(t, "2026-03-01T12:30:00Z"); !now.After(at(t, "2026-03-02T09:30:00Z")); now = now.Add(30 * time.Minute) {
					if _, err := s.Tick(ctx, now); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.Close(ctx); err != nil {
					t.Fatal(err)
				}

				restart := at(t, tc.restart)
				st = p.open(t)
				defer st.Close(ctx)
				sc := st.Scheduling([]*flows.Consultation{c})
				s = scheduler.New(st.Jobs(), sc, sc, scheduler.Options{})
				if _, err := s.Tick(ctx, restart); err != nil {
					t.Fatal(err)
				}
				jobs, err := st.Jobs().List(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, j := range jobs {
					got = append(got, fmt.Sprintf("%s %s %s", j.Due.UTC().Format(time.RFC3339), j.State, j.Reason))
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("jobs after the restart:\ngot  %q\nwant %q", got, tc.want)
				}
				msgs, err := st.Claim(ctx, "console", "test", 10, time.Minute, restart)
				if err != nil {
					t.Fatal(err)
				}
				var reminders []flows.Outgoing
				for _, m := range msgs {
					if strings.HasPrefix(m.ID, "daily:r0|") { // not the replies to joining
						reminders = append(reminders, m)
					}
				}
				if len(reminders) != 1 || reminders[0].Reply.Text != "Time for the daily check-in." || !reminders[0].Created.Equal(restart) {
					t.Errorf("reminders queued after the restart: got %+v, want one, queued at %s", reminders, restart)
				}
			})
		}
	}
}
