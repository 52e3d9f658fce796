package scheduler

import (
	"fmt"
	"time"
)

// State is where a job stands.
type State string

// Job states: pending → claimed (owner, lease) → sent | skipped | unknown.
// A claimed job whose lease has lapsed is claimed again by anyone.
const (
	StatePending State = "pending"
	StateClaimed State = "claimed"
	StateSent    State = "sent"    // handed to the outbox (queued under the job's ID) or, for close, done
	StateSkipped State = "skipped" // not sent; Reason says why
	StateUnknown State = "unknown" // claimed MaxAttempts times without an outcome; left alone
)

// Kind tells which rule made a job.
type Kind string

// Job kinds.
const (
	KindAfter       Kind = "after"        // nudge after silence
	KindCron        Kind = "cron"         // reminder on a cron spec
	KindBeforeClose Kind = "before_close" // warning ahead of closes_at
	KindClose       Kind = "close"        // the consultation closes: unfinished sessions end
	KindSchedule    Kind = "schedule"     // announcement to a group chat or channel
)

// Reminder reports whether jobs of kind k are reminders to one person:
// subject to quiet hours, the daily cap and the person's state.
func (k Kind) Reminder() bool {
	return k == KindAfter || k == KindCron || k == KindBeforeClose
}

// Job is one occurrence of a rule for one recipient: a document in the jobs
// collection. Its ID is deterministic (rule, recipient, due time), so
// planning the same occurrence twice stores it once.
type Job struct {
	ID           string `bson:"_id" json:"id"`
	Rule         string `bson:"rule" json:"rule"` // "draft-questions:r0", "draft-questions:close", "draft-questions:s:meeting"
	Kind         Kind   `bson:"kind" json:"kind"`
	Index        int    `bson:"index" json:"index"`               // the reminder's or schedule's position in the file
	Consultation string `bson:"consultation" json:"consultation"` // consultation id
	Recipient    string `bson:"recipient" json:"recipient"`       // pseudonymous participant id; group address for schedules; "" for close

	// Where the message goes (empty for close).
	Channel  string `bson:"channel,omitempty" json:"channel,omitempty"`   // "telegram", "slack", "console"
	Identity string `bson:"identity,omitempty" json:"identity,omitempty"` // channel identity of the person, "" for a group
	To       string `bson:"to,omitempty" json:"to,omitempty"`             // chat id, DM or channel id
	Session  string `bson:"session,omitempty" json:"session,omitempty"`   // the session the reminder is about, if any
	Text     string `bson:"text,omitempty" json:"text,omitempty"`         // rendered text

	Due    time.Time `bson:"due" json:"due"`         // the occurrence, before quiet hours: part of the ID
	SendAt time.Time `bson:"send_at" json:"send_at"` // after quiet hours (and the cap): claimable from then

	State      State     `bson:"state" json:"state"`
	Owner      string    `bson:"owner,omitempty" json:"owner,omitempty"`
	LeaseUntil time.Time `bson:"lease_until,omitempty" json:"lease_until,omitempty"`
	Attempts   int       `bson:"attempts" json:"attempts"` // claims so far
	Reason     string    `bson:"reason,omitempty" json:"reason,omitempty"`
	Created    time.Time `bson:"created" json:"created"`
	Finished   time.Time `bson:"finished,omitempty" json:"finished,omitempty"`
}

// JobID returns the deterministic job id of an occurrence:
// rule|recipient|due, the due time in UTC to the second.
func JobID(rule, recipient string, due time.Time) string {
	return fmt.Sprintf("%s|%s|%s", rule, recipient, due.UTC().Format("20060102T150405Z"))
}

// Tally sums up the jobs stored for one rule and recipient, whatever their
// state: how many, and the latest due time. Planning reads it to know where
// a series stands without holding anything in memory.
type Tally struct {
	Rule      string    `bson:"rule" json:"rule"`
	Recipient string    `bson:"recipient" json:"recipient"`
	Count     int       `bson:"count" json:"count"`
	Last      time.Time `bson:"last" json:"last"`
}
