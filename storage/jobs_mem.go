package storage

import (
	"container/heap"
	"sync"
	"time"

	"github.com/consultbot/consultbot/scheduler"
)

// jobMemory is the embedded store's picture of its jobs: the state of each
// hot job (pending or claimed), a queue of them by the time they become
// claimable, and the tally of every job stored, per consultation. The
// data-directory lock makes this process the only writer, so it is the
// stored truth once read (see Jobs.load). Its mutex also serialises the
// job operations of the embedded store, which has one connection anyway.
type jobMemory struct {
	mu      sync.Mutex
	loaded  bool
	hot     map[string]*hotJob
	queue   claimQueue
	tallies map[string]map[tallyKey]*scheduler.Tally // consultation → rule, recipient
}

// hotJob is what claiming needs to know of a job in the jobs collection.
type hotJob struct {
	consultation string
	recipient    string
	state        scheduler.State
	sendAt       time.Time
	owner        string
	leaseUntil   time.Time
	gen          uint64 // bumped at each change: queue entries of older gens are stale
}

// claimable reports whether the job may be claimed at now.
func (h *hotJob) claimable(now time.Time) bool {
	switch h.state {
	case scheduler.StatePending:
		return !h.sendAt.After(now)
	case scheduler.StateClaimed:
		return h.leaseUntil.Before(now)
	}
	return false
}

// from is when the job becomes claimable.
func (h *hotJob) from() time.Time {
	if h.state == scheduler.StateClaimed {
		return h.leaseUntil
	}
	return h.sendAt
}

func (m *jobMemory) reset() {
	m.loaded = false
	m.hot = map[string]*hotJob{}
	m.queue = nil
	m.tallies = map[string]map[tallyKey]*scheduler.Tally{}
}

// add records a job stored in jobs.
func (m *jobMemory) add(j scheduler.Job) {
	h := &hotJob{
		consultation: j.Consultation, recipient: j.Recipient, state: j.State,
		sendAt: ms(j.SendAt), owner: j.Owner, leaseUntil: ms(j.LeaseUntil),
	}
	m.hot[j.ID] = h
	m.push(j.ID, h)
}

// count adds a stored job to its tally.
func (m *jobMemory) count(j scheduler.Job) {
	sums := m.tallies[j.Consultation]
	if sums == nil {
		sums = map[tallyKey]*scheduler.Tally{}
		m.tallies[j.Consultation] = sums
	}
	addTally(sums, scheduler.Job{Rule: j.Rule, Recipient: j.Recipient, Due: ms(j.Due)})
}

func (m *jobMemory) push(id string, h *hotJob) {
	h.gen++
	heap.Push(&m.queue, queued{at: h.from(), id: id, gen: h.gen})
	// Stale entries go as claims pass them; rebuild when they pile up.
	if len(m.queue) > 2*len(m.hot)+1024 {
		m.rebuild()
	}
}

func (m *jobMemory) rebuild() {
	q := make(claimQueue, 0, len(m.hot))
	for id, h := range m.hot {
		q = append(q, queued{at: h.from(), id: id, gen: h.gen})
	}
	heap.Init(&q)
	m.queue = q
}

// due takes up to n ids of jobs claimable at now off the queue, earliest
// first. The caller claims each, or puts it back with requeue.
func (m *jobMemory) due(now time.Time, n int) []string {
	var ids []string
	var later []queued // claimable from now, but not at now (a lease lapses after now)
	for len(ids) < n && len(m.queue) > 0 {
		top := m.queue[0]
		if top.at.After(now) {
			break
		}
		heap.Pop(&m.queue)
		h, ok := m.hot[top.id]
		if !ok || h.gen != top.gen {
			continue // stale
		}
		if !h.claimable(now) {
			later = append(later, top)
			continue
		}
		ids = append(ids, top.id)
	}
	for _, q := range later {
		heap.Push(&m.queue, q)
	}
	return ids
}

// requeue puts a job taken off the queue by due, and not claimed, back.
func (m *jobMemory) requeue(id string) {
	if h, ok := m.hot[id]; ok {
		m.push(id, h)
	}
}

// claimed records a claim.
func (m *jobMemory) claimed(id, owner string, until time.Time) {
	h, ok := m.hot[id]
	if !ok {
		return
	}
	h.state, h.owner, h.leaseUntil = scheduler.StateClaimed, owner, until
	m.push(id, h)
}

// pending records a release.
func (m *jobMemory) pending(id string, sendAt time.Time) {
	h, ok := m.hot[id]
	if !ok {
		return
	}
	h.state, h.owner, h.leaseUntil, h.sendAt = scheduler.StatePending, "", time.Time{}, sendAt
	m.push(id, h)
}

// drop forgets a job that left jobs (finished, or gone); its tally stays.
func (m *jobMemory) drop(id string) { delete(m.hot, id) }

// forget drops every job and tally of recipient.
func (m *jobMemory) forget(recipient string) {
	if !m.loaded {
		return
	}
	for id, h := range m.hot {
		if h.recipient == recipient {
			delete(m.hot, id)
		}
	}
	for _, sums := range m.tallies {
		for k := range sums {
			if k.recipient == recipient {
				delete(sums, k)
			}
		}
	}
}

// queued is an entry of the claim queue.
type queued struct {
	at  time.Time
	id  string
	gen uint64
}

// claimQueue is a min-heap of queued entries by time, then id.
type claimQueue []queued

func (q claimQueue) Len() int { return len(q) }
func (q claimQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].id < q[j].id
}
func (q claimQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *claimQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *claimQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
