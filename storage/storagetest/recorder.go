package storagetest

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/consultbot/consultbot/storage"
)

// Outcome is what a channel told the store about one outbox item, last word
// first: Status is pending (after a retry), sent, failed or unknown.
type Outcome struct {
	Status    string
	Ref       string
	Reason    string
	Attempts  int // retries
	NotBefore time.Time
}

// Recorder is a real store that also records what a channel told it about
// each outbox item and participant. Every call reaches the real database; a
// call is recorded only when the store took it.
type Recorder struct {
	*storage.Store

	mu          sync.Mutex
	outcomes    map[string]Outcome // outbox id -> what came of it
	unreachable []string           // identities marked unreachable, in order
}

// NewRecorder records what goes through st.
func NewRecorder(st *storage.Store) *Recorder {
	return &Recorder{Store: st, outcomes: map[string]Outcome{}}
}

// record notes what came of outbox item id when the store took it.
func (r *Recorder) record(id string, err error, change func(o *Outcome)) error {
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.outcomes[id]
	change(&o)
	r.outcomes[id] = o
	return nil
}

func (r *Recorder) Sent(ctx context.Context, id, ref string, now time.Time) error {
	return r.record(id, r.Store.Sent(ctx, id, ref, now), func(o *Outcome) { o.Status, o.Ref = storage.OutSent, ref })
}

func (r *Recorder) Failed(ctx context.Context, id, reason string, now time.Time) error {
	return r.record(id, r.Store.Failed(ctx, id, reason, now), func(o *Outcome) { o.Status, o.Reason = storage.OutFailed, reason })
}

func (r *Recorder) Unknown(ctx context.Context, id, reason string, now time.Time) error {
	return r.record(id, r.Store.Unknown(ctx, id, reason, now), func(o *Outcome) { o.Status, o.Reason = storage.OutUnknown, reason })
}

func (r *Recorder) Retry(ctx context.Context, id string, notBefore time.Time) error {
	return r.record(id, r.Store.Retry(ctx, id, notBefore), func(o *Outcome) {
		o.Status, o.NotBefore = storage.OutPending, notBefore
		o.Attempts++
	})
}

func (r *Recorder) Unreachable(ctx context.Context, identity string, now time.Time) error {
	if err := r.Store.Unreachable(ctx, identity, now); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable = append(r.unreachable, identity)
	return nil
}

// Outcome returns what came of outbox item id so far.
func (r *Recorder) Outcome(id string) (Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.outcomes[id]
	return o, ok
}

// Statuses counts the outbox items with an outcome by their last status.
func (r *Recorder) Statuses() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for o := range maps.Values(r.outcomes) {
		n[o.Status]++
	}
	return n
}

// Unreachables lists the identities marked unreachable, in order.
func (r *Recorder) Unreachables() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.unreachable)
}
