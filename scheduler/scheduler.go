package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// Sentinel errors the stores below return, wrapped or not.
var (
	// ErrNotFound: no such document (a participant or session gone).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the job is no longer claimed by this owner (its lease
	// lapsed and another instance took it over).
	ErrConflict = errors.New("conflict")
)

// Jobs is the job store the scheduler needs: one document per occurrence
// (see Job), changed only by single-document conditional updates.
type Jobs interface {
	// Insert stores jobs, in the state they carry. A job whose ID is stored
	// already is left as it is, without error.
	Insert(ctx context.Context, jobs []Job) error
	// Tally sums up the stored jobs of a consultation, per rule and
	// recipient, whatever their state.
	Tally(ctx context.Context, consultation string) ([]Tally, error)
	// Claim takes up to n jobs that are due: pending with SendAt ≤ now, or
	// claimed with LeaseUntil < now (their owner died). Each is claimed by a
	// conditional update (state claimed, Owner owner, LeaseUntil until,
	// Attempts+1) that fails when another instance got it first; it returns
	// the jobs won, as updated, earliest SendAt first.
	Claim(ctx context.Context, owner string, now, until time.Time, n int) ([]Job, error)
	// Release puts a job claimed by owner back to pending, to be claimed
	// again from sendAt; ErrConflict when owner no longer holds it.
	Release(ctx context.Context, id, owner string, sendAt time.Time) error
	// Finish records the outcome (sent, skipped with a reason, unknown) of a
	// job claimed by owner; ErrConflict when owner no longer holds it.
	Finish(ctx context.Context, id, owner string, state State, reason string, at time.Time) error
	// Reserve counts reminder id against the daily cap of recipient on day
	// (local YYYY-MM-DD): true when id is counted already or fewer than
	// limit are; false when the day is full. A single conditional update on
	// one document per recipient and day, so it holds across instances and
	// counts a job once however often it is retried.
	Reserve(ctx context.Context, recipient, day, id string, limit int) (bool, error)
}

// Sessions is what the scheduler reads about consultations and the people
// taking them, and how it closes them.
type Sessions interface {
	// Consultations returns the consultations loaded now.
	Consultations(ctx context.Context) ([]*flows.Consultation, error)
	// Views returns the participants of a consultation whose sessions have
	// not ended (others are ignored anyway).
	Views(ctx context.Context, consultation string) ([]View, error)
	// View returns one participant's view now; ErrNotFound when there is
	// no such session or participant any more.
	View(ctx context.Context, consultation, participant string) (View, error)
	// Close ends the unfinished sessions of a consultation that closed at
	// at (status closed); late answers then get the engine's "this has
	// closed" reply. Calling it again changes nothing.
	Close(ctx context.Context, consultation string, at time.Time) error
}

// Outbox queues outgoing messages. Enqueue of an ID queued already is a
// no-op, which makes the hand-off from a job idempotent.
type Outbox interface {
	Enqueue(ctx context.Context, m flows.Outgoing) error
}

// Defaults for Options.
const (
	DefaultLease       = 2 * time.Minute
	DefaultBatchSize   = 50
	DefaultInterval    = time.Minute
	DefaultDailyCap    = 2
	DefaultMaxAttempts = 5
)

// Options tune a Scheduler. The zero value of each field means its default.
type Options struct {
	Now         func() time.Time // the clock Run reads; nil: time.Now
	Owner       string           // this instance's name on its claims; "": host, pid and a random suffix
	Lease       time.Duration    // how long a claim holds before others may take it over
	Grace       time.Duration    // how late an occurrence may still go out (DefaultGrace)
	BatchSize   int              // jobs per claim
	Interval    time.Duration    // how often Run ticks
	DailyCap    int              // reminders per person per local day, across consultations; < 0: no cap
	MaxAttempts int              // claims after which a job is marked unknown instead of tried again
	Logger      *slog.Logger     // nil: discard
	Policy      Policy           // planning: default zone, lookback, backfill
}

// Scheduler plans reminders, scheduled messages and closes into job
// documents, then claims the due ones and hands them to the outbox. It
// keeps no state between ticks: everything it knows is in the stores, so
// several instances may share them and a restart loses nothing.
type Scheduler struct {
	jobs     Jobs
	sessions Sessions
	out      Outbox
	o        Options
}

// Stats counts what one Tick did.
type Stats struct {
	Planned  int // jobs offered to Insert (stored ones are left alone)
	Sent     int // handed to the outbox, or closes done
	Skipped  int
	Deferred int // put back for later: quiet hours, or the daily cap for before_close
	Failed   int // left claimed after an error, retried when the lease lapses
}

