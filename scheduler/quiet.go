package scheduler

import (
	"time"

	"github.com/consultbot/consultbot/flows"
)

// Defer returns t when it falls outside the quiet hours q in loc (UTC when
// nil), and otherwise the end of the quiet window, in local time. Windows
// may wrap midnight ("21:00-09:00"): a time after the start waits for the
// next day's end. The end is a wall-clock time, resolved by the same DST
// policy as Next (an end in a spring gap is the gap's end).
func Defer(t time.Time, loc *time.Location, q flows.QuietHours) time.Time {
	if q.Off() {
		return t
	}
	w := wall(t, loc)
	m := w.Hour()*60 + w.Minute()
	midnight := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, time.UTC)
	end := midnight.Add(time.Duration(q.End) * time.Minute)
	switch {
	case q.Start < q.End:
		if m < q.Start || m >= q.End {
			return t
		}
	case m >= q.Start: // wrapping window, evening part
		end = end.AddDate(0, 0, 1)
	case m >= q.End: // wrapping window, outside
		return t
	}
	if e := resolve(end, loc); e.After(t) {
		return e
	}
	// t is in the second pass through an autumn overlap and the end's first
	// instance is behind it: the end's second instance, at t's offset.
	off := offsetAt(t.In(orUTC(loc)))
	if e := end.Add(-time.Duration(off) * time.Second); e.After(t) && offsetAt(e.In(orUTC(loc))) == off {
		return e.In(orUTC(loc))
	}
	return t
}
