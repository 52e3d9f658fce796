package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
)

// Scheduling is what the scheduler reads and writes besides its jobs: the
// consultations loaded, the sessions reminders are about (with each
// person's own time zone), closes, and the outbox. It implements
// scheduler.Sessions and scheduler.Outbox; with Store.Jobs it is all
// scheduler.New needs:
//
//	sc := st.Scheduling(consultations)
//	sch := scheduler.New(st.Jobs(), sc, sc, scheduler.Options{})
type Scheduling struct {
	s  *Store
	cs []*flows.Consultation

	mu    sync.Mutex
	zones map[string]*time.Location // participants' time zones by name; nil: not a zone
}

var (
	_ scheduler.Sessions = (*Scheduling)(nil)
	_ scheduler.Outbox   = (*Scheduling)(nil)
)

// Scheduling returns the scheduler's view of the store for the given
// consultations (those loaded now).
func (s *Store) Scheduling(consultations []*flows.Consultation) *Scheduling {
	return &Scheduling{s: s, cs: slices.Clone(consultations), zones: map[string]*time.Location{}}
}

// Consultations returns the consultations given to Scheduling.
func (sc *Scheduling) Consultations(context.Context) ([]*flows.Consultation, error) {
	return slices.Clone(sc.cs), nil
}

// Views returns the participants of a consultation whose sessions have not
// ended, as reminders see them, in participant order.
func (sc *Scheduling) Views(ctx context.Context, consultation string) ([]scheduler.View, error) {
	views, err := sc.s.Views(ctx, consultation)
	if err != nil {
		return nil, err
	}
	out := make([]scheduler.View, len(views))
	for i, v := range views {
		out[i] = sc.view(v)
	}
	slices.SortFunc(out, func(a, b scheduler.View) int { return cmp.Compare(a.Participant, b.Participant) })
	return out, nil
}

// View returns one participant's view now (participant is the
// pseudonymous id, a job's recipient); ErrNotFound (this package's and the
// scheduler's) when the participant or the session is gone.
func (sc *Scheduling) View(ctx context.Context, consultation, participant string) (scheduler.View, error) {
	v, err := sc.s.View(ctx, consultation, participant)
	if errors.Is(err, ErrNotFound) {
		return scheduler.View{}, fmt.Errorf("storage: session of %s in %s: %w", participant, consultation, errJobNotFound())
	}
	if err != nil {
		return scheduler.View{}, err
	}
	return sc.view(v), nil
}

func (sc *Scheduling) view(v SessionView) scheduler.View {
	return scheduler.View{
		Participant: v.Participant,
		Identity:    v.Identity,
		Channel:     v.Channel,
		To:          v.To,
		Session:     v.Session,
		Language:    v.Language,
		Status:      v.Status,
		Started:     v.Started,
		Updated:     v.Updated,
		Answers:     v.Answers,
		Location:    sc.zone(v.Timezone),
		Unreachable: v.Unreachable,
	}
}

// zone returns the location named name, nil for "" or an unknown name (the
// consultation's zone then applies).
func (sc *Scheduling) zone(name string) *time.Location {
	if name == "" {
		return nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if loc, ok := sc.zones[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		sc.s.log.Warn("participant time zone not known; using the consultation's", "zone", name, "err", err)
		loc = nil
	}
	sc.zones[name] = loc
	return loc
}

// Close ends the unfinished sessions of a consultation that closed at at
// (see Store.CloseSessions). Calling it again changes nothing.
func (sc *Scheduling) Close(ctx context.Context, consultation string, at time.Time) error {
	n, err := sc.s.CloseSessions(ctx, consultation, at)
	if err != nil {
		return err
	}
	if n > 0 {
		sc.s.log.InfoContext(ctx, "consultation closed", "consultation", consultation, "sessions", n)
	}
	return nil
}

// Enqueue queues one message (see Store.Enqueue): a no-op for an ID queued
// or sent already.
func (sc *Scheduling) Enqueue(ctx context.Context, m flows.Outgoing) error {
	return sc.s.Enqueue(ctx, m)
}
