package scheduler

import (
	"strconv"
	"strings"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// Planning defaults.
const (
	DefaultLookback = 7 * 24 * time.Hour
	DefaultBackfill = 100
)

// Default reminder texts, used when a rule in the file gives none.
const (
	DefaultAfterText       = "You started '{{title}}' but haven't finished — whenever you're ready, just reply here to carry on."
	DefaultCronText        = "A gentle reminder about '{{title}}' — whenever you're ready, just reply here to carry on."
	DefaultBeforeCloseText = "'{{title}}' closes on {{closes_at}}. If you'd like to finish your answers, just reply here to carry on where you left off."
)

// View is what planning knows about one participant in one consultation.
// Completion is tracked by Status and the times, apart from the answers, so
// anonymous consultations nudge non-finishers without linking a person to
// what they said (Answers is ignored there).
type View struct {
	Participant string // pseudonymous participant id: the jobs' recipient and the key of the daily cap
	Identity    string // channel identity ("tg:123"), for the outgoing message
	Channel     string // "telegram", "slack", "console"
	To          string // where the message goes on that channel: DM chat or channel id
	Session     string // the session's id, passed on to the outgoing message
	Language    string

	Status  flows.Status
	Started time.Time
	Updated time.Time // last activity

	Answers     map[string]flows.Answer // for {{answers.<id>}}; not used for anonymous consultations
	Location    *time.Location          // the person's own zone; nil: the consultation's, then the default
	QuietHours  *flows.QuietHours       // the person's own; nil: the consultation's
	Paused      bool                    // reminders paused for this person, besides a paused session
	Unreachable bool                    // blocked the bot or left the workspace: nothing can be delivered

	Sent map[string]Tally // jobs already stored for this person, by rule id
}

// Policy holds the settings planning uses. The zero value works.
type Policy struct {
	Location *time.Location // the deployment's default zone, for files without a timezone; nil: UTC
	Lookback time.Duration  // missed occurrences older than this are neither planned nor recorded; 0: DefaultLookback
	Backfill int            // at most this many occurrences per rule and recipient per pass (the latest); 0: DefaultBackfill
}

func (p Policy) withDefaults() Policy {
	if p.Lookback <= 0 {
		p.Lookback = DefaultLookback
	}
	if p.Backfill <= 0 {
		p.Backfill = DefaultBackfill
	}
	return p
}

// RuleID returns the stable id of a consultation's i-th reminder,
// e.g. "draft-questions:r0".
func RuleID(consultation string, i int) string {
	return consultation + ":r" + strconv.Itoa(i)
}

// ScheduleRuleID returns the stable id of a scheduled message: by its id in
// the file when it has one (so reordering the file changes nothing), else by
// its position.
func ScheduleRuleID(consultation string, s flows.Schedule, i int) string {
	if s.ID != "" {
		return consultation + ":s:" + s.ID
	}
	return consultation + ":s" + strconv.Itoa(i)
}

// CloseRuleID returns the id of a consultation's close job.
func CloseRuleID(consultation string) string { return consultation + ":close" }

// Zone returns the zone a participant's reminders are timed in: their own,
// else the consultation's timezone, else the deployment default def, else
// the consultation's Location (UTC when the file names no timezone).
func Zone(c *flows.Consultation, v View, def *time.Location) *time.Location {
	if v.Location != nil {
		return v.Location
	}
	return consultationZone(c, def)
}

// consultationZone is the zone of c's cron rules and schedules: its
// timezone, else the deployment default def.
func consultationZone(c *flows.Consultation, def *time.Location) *time.Location {
	switch {
	case c.Timezone != "" && c.Location != nil:
		return c.Location
	case def != nil:
		return def
	}
	return orUTC(c.Location)
}

// Quiet returns a participant's quiet hours: their own, else the
// consultation's.
func Quiet(c *flows.Consultation, v View) flows.QuietHours {
	if v.QuietHours != nil {
		return *v.QuietHours
	}
	return c.QuietHours
}

// Halted returns why no reminder may go to v now, or "" when they may:
// reminders go only to someone who has started and not finished, is not
// paused and can be reached.
func Halted(v View) string {
	switch {
	case v.Unreachable:
		return "participant unreachable"
	case v.Paused || v.Status == flows.StatusPaused:
		return "participant paused"
	case v.Status == flows.StatusNew:
		return "not started"
	case v.Status.Ended():
		return "session " + string(v.Status)
	case v.Status != flows.StatusConsent && v.Status != flows.StatusActive:
		return "session " + string(v.Status)
	}
	return ""
}

// PlanReminders returns the reminder occurrences of c for v that are due at
// now (due time ≤ now) and not stored yet as far as v.Sent tells. Each job
// is pending with SendAt after quiet hours, or already skipped when it could
// only arrive after the consultation closes. Recomputing gives the same IDs.
//
//   - after: the k-th nudge is due at the last activity (or the last nudge,
//     whichever is later) + After, at most Max in all, never at or after close;
//   - cron: every occurrence in the consultation's zone (or the spec's
//     CRON_TZ) after the person's start and last activity;
//   - before_close: once, at ClosesAt - Before, to those who started before it.
func PlanReminders(c *flows.Consultation, v View, now time.Time, p Policy) []Job {
	if Halted(v) != "" || (!c.ClosesAt.IsZero() && !now.Before(c.ClosesAt)) {
		return nil
	}
	p = p.withDefaults()
	var jobs []Job
	for i, r := range c.Reminders {
		rule := RuleID(c.ID, i)
		sent := v.Sent[rule]
		var dues []time.Time
		switch r.Kind {
		case flows.RemindAfter:
			dues = afterDues(r, v, sent, c.ClosesAt, now)
		case flows.RemindCron:
			from := latest(sent.Last, v.Started, v.Updated, now.Add(-p.Lookback))
			dues = cronDues(r.Cron, consultationZone(c, p.Location), from, now, c.ClosesAt, p.Backfill)
		case flows.RemindBeforeClose:
			due := c.ClosesAt.Add(-r.Before)
			if !c.ClosesAt.IsZero() && r.Before > 0 && sent.Count == 0 && !due.After(now) && v.Started.Before(due) {
				dues = []time.Time{due}
			}
		}
		for _, due := range dues {
			jobs = append(jobs, reminderJob(c, v, i, r, due, now, p))
		}
	}
	return jobs
}

func afterDues(r flows.Reminder, v View, sent Tally, closes, now time.Time) []time.Time {
	if r.After <= 0 {
		return nil
	}
	limit := max(r.Max, 1)
	base := latest(v.Started, v.Updated, sent.Last)
	var dues []time.Time
	for n := sent.Count; n < limit; n++ {
		due := base.Add(r.After)
		if due.After(now) || (!closes.IsZero() && !due.Before(closes)) {
			break
		}
		dues = append(dues, due)
		base = due
	}
	return dues
}

// cronDues returns the occurrences of spec in (from, now], before closes
// when set, the latest limit of them.
func cronDues(spec string, loc *time.Location, from, now, closes time.Time, limit int) []time.Time {
	s, loc, err := parseSpec(spec, loc)
	if err != nil {
		return nil // the parser checks specs; a bad one plans nothing
	}
	var dues []time.Time
	for t := nextWall(s, loc, from); !t.IsZero() && !t.After(now); t = nextWall(s, loc, t) {
		if !closes.IsZero() && !t.Before(closes) {
			break
		}
		dues = append(dues, t)
	}
	if len(dues) > limit {
		dues = dues[len(dues)-limit:]
	}
	return dues
}

func reminderJob(c *flows.Consultation, v View, i int, r flows.Reminder, due, now time.Time, p Policy) Job {
	rule := RuleID(c.ID, i)
	loc := Zone(c, v, p.Location)
	text := r.Text.In(v.Language, c.Language)
	if text == "" {
		switch r.Kind {
		case flows.RemindAfter:
			text = DefaultAfterText
		case flows.RemindBeforeClose:
			text = DefaultBeforeCloseText
		default:
			text = DefaultCronText
		}
	}
	answers := v.Answers
	if c.Anonymous {
		answers = nil
	}
	j := Job{
		ID:           JobID(rule, v.Participant, due),
		Rule:         rule,
		Kind:         Kind(r.Kind),
		Index:        i,
		Consultation: c.ID,
		Recipient:    v.Participant,
		Channel:      v.Channel,
		Identity:     v.Identity,
		To:           v.To,
		Session:      v.Session,
		Text:         render(text, answers, c, lang(v.Language, c.Language), loc),
		Due:          due,
		SendAt:       Defer(due, loc, Quiet(c, v)),
		State:        StatePending,
		Created:      now,
	}
	if !c.ClosesAt.IsZero() && !j.SendAt.Before(c.ClosesAt) {
		j.State, j.Reason, j.Finished = StateSkipped, "quiet hours last until after the consultation closes", now
	}
	return j
}

// PlanSchedules returns the occurrences of c's scheduled messages due at
// now and not stored yet as far as sent (tallies by rule id) tells: on the
// cron spec, or every Every from Starting, up to Until when set, in the
// consultation's zone. Group messages ignore quiet hours and the cap, and
// do not stop when the consultation closes (their Until does that).
func PlanSchedules(c *flows.Consultation, sent map[string]Tally, now time.Time, p Policy) []Job {
	p = p.withDefaults()
	loc := consultationZone(c, p.Location)
	var jobs []Job
	for i, s := range c.Schedules {
		rule := ScheduleRuleID(c.ID, s, i)
		from := latest(sent[rule].Last, now.Add(-p.Lookback))
		var dues []time.Time
		switch {
		case s.Cron != "":
			dues = cronDues(s.Cron, loc, from, now, time.Time{}, p.Backfill)
		case s.Every > 0 && !s.Starting.IsZero():
			for t := Every(s.Starting, s.Every, loc, from); !t.After(now); t = Every(s.Starting, s.Every, loc, t) {
				dues = append(dues, t)
			}
			if len(dues) > p.Backfill {
				dues = dues[len(dues)-p.Backfill:]
			}
		}
		channel, to := splitAddress(s.To)
		for _, due := range dues {
			if !s.Until.IsZero() && due.After(s.Until) {
				break
			}
			jobs = append(jobs, Job{
				ID:           JobID(rule, s.To, due),
				Rule:         rule,
				Kind:         KindSchedule,
				Index:        i,
				Consultation: c.ID,
				Recipient:    s.To,
				Channel:      channel,
				To:           to,
				Text:         render(s.Text.In(c.Language, c.Language), nil, c, c.Language, loc),
				Due:          due,
				SendAt:       due,
				State:        StatePending,
				Created:      now,
			})
		}
	}
	return jobs
}

// PlanClose returns c's close job once its closing time has come: the job
// that ends unfinished sessions. ok is false before then or when c never
// closes.
func PlanClose(c *flows.Consultation, now time.Time) (j Job, ok bool) {
	if c.ClosesAt.IsZero() || now.Before(c.ClosesAt) {
		return Job{}, false
	}
	rule := CloseRuleID(c.ID)
	return Job{
		ID:           JobID(rule, "", c.ClosesAt),
		Rule:         rule,
		Kind:         KindClose,
		Consultation: c.ID,
		Due:          c.ClosesAt,
		SendAt:       c.ClosesAt,
		State:        StatePending,
		Created:      now,
	}, true
}

// splitAddress turns a schedule's "tg:-1001234" or "slack:C0123" into the
// channel name and the address on it.
func splitAddress(addr string) (channel, to string) {
	prefix, rest, ok := strings.Cut(addr, ":")
	if !ok {
		return "", addr
	}
	switch prefix {
	case "tg", "telegram":
		return "telegram", rest
	case "slack":
		return "slack", rest
	}
	return prefix, rest
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func lang(own, file string) string {
	if own != "" {
		return own
	}
	return file
}
