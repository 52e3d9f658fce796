// Package scheduler sends reminders and scheduled messages at the right
// time, once, without holding anything in memory that a restart would lose.
//
// # Jobs
//
// Each occurrence of a rule is a job document with a deterministic ID
// (rule, recipient, due time; see JobID), so planning the same occurrence
// again, on this instance or another, stores it once. A job goes
// pending → claimed (owner, lease until) → sent, skipped (with a reason) or
// unknown. Claims are single-document conditional updates: several
// instances sharing one database each take an occurrence once, and a claim
// whose lease lapses (its instance died) is taken over. "Sent" means queued
// in the outbox under the job's ID, so a taken-over job that was queued
// already is not queued twice.
//
// The rules, from a consultation file (see PlanReminders, PlanSchedules and
// PlanClose):
//
//   - after: 2d, max: 2 nudges someone who started but has not finished,
//     after that much silence, at most max times, never after the close;
//   - cron: "0 10 * * MON" reminds everyone who has not finished, in the
//     consultation's timezone (or the spec's CRON_TZ=);
//   - before_close: 24h warns everyone who has not finished, once;
//   - the close itself ends unfinished sessions;
//   - schedules announce to a group on a cron spec or every interval from a
//     start time (every: 2w, starting: 2026-12-03T18:00), up to an end.
//
// # Respect
//
// A reminder is timed in the participant's zone (their own, else the
// consultation's, else the deployment's). One due inside their quiet hours
// (default 21:00-09:00 local) waits for the end. At most DailyCap reminders
// (default 2) go to one person per local day, across consultations: an
// after or cron reminder beyond it is skipped, a before_close warning waits
// for the next day (or is skipped if that is after the close). Before
// sending, the person's state is read again: a paused, stopped, withdrawn,
// finished or unreachable person gets nothing. Anonymous consultations
// still nudge non-finishers: completion is tracked apart from the answers.
//
// # Downtime
//
// After downtime, an occurrence missed by less than the grace period
// (default 6 hours) is sent late; an older one is recorded as skipped,
// "missed by 48h during downtime" (see Late). Occurrences are planned at
// most Policy.Lookback (default 7 days) back. A close always happens,
// however late.
//
// # Clocks
//
// github.com/robfig/cron/v3 only computes the next wall-clock match (see
// Next); on its own it skips a time in the spring-forward gap and fires
// twice in the autumn overlap. Our policy on top: a wall time in the gap
// runs at the first valid minute after it, once, and a wall time in the
// overlap runs once, at its first instance; intervals of whole days keep
// their wall-clock time across changes (see Every). Quiet hours end by the
// same rules (see Defer). Time-zone data is embedded (time/tzdata), so a
// bare server works. Time is always a parameter: Tick takes now, and Run
// reads the injected clock.
package scheduler