// New returns a Scheduler over the given stores.
func New(jobs Jobs, sessions Sessions, out Outbox, o Options) *Scheduler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.DailyCap == 0 {
		o.DailyCap = DefaultDailyCap
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Policy = o.Policy.withDefaults()
	return &Scheduler{jobs: jobs, sessions: sessions, out: out, o: o}
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "consultbot"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Owner returns the name this instance claims jobs under.
func (s *Scheduler) Owner() string { return s.o.Owner }

// Run ticks at once and then every Interval until ctx is done, and returns
// nil then. A tick's errors are logged; the next tick tries again.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		if st, err := s.Tick(ctx, s.o.Now()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.o.Logger.Error("scheduler tick", "err", err, "sent", st.Sent, "failed", st.Failed)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick does one round at now: it plans every occurrence due by now into
// job documents (idempotently), then claims due jobs in batches until none
// is left and sends, defers or skips each. The error joins what failed;
// the rest of the round is done regardless.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (Stats, error) {
	var st Stats
	var errs []error
	cs, err := s.sessions.Consultations(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("scheduler: consultations: %w", err))
	}
	byID := make(map[string]*flows.Consultation, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
		n, err := s.plan(ctx, c, now)
		st.Planned += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	for ctx.Err() == nil {
		batch, err := s.jobs.Claim(ctx, s.o.Owner, now, now.Add(s.o.Lease), s.o.BatchSize)
		if err != nil {
			errs = append(errs, fmt.Errorf("scheduler: claim: %w", err))
			break
		}
		if len(batch) == 0 {
			break
		}
		for _, j := range batch {
			s.handle(ctx, byID[j.Consultation], j, now, &st)
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return st, errors.Join(errs...)
}

// plan stores the occurrences of c due by now.
func (s *Scheduler) plan(ctx context.Context, c *flows.Consultation, now time.Time) (int, error) {
	tallies, err := s.jobs.Tally(ctx, c.ID)
	if err != nil {
		return 0, fmt.Errorf("scheduler: tally %s: %w", c.ID, err)
	}
	byRecipient := make(map[string]map[string]Tally)
	for _, t := range tallies {
		m := byRecipient[t.Recipient]
		if m == nil {
			m = make(map[string]Tally)
			byRecipient[t.Recipient] = m
		}
		m[t.Rule] = t
	}
	schedules := make(map[string]Tally)
	for i, sc := range c.Schedules {
		rule := ScheduleRuleID(c.ID, sc, i)
		schedules[rule] = byRecipient[sc.To][rule]
	}
	jobs := PlanSchedules(c, schedules, now, s.o.Policy)
	if j, ok := PlanClose(c, now); ok && byRecipient[""][j.Rule].Count == 0 {
		jobs = append(jobs, j)
	}
	if len(c.Reminders) > 0 && (c.ClosesAt.IsZero() || now.Before(c.ClosesAt)) {
		views, err := s.sessions.Views(ctx, c.ID)
		if err != nil {
			return 0, fmt.Errorf("scheduler: participants of %s: %w", c.ID, err)
		}
		for _, v := range views {
			v.Sent = byRecipient[v.Participant]
			jobs = append(jobs, PlanReminders(c, v, now, s.o.Policy)...)
		}
	}
	if len(jobs) == 0 {
		return 0, nil
	}
	if err := s.jobs.Insert(ctx, jobs); err != nil {
		return 0, fmt.Errorf("scheduler: insert jobs of %s: %w", c.ID, err)
	}
	return len(jobs), nil
}

// handle decides what becomes of one claimed job.
func (s *Scheduler) handle(ctx context.Context, c *flows.Consultation, j Job, now time.Time, st *Stats) {
	log := s.o.Logger.With("job", j.ID)
	// A close is idempotent and must happen: it is retried each lease.
	if j.Attempts > s.o.MaxAttempts && j.Kind != KindClose {
		s.finish(ctx, log, j, StateUnknown, fmt.Sprintf("claimed %d times without an outcome", j.Attempts-1), now, st)
		return
	}
	switch {
	case j.Kind == KindClose:
		// A close always happens, however late.
		if err := s.sessions.Close(ctx, j.Consultation, j.Due); err != nil {
			s.fail(log, "close", err, st)
			return
		}
		s.finish(ctx, log, j, StateSent, "", now, st)
		return
	case !Late(j.SendAt, now, s.o.Grace):
		s.finish(ctx, log, j, StateSkipped, Missed(j.SendAt, now), now, st)
		return
	case c == nil:
		s.finish(ctx, log, j, StateSkipped, "consultation no longer loaded", now, st)
		return
	case j.Kind == KindSchedule:
		if !hasSchedule(c, j.Rule) {
			s.finish(ctx, log, j, StateSkipped, "schedule removed from the file", now, st)
			return
		}
		s.send(ctx, log, j, flows.Outgoing{
			ID: j.ID, Channel: j.Channel, To: j.To,
			Reply: flows.Reply{Text: j.Text}, NotBefore: j.SendAt, Created: now,
		}, now, st)
		return
	case !j.Kind.Reminder():
		s.finish(ctx, log, j, StateSkipped, "unknown job kind "+string(j.Kind), now, st)
		return
	}
	s.remind(ctx, log, c, j, now, st)
}

// remind checks a reminder against the person's state now, quiet hours and
// the daily cap, then hands it over.
func (s *Scheduler) remind(ctx context.Context, log *slog.Logger, c *flows.Consultation, j Job, now time.Time, st *Stats) {
	if !c.ClosesAt.IsZero() && !now.Before(c.ClosesAt) {
		s.finish(ctx, log, j, StateSkipped, "consultation closed", now, st)
		return
	}
	if j.Index >= len(c.Reminders) || Kind(c.Reminders[j.Index].Kind) != j.Kind {
		s.finish(ctx, log, j, StateSkipped, "reminder rule changed", now, st)
		return
	}
	r := c.Reminders[j.Index]
	v, err := s.sessions.View(ctx, c.ID, j.Recipient)
	if errors.Is(err, ErrNotFound) {
		s.finish(ctx, log, j, StateSkipped, "participant not found", now, st)
		return
	}
	if err != nil {
		s.fail(log, "participant", err, st)
		return
	}
	if why := Halted(v); why != "" {
		s.finish(ctx, log, j, StateSkipped, why, now, st)
		return
	}
	if j.Kind == KindAfter && v.Updated.After(j.Due.Add(-r.After)) {
		s.finish(ctx, log, j, StateSkipped, "participant active since the nudge was planned", now, st)
		return
	}
	loc, q := Zone(c, v, s.o.Policy.Location), Quiet(c, v)
	if at := Defer(now, loc, q); at.After(now) {
		s.later(ctx, log, c, j, at, "quiet hours last until after the consultation closes", now, st)
		return
	}
	if s.o.DailyCap > 0 {
		ok, err := s.jobs.Reserve(ctx, j.Recipient, localDay(now, loc), j.ID, s.o.DailyCap)
		if err != nil {
			s.fail(log, "reserve", err, st)
			return
		}
		if !ok {
			const full = "daily reminder limit reached"
			if j.Kind != KindBeforeClose {
				s.finish(ctx, log, j, StateSkipped, full, now, st)
				return
			}
			w := wall(now, loc)
			tomorrow := resolve(time.Date(w.Year(), w.Month(), w.Day()+1, 0, 0, 0, 0, time.UTC), loc)
			s.later(ctx, log, c, j, Defer(tomorrow, loc, q), full, now, st)
			return
		}
	}
	m := flows.Outgoing{
		ID: j.ID, Channel: j.Channel, Participant: j.Identity, To: j.To, Session: j.Session,
		Reply: flows.Reply{Text: j.Text}, NotBefore: j.SendAt, Created: now,
	}
	if v.Channel != "" && v.To != "" { // the person may have moved channel since
		m.Channel, m.Participant, m.To = v.Channel, v.Identity, v.To
	}
	s.send(ctx, log, j, m, now, st)
}

// later puts a reminder back for at, or skips it with why when at is not
// before the consultation closes.
func (s *Scheduler) later(ctx context.Context, log *slog.Logger, c *flows.Consultation, j Job, at time.Time, why string, now time.Time, st *Stats) {
	if !c.ClosesAt.IsZero() && !at.Before(c.ClosesAt) {
		s.finish(ctx, log, j, StateSkipped, why, now, st)
		return
	}
	if err := s.jobs.Release(ctx, j.ID, s.o.Owner, at); err != nil {
		s.fail(log, "release", err, st)
		return
	}
	st.Deferred++
}

func (s *Scheduler) send(ctx context.Context, log *slog.Logger, j Job, m flows.Outgoing, now time.Time, st *Stats) {
	if err := s.out.Enqueue(ctx, m); err != nil {
		s.fail(log, "enqueue", err, st)
		return
	}
	s.finish(ctx, log, j, StateSent, "", now, st)
}

func (s *Scheduler) finish(ctx context.Context, log *slog.Logger, j Job, state State, reason string, now time.Time, st *Stats) {
	if err := s.jobs.Finish(ctx, j.ID, s.o.Owner, state, reason, now); err != nil {
		s.fail(log, "finish", err, st)
		return
	}
	switch state {
	case StateSent:
		st.Sent++
	default:
		st.Skipped++
		log.Info("job skipped", "state", state, "reason", reason)
	}
}

// fail leaves a job claimed; when the lease lapses, any instance tries it
// again (the outbox hand-off is idempotent, so a repeat sends nothing twice).
func (s *Scheduler) fail(log *slog.Logger, what string, err error, st *Stats) {
	st.Failed++
	if errors.Is(err, ErrConflict) {
		log.Info("job taken over by another instance", "step", what)
		return
	}
	log.Error("job failed; retried when its lease lapses", "step", what, "err", err)
}

func hasSchedule(c *flows.Consultation, rule string) bool {
	for i, sc := range c.Schedules {
		if ScheduleRuleID(c.ID, sc, i) == rule {
			return true
		}
	}
	return false
}
