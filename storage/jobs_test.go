package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
)

// jobBackend is a store the job tests run against. Besides the suite's
// backends, the MongoDB code path (conditional filters, held inserts) also
// runs on the embedded FerretDB reached as if it were a MongoDB server, so
// it is exercised without one; FerretDB's updates are not atomic across
// connections, so the concurrency tests skip that one.
type jobBackend struct {
	name   string
	atomic bool // single-document updates are atomic across connections
	open   func(t testing.TB) *Store
}

func jobBackends() []jobBackend {
	var out []jobBackend
	for _, b := range backends() {
		out = append(out, jobBackend{b.name, true, func(t testing.TB) *Store { return b.open(t, Config{}) }})
	}
	out = append(out, jobBackend{"mongodb-path-on-ferretdb", false, func(t testing.TB) *Store {
		return openDB(t, Config{URI: sharedFerret.emb.uri}, nil)
	}})
	return out
}

func eachJobStore(t *testing.T, f func(t *testing.T, b jobBackend, s *Store)) {
	for _, b := range jobBackends() {
		t.Run(b.name, func(t *testing.T) { f(t, b, b.open(t)) })
	}
}

// job makes a pending reminder job for recipient due at due.
func job(rule, recipient string, due time.Time) scheduler.Job {
	return scheduler.Job{
		ID: scheduler.JobID(rule, recipient, due), Rule: rule, Kind: scheduler.KindAfter,
		Consultation: strings.Split(rule, ":")[0], Recipient: recipient,
		Channel: "telegram", Identity: "tg:" + recipient, To: recipient, Text: "Hello " + recipient,
		Due: due, SendAt: due, State: scheduler.StatePending, Created: t0,
	}
}

