package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// memJobs is an in-memory Jobs for testing the scheduler's own logic. Like
// the MongoDB store, a claim finds candidates first and then takes each by
// a conditional update of that one document, so concurrent instances race
// per document. It is not the storage implementation.
type memJobs struct {
	mu       sync.Mutex
	jobs     map[string]*Job
	reserved map[string][]string // recipient|day → job ids
}

var _ Jobs = (*memJobs)(nil)

func newMemJobs() *memJobs {
	return &memJobs{jobs: make(map[string]*Job), reserved: make(map[string][]string)}
}

func (m *memJobs) Insert(_ context.Context, jobs []Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range jobs {
		if _, ok := m.jobs[j.ID]; ok {
			continue
		}
		j := j
		m.jobs[j.ID] = &j
	}
	return nil
}

func (m *memJobs) Tally(_ context.Context, consultation string) ([]Tally, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sums := make(map[[2]string]*Tally)
	for _, j := range m.jobs {
		if j.Consultation != consultation {
			continue
		}
		k := [2]string{j.Rule, j.Recipient}
		t := sums[k]
		if t == nil {
			t = &Tally{Rule: j.Rule, Recipient: j.Recipient}
			sums[k] = t
		}
		t.Count++
		if j.Due.After(t.Last) {
			t.Last = j.Due
		}
	}
	var out []Tally
	for _, t := range sums {
		out = append(out, *t)
	}
	return out, nil
}

func claimable(j *Job, now time.Time) bool {
	return (j.State == StatePending && !j.SendAt.After(now)) ||
		(j.State == StateClaimed && j.LeaseUntil.Before(now))
}

func (m *memJobs) Claim(_ context.Context, owner string, now, until time.Time, n int) ([]Job, error) {
	// Find candidates, as a query would.
	m.mu.Lock()
	var ids []*Job
	for _, j := range m.jobs {
		if claimable(j, now) {
			ids = append(ids, j)
		}
	}
	slices.SortFunc(ids, func(a, b *Job) int {
		return cmp.Or(a.SendAt.Compare(b.SendAt), cmp.Compare(a.ID, b.ID))
	})
	cands := make([]string, 0, n)
	for _, j := range ids {
		if len(cands) == n {
			break
		}
		cands = append(cands, j.ID)
	}
	m.mu.Unlock()
	// Take each by its own conditional update; another instance may win.
	var won []Job
	for _, id := range cands {
		m.mu.Lock()
		j := m.jobs[id]
		if claimable(j, now) {
			j.State, j.Owner, j.LeaseUntil = StateClaimed, owner, until
			j.Attempts++
			won = append(won, *j)
		}
		m.mu.Unlock()
	}
	return won, nil
}

func (m *memJobs) held(id, owner string) (*Job, error) {
	j, ok := m.jobs[id]
	if !ok {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if j.State != StateClaimed || j.Owner != owner {
		return nil, fmt.Errorf("job %s held by %q (%s): %w", id, j.Owner, j.State, ErrConflict)
	}
	return j, nil
}

func (m *memJobs) Release(_ context.Context, id, owner string, sendAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err != nil {
		return err
	}
	j.State, j.Owner, j.LeaseUntil, j.SendAt = StatePending, "", time.Time{}, sendAt
	return nil
}

func (m *memJobs) Finish(_ context.Context, id, owner string, state State, reason string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.held(id, owner)
	if err != nil {
		return err
	}
	j.State, j.Reason, j.Finished, j.LeaseUntil = state, reason, at, time.Time{}
	return nil
}

func (m *memJobs) Reserve(_ context.Context, recipient, day, id string, limit int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := recipient + "|" + day
	ids := m.reserved[k]
	if slices.Contains(ids, id) {
		return true, nil
	}
	if len(ids) >= limit {
		return false, nil
	}
	m.reserved[k] = append(ids, id)
	return true, nil
}

// get returns a copy of a stored job.
func (m *memJobs) get(id string) (Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

// all returns copies of the stored jobs, by SendAt then ID.
func (m *memJobs) all() []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b Job) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// fakeSessions serves fixed consultations and views, and records closes.
type fakeSessions struct {
	mu     sync.Mutex
	cs     []*flows.Consultation
	views  map[string]map[string]View // consultation → participant → view
	closes []string                   // "consultation@time"
}

var _ Sessions = (*fakeSessions)(nil)

func newFakeSessions(cs ...*flows.Consultation) *fakeSessions {
	return &fakeSessions{cs: cs, views: make(map[string]map[string]View)}
}

func (f *fakeSessions) set(consultation string, v View) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.views[consultation]
	if m == nil {
		m = make(map[string]View)
		f.views[consultation] = m
	}
	m[v.Participant] = v
}

func (f *fakeSessions) update(consultation, participant string, change func(*View)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.views[consultation][participant]
	change(&v)
	f.views[consultation][participant] = v
}

func (f *fakeSessions) Consultations(context.Context) ([]*flows.Consultation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cs), nil
}

func (f *fakeSessions) Views(_ context.Context, consultation string) ([]View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []View
	for _, v := range f.views[consultation] {
		if !v.Status.Ended() {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b View) int { return cmp.Compare(a.Participant, b.Participant) })
	return out, nil
}

func (f *fakeSessions) View(_ context.Context, consultation, participant string) (View, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.views[consultation][participant]
	if !ok {
		return View{}, fmt.Errorf("session %s/%s: %w", consultation, participant, ErrNotFound)
	}
	return v, nil
}

func (f *fakeSessions) Close(_ context.Context, consultation string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes = append(f.closes, consultation+"@"+at.UTC().Format(time.RFC3339))
	for p, v := range f.views[consultation] {
		if !v.Status.Ended() {
			v.Status = flows.StatusClosed
			f.views[consultation][p] = v
		}
	}
	return nil
}

// fakeOutbox keeps one message per ID, as the outbox does, and counts every
// Enqueue call per ID. fail, when set, is consulted after the message is
// kept: a crash after the hand-off.
type fakeOutbox struct {
	mu    sync.Mutex
	msgs  map[string]flows.Outgoing
	order []string
	calls map[string]int
	fail  func(flows.Outgoing) error
}

var _ Outbox = (*fakeOutbox)(nil)

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{msgs: make(map[string]flows.Outgoing), calls: make(map[string]int)}
}

func (o *fakeOutbox) Enqueue(_ context.Context, m flows.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[m.ID]++
	if _, ok := o.msgs[m.ID]; !ok {
		o.msgs[m.ID] = m
		o.order = append(o.order, m.ID)
	}
	if o.fail != nil {
		return o.fail(m)
	}
	return nil
}

// sent returns the queued messages in the order first queued.
func (o *fakeOutbox) sent() []flows.Outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]flows.Outgoing, len(o.order))
	for i, id := range o.order {
		out[i] = o.msgs[id]
	}
	return out
}
