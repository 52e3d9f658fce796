package scheduler

import (
	"fmt"
	"time"
)

// DefaultGrace is how late an occurrence may still be sent after downtime.
const DefaultGrace = 6 * time.Hour

// Late reports whether an occurrence due at due may still be sent at now:
// when it is missed by less than grace (or not missed at all). Older ones
// are recorded as skipped (see Missed).
func Late(due, now time.Time, grace time.Duration) (send bool) {
	return now.Sub(due) < grace
}

// Missed is the reason recorded for an occurrence Late refused,
// e.g. "missed by 48h during downtime".
func Missed(due, now time.Time) string {
	d := now.Sub(due)
	if d >= time.Hour {
		return fmt.Sprintf("missed by %dh during downtime", int(d/time.Hour))
	}
	return fmt.Sprintf("missed by %dm during downtime", int(d/time.Minute))
}