func jobIDs(js []scheduler.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func TestJobsInsertIdempotentAndTally(t *testing.T) {
	eachJobStore(t, func(t *testing.T, _ jobBackend, s *Store) {
		ctx := context.Background()
		js := s.Jobs()
		a1 := job("c:r0", "p1", t0)
		a2 := job("c:r0", "p1", t0.Add(48*time.Hour))
		b1 := job("c:r1", "p1", t0.Add(time.Hour))
		c1 := job("c:r0", "p2", t0)
		skipped := job("c:r2", "p2", t0.Add(2*time.Hour))
		skipped.State, skipped.Reason, skipped.Finished = scheduler.StateSkipped, "quiet hours last until after the consultation closes", t0
		other := job("d:r0", "p1", t0)
		if err := js.Insert(ctx, []scheduler.Job{a1, a2, b1, c1, skipped, other, a1}); err != nil {
			t.Fatalf("Insert: %v", err)
		}
		// Again, with a changed copy: what is stored stays.
		changed := a1
		changed.Text = "changed"
		if err := js.Insert(ctx, []scheduler.Job{changed, skipped}); err != nil {
			t.Fatalf("Insert again: %v", err)
		}
		got, err := js.Job(ctx, a1.ID)
		if err != nil || got.Text != a1.Text || got.State != scheduler.StatePending {
			t.Errorf("Job(%s): got %+v, %v, want the first copy, pending", a1.ID, got, err)
		}
		if got, err := js.Job(ctx, skipped.ID); err != nil || got.State != scheduler.StateSkipped || got.Reason != skipped.Reason {
			t.Errorf("Job(skipped): got %+v, %v, want it skipped with its reason", got, err)
		}
		if _, err := js.Job(ctx, "nope"); !errors.Is(err, ErrNotFound) || !errors.Is(err, scheduler.ErrNotFound) {
			t.Errorf("Job(nope): got %v, want ErrNotFound of both packages", err)
		}

		wantTally := []scheduler.Tally{
			{Rule: "c:r0", Recipient: "p1", Count: 2, Last: a2.Due},
			{Rule: "c:r0", Recipient: "p2", Count: 1, Last: c1.Due},
			{Rule: "c:r1", Recipient: "p1", Count: 1, Last: b1.Due},
			{Rule: "c:r2", Recipient: "p2", Count: 1, Last: skipped.Due},
		}
		checkTally := func(when string) {
			t.Helper()
			got, err := js.Tally(ctx, "c")
			if err != nil {
				t.Fatalf("Tally %s: %v", when, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(wantTally) {
				t.Errorf("Tally %s:\ngot  %v\nwant %v", when, got, wantTally)
			}
		}
		checkTally("after insert")

		// Finished jobs leave the hot collection, and are still refused.
		claimed, err := js.Claim(ctx, "a", t0, t0.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{a1.ID, c1.ID, other.ID}; !slices.Equal(jobIDs(claimed), want) {
			t.Fatalf("Claim: got %v, want %v", jobIDs(claimed), want)
		}
		if err := js.Finish(ctx, a1.ID, "a", scheduler.StateSent, "", t0); err != nil {
			t.Fatal(err)
		}
		if err := js.Insert(ctx, []scheduler.Job{a1}); err != nil {
			t.Fatal(err)
		}
		if got, _ := js.Job(ctx, a1.ID); got.State != scheduler.StateSent {
			t.Errorf("after inserting a sent job again: got state %s, want sent", got.State)
		}
		n, err := s.c(colJobs).CountDocuments(ctx, bson.D{{Key: "_id", Value: a1.ID}})
		if err != nil || n != 0 {
			t.Errorf("a sent job in the hot collection: got %d, %v, want 0", n, err)
		}
		checkTally("after finishing one")
		list, err := js.List(ctx, "c")
		if err != nil || len(list) != 5 {
			t.Errorf("List: got %d jobs, %v, want 5", len(list), err)
		}
	})
}

func TestJobsClaimOrderLeasesAndOwners(t *testing.T) {
	eachJobStore(t, func(t *testing.T, _ jobBackend, s *Store) {
		ctx := context.Background()
		js := s.Jobs()
		var all []scheduler.Job
		for i := range 5 {
			all = append(all, job("c:r0", fmt.Sprintf("p%d", i), t0.Add(time.Duration(4-i)*time.Minute)))
		}
		future := job("c:r0", "later", t0.Add(time.Hour))
		if err := js.Insert(ctx, append(all, future)); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(10 * time.Minute)
		lease := now.Add(2 * time.Minute)
		got, err := js.Claim(ctx, "a", now, lease, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{all[4].ID, all[3].ID}; !slices.Equal(jobIDs(got), want) {
			t.Errorf("first batch: got %v, want the two earliest %v", jobIDs(got), want)
		}
		for _, j := range got {
			if j.State != scheduler.StateClaimed || j.Owner != "a" || !j.LeaseUntil.Equal(lease) || j.Attempts != 1 {
				t.Errorf("claimed job: got %+v, want claimed by a until %s, attempt 1", j, lease)
			}
		}
		rest, err := js.Claim(ctx, "b", now, lease, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{all[2].ID, all[1].ID, all[0].ID}; !slices.Equal(jobIDs(rest), want) {
			t.Errorf("second batch: got %v, want %v (not a's, not the future one)", jobIDs(rest), want)
		}
		if none, _ := js.Claim(ctx, "c", now, lease, 10); len(none) != 0 {
			t.Errorf("third claim: got %v, want nothing", jobIDs(none))
		}
		for _, j := range rest {
			if err := js.Finish(ctx, j.ID, "b", scheduler.StateSent, "", now); err != nil {
				t.Fatal(err)
			}
		}

		// Leases: not claimable at the instant they end, claimable after.
		if none, _ := js.Claim(ctx, "c", lease, lease.Add(time.Minute), 10); len(none) != 0 {
			t.Errorf("claim as leases end: got %v, want nothing", jobIDs(none))
		}
		after := lease.Add(time.Second)
		taken, err := js.Claim(ctx, "c", after, after.Add(time.Minute), 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(taken) != 2 || taken[0].Owner != "c" || taken[0].Attempts != 2 {
			t.Fatalf("takeover: got %+v, want 2 jobs claimed again by c, attempt 2", taken)
		}
		// The old owner lost them.
		id := taken[0].ID
		if err := js.Finish(ctx, id, "a", scheduler.StateSent, "", after); !errors.Is(err, ErrConflict) || !errors.Is(err, scheduler.ErrConflict) {
			t.Errorf("Finish by the old owner: got %v, want ErrConflict of both packages", err)
		}
		if err := js.Release(ctx, id, "a", after); !errors.Is(err, scheduler.ErrConflict) {
			t.Errorf("Release by the old owner: got %v, want ErrConflict", err)
		}
		if err := js.Finish(ctx, "nope", "c", scheduler.StateSent, "", after); !errors.Is(err, scheduler.ErrNotFound) {
			t.Errorf("Finish of no job: got %v, want ErrNotFound", err)
		}

		// Release puts it back for later; the new owner finishes the other.
		if err := js.Release(ctx, id, "c", after.Add(time.Hour)); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if got, _ := js.Job(ctx, id); got.State != scheduler.StatePending || got.Owner != "" || !got.SendAt.Equal(after.Add(time.Hour)) {
			t.Errorf("released job: got %+v, want pending from %s", got, after.Add(time.Hour))
		}
		if err := js.Release(ctx, id, "c", after); !errors.Is(err, scheduler.ErrConflict) {
			t.Errorf("Release of a pending job: got %v, want ErrConflict", err)
		}
		if err := js.Finish(ctx, taken[1].ID, "c", scheduler.StateSkipped, "participant paused", after); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if got, _ := js.Job(ctx, taken[1].ID); got.State != scheduler.StateSkipped || got.Reason != "participant paused" || !got.Finished.Equal(ms(after)) {
			t.Errorf("finished job: got %+v, want skipped, paused, at %s", got, after)
		}
		if err := js.Finish(ctx, taken[1].ID, "c", scheduler.StateSent, "", after); !errors.Is(err, scheduler.ErrConflict) {
			t.Errorf("Finish twice: got %v, want ErrConflict", err)
		}
		if err := js.Finish(ctx, taken[0].ID, "c", scheduler.StatePending, "", after); err == nil {
			t.Errorf("Finish with state pending: got nil, want an error")
		}
		// At its new time, with the future one, the released job is claimable.
		at := after.Add(time.Hour)
		got, err = js.Claim(ctx, "d", at, at.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{future.ID, id}; !slices.Equal(jobIDs(got), want) {
			t.Errorf("claim at the new time: got %v, want %v", jobIDs(got), want)
		}
	})
}

func TestJobsReserve(t *testing.T) {
	eachJobStore(t, func(t *testing.T, _ jobBackend, s *Store) {
		ctx := context.Background()
		js := s.Jobs()
		for _, c := range []struct {
			recipient, day, id string
			limit              int
			want               bool
		}{
			{"p1", "2026-03-02", "a", 2, true},
			{"p1", "2026-03-02", "a", 2, true}, // counted once
			{"p1", "2026-03-02", "b", 2, true},
			{"p1", "2026-03-02", "c", 2, false}, // full
			{"p1", "2026-03-02", "b", 2, true},  // counted already
			{"p1", "2026-03-03", "c", 2, true},  // another day
			{"p2", "2026-03-02", "c", 2, true},  // another person
			{"p3", "2026-03-02", "x", 1, true},
			{"p3", "2026-03-02", "y", 1, false},
			{"p4", "2026-03-02", "x", 0, false}, // no room at all
		} {
			got, err := js.Reserve(ctx, c.recipient, c.day, c.id, c.limit)
			if err != nil {
				t.Fatalf("Reserve(%s, %s, %s, %d): %v", c.recipient, c.day, c.id, c.limit, err)
			}
			if got != c.want {
				t.Errorf("Reserve(%s, %s, %s, %d): got %v, want %v", c.recipient, c.day, c.id, c.limit, got, c.want)
			}
		}
	})
}

func TestJobsConcurrentClaimsEachOnce(t *testing.T) {
	eachJobStore(t, func(t *testing.T, b jobBackend, s *Store) {
		if !b.atomic {
			t.Skip("FerretDB reached over several connections does not update atomically")
		}
		ctx := context.Background()
		js := s.Jobs()
		const n = 200
		var all []scheduler.Job
		for i := range n {
			all = append(all, job("c:r0", fmt.Sprintf("p%03d", i), t0.Add(-time.Duration(i)*time.Second)))
		}
		if err := js.Insert(ctx, all); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		won := map[string]int{}
		var wg sync.WaitGroup
		for w := range 4 {
			owner := fmt.Sprintf("w%d", w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					batch, err := js.Claim(ctx, owner, t0, t0.Add(time.Minute), 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(batch) == 0 {
						return
					}
					for _, j := range batch {
						mu.Lock()
						won[j.ID]++
						mu.Unlock()
						if err := js.Finish(ctx, j.ID, owner, scheduler.StateSent, "", t0); err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
		wg.Wait()
		if len(won) != n {
			t.Errorf("claimed %d distinct jobs, want %d", len(won), n)
		}
		for id, k := range won {
			if k != 1 {
				t.Errorf("job %s claimed %d times, want once", id, k)
			}
		}
	})
}

// TestJobsEmbeddedRestart: a second store on the same database (a restart
// of the process) reads the jobs' states and tallies back, and completes a
// move to jobs_done that a crash cut short.
func TestJobsEmbeddedRestart(t *testing.T) {
	ctx := context.Background()
	s := openShared(t, Config{})
	js := s.Jobs()
	a, b, c, d := job("c:r0", "p1", t0), job("c:r0", "p2", t0.Add(time.Minute)), job("c:r0", "p3", t0.Add(2*time.Minute)), job("c:r0", "p4", t0.Add(3*time.Minute))
	if err := js.Insert(ctx, []scheduler.Job{a, b, c, d}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(5 * time.Minute)
	if _, err := js.Claim(ctx, "dead", now, now.Add(time.Minute), 1); err != nil { // a: claimed, then the process dies
		t.Fatal(err)
	}
	// b: finished in jobs, and the process died before the move.
	if _, err := s.c(colJobs).UpdateOne(ctx, byID(b.ID), bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: scheduler.StateSent}}}}); err != nil {
		t.Fatal(err)
	}
	// d: copied to jobs_done, and the process died before deleting the hot copy.
	dd := d
	dd.State, dd.Reason = scheduler.StateSkipped, "participant paused"
	if _, err := s.c(colJobsDone).InsertOne(ctx, jobDoc{Job: normalize(dd)}); err != nil {
		t.Fatal(err)
	}

	again, err := connect(ctx, Config{Database: s.db.Name()}, sharedFerret.emb, false)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	js2 := again.Jobs()
	tally, err := js2.Tally(ctx, "c")
	if err != nil || len(tally) != 4 {
		t.Fatalf("Tally after restart: got %v, %v, want 4 entries", tally, err)
	}
	got, err := js2.Claim(ctx, "new", now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{c.ID}; !slices.Equal(jobIDs(got), want) {
		t.Errorf("claim after restart: got %v, want %v (a is leased, b and d done)", jobIDs(got), want)
	}
	if err := js2.Finish(ctx, c.ID, "new", scheduler.StateSent, "", now); err != nil {
		t.Fatal(err)
	}
	if got, err := js2.Job(ctx, b.ID); err != nil || got.State != scheduler.StateSent {
		t.Errorf("b after restart: got %+v, %v, want sent", got, err)
	}
	if got, err := js2.Job(ctx, d.ID); err != nil || got.State != scheduler.StateSkipped {
		t.Errorf("d after restart: got %+v, %v, want skipped", got, err)
	}
	for _, id := range []string{b.ID, d.ID} {
		if n, _ := again.c(colJobs).CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); n != 0 {
			t.Errorf("%s is still in the hot collection after restart", id)
		}
	}
	later := now.Add(2 * time.Minute)
	got, err = js2.Claim(ctx, "new", later, later.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != a.ID || got[0].Attempts != 2 {
		t.Errorf("claim after the dead lease: got %+v, want a, attempt 2", got)
	}
	// The old process's memory is not consulted again; the new one inserts
	// nothing twice.
	if err := js2.Insert(ctx, []scheduler.Job{a, b, c, d}); err != nil {
		t.Fatal(err)
	}
	if tally, _ := js2.Tally(ctx, "c"); len(tally) != 4 || tally[0].Count != 1 || tally[3].Count != 1 {
		t.Errorf("Tally after inserting again: got %v", tally)
	}
}

func TestJobsPrune(t *testing.T) {
	eachJobStore(t, func(t *testing.T, _ jobBackend, s *Store) {
		ctx := context.Background()
		js := s.Jobs()
		old, recent := job("c:r0", "p1", t0), job("c:r0", "p2", t0)
		if err := js.Insert(ctx, []scheduler.Job{old, recent}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Claim(ctx, "a", t0, t0.Add(time.Minute), 10); err != nil {
			t.Fatal(err)
		}
		if err := js.Finish(ctx, old.ID, "a", scheduler.StateSent, "", t0); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(DefaultRetention + time.Hour)
		if err := js.Finish(ctx, recent.ID, "a", scheduler.StateSent, "", now); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Reserve(ctx, "p1", "2026-03-02", old.ID, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Prune(ctx, now); err != nil {
			t.Fatal(err)
		}
		if got, _ := js.Job(ctx, old.ID); got.Text != "" || got.State != scheduler.StateSent {
			t.Errorf("old job after Prune: got %+v, want it kept, without text", got)
		}
		if got, _ := js.Job(ctx, recent.ID); got.Text == "" {
			t.Errorf("recent job after Prune: lost its text")
		}
		if n, _ := s.c(colJobCaps).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Errorf("daily caps after Prune: got %d, want 0", n)
		}
		if err := js.Insert(ctx, []scheduler.Job{old}); err != nil {
			t.Fatal(err)
		}
		if tally, _ := js.Tally(ctx, "c"); len(tally) != 2 || tally[0].Count != 1 {
			t.Errorf("Tally after Prune: got %v, want the pruned job still counted once", tally)
		}
	})
}

func TestForgetDeletesJobs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id, other := "console:gone", "console:stays"
		for _, who := range []string{id, other} {
			h.send(who, flows.Input{Command: flows.CmdStart, Arg: "draft"})
			h.send(who, flows.Input{Text: "yes"})
		}
		p, _ := s.Participant(ctx, id)
		q, _ := s.Participant(ctx, other)
		js := s.Jobs()
		mine := []scheduler.Job{job("draft:r0", p.ID, t0), job("draft:r0", p.ID, t0.Add(time.Hour))}
		mine[0].Identity, mine[1].Identity = id, id
		theirs := job("draft:r0", q.ID, t0)
		if err := js.Insert(ctx, append(mine, theirs)); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Claim(ctx, "a", t0, t0.Add(time.Minute), 10); err != nil {
			t.Fatal(err)
		}
		// One done, one pending; a daily count.
		if err := js.Finish(ctx, mine[0].ID, "a", scheduler.StateSent, "", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Reserve(ctx, p.ID, "2026-03-02", mine[0].ID, 2); err != nil {
			t.Fatal(err)
		}
		f, err := s.Forget(ctx, id, t0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Jobs != 2 {
			t.Errorf("Forget: got %d jobs deleted, want 2", f.Jobs)
		}
		for col, docs := range dump(t, s) {
			for _, js := range docs {
				if strings.Contains(js, p.ID) || strings.Contains(js, id) {
					t.Errorf("after Forget, %s still holds them: %s", col, js)
				}
			}
		}
		tally, err := js.Tally(ctx, "draft")
		if err != nil || len(tally) != 1 || tally[0].Recipient != q.ID {
			t.Errorf("Tally after Forget: got %v, %v, want only the other person's", tally, err)
		}
		got, err := js.Claim(ctx, "a", t0.Add(2*time.Hour), t0.Add(3*time.Hour), 10)
		if err != nil || len(got) != 1 || got[0].ID != theirs.ID {
			t.Errorf("Claim after Forget: got %v, %v, want only the other person's job", jobIDs(got), err)
		}
	})
}

func TestSchedulingViews(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		cs := only(loadTestConsultations(t), "draft", "pulse")
		h := newHarness(t, s, cs)
		named, anon, done := "console:named", "console:anon", "console:done"
		h.send(named, flows.Input{Command: flows.CmdStart, Arg: "draft"})
		h.send(named, flows.Input{Text: "yes"})
		h.send(named, flows.Input{Text: "2"})
		h.send(anon, flows.Input{Command: flows.CmdStart, Arg: "pulse"})
		h.send(anon, flows.Input{Text: "yes"})
		h.send(anon, flows.Input{Text: "4"})
		h.completeDraft(done)
		p, _ := s.Participant(ctx, named)
		if _, err := s.c(colParticipants).UpdateOne(ctx, byID(p.ID), bson.D{{Key: "$set", Value: bson.D{{Key: "timezone", Value: "America/New_York"}}}}); err != nil {
			t.Fatal(err)
		}

		sc := s.Scheduling(cs)
		got, err := sc.Consultations(ctx)
		if err != nil || len(got) != 2 {
			t.Errorf("Consultations: got %d, %v, want 2", len(got), err)
		}
		views, err := sc.Views(ctx, "draft")
		if err != nil {
			t.Fatal(err)
		}
		if len(views) != 1 {
			t.Fatalf("Views(draft): got %+v, want the one unfinished session", views)
		}
		v := views[0]
		if v.Participant != p.ID || v.Identity != named || v.Channel != "console" || v.To != named ||
			v.Session != p.ID+":draft" || v.Status != flows.StatusActive || v.Location == nil || v.Location.String() != "America/New_York" ||
			v.Answers["q1"].Number != 2 || v.Started.IsZero() || v.Updated.Before(v.Started) {
			t.Errorf("Views(draft): got %+v", v)
		}
		one, err := sc.View(ctx, "draft", p.ID)
		if err != nil || fmt.Sprint(one) != fmt.Sprint(v) {
			t.Errorf("View: got %+v, %v, want %+v", one, err, v)
		}
		views, err = sc.Views(ctx, "pulse")
		if err != nil || len(views) != 1 || views[0].Answers != nil || views[0].Location != nil {
			t.Errorf("Views(pulse): got %+v, %v, want one view without answers or zone", views, err)
		}
		if _, err := sc.View(ctx, "pulse", p.ID); !errors.Is(err, scheduler.ErrNotFound) {
			t.Errorf("View of no session: got %v, want scheduler.ErrNotFound", err)
		}
		if _, err := sc.View(ctx, "draft", "p_0000000000000000"); !errors.Is(err, scheduler.ErrNotFound) {
			t.Errorf("View of nobody: got %v, want scheduler.ErrNotFound", err)
		}

		// Close ends unfinished sessions, once.
		if err := sc.Close(ctx, "draft", t0); err != nil {
			t.Fatal(err)
		}
		if err := sc.Close(ctx, "draft", t0); err != nil {
			t.Fatal(err)
		}
		if views, _ := sc.Views(ctx, "draft"); len(views) != 0 {
			t.Errorf("Views after Close: got %+v, want none", views)
		}

		m := flows.Outgoing{ID: "job-1", Channel: "console", Participant: named, To: named, Reply: flows.Reply{Text: "Hello"}, Created: t0}
		for range 2 {
			if err := sc.Enqueue(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if counts, _ := s.OutboxCounts(ctx, "console"); counts[OutPending] != 1 {
			t.Errorf("outbox after Enqueue twice: got %v, want 1 pending", counts)
		}
	})
}

// TestJobsStaleHoldReleased: an Insert on MongoDB that stopped between
// holding its jobs and releasing them leaves them unclaimable; Prune
// releases them, or drops one that was done meanwhile.
func TestJobsStaleHoldReleased(t *testing.T) {
	eachJobStore(t, func(t *testing.T, _ jobBackend, s *Store) {
		if s.Embedded() {
			t.Skip("the embedded store does not hold jobs while inserting")
		}
		ctx := context.Background()
		js := s.Jobs()
		lost, done := job("c:r0", "p1", t0), job("c:r0", "p2", t0)
		held := t0.Add(-time.Hour)
		for _, j := range []scheduler.Job{lost, done} {
			if _, err := s.c(colJobs).InsertOne(ctx, jobDoc{Job: normalize(j), Hold: "h", HeldAt: held}); err != nil {
				t.Fatal(err)
			}
		}
		finished := done
		finished.State = scheduler.StateSent
		if _, err := s.c(colJobsDone).InsertOne(ctx, jobDoc{Job: normalize(finished)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := js.Claim(ctx, "a", t0, t0.Add(time.Minute), 10); len(got) != 0 {
			t.Fatalf("Claim of held jobs: got %v, want none", jobIDs(got))
		}
		if _, err := js.Prune(ctx, t0); err != nil {
			t.Fatal(err)
		}
		got, err := js.Claim(ctx, "a", t0, t0.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{lost.ID}; !slices.Equal(jobIDs(got), want) {
			t.Errorf("Claim after Prune: got %v, want %v", jobIDs(got), want)
		}
		if j, _ := js.Job(ctx, done.ID); j.State != scheduler.StateSent {
			t.Errorf("the job done meanwhile: got %+v, want it sent, once", j)
		}
		if n, _ := s.c(colJobs).CountDocuments(ctx, bson.D{{Key: "_id", Value: done.ID}}); n != 0 {
			t.Errorf("the held copy of a done job is still there")
		}
	})
}
