package scheduler

import (
	"time"
	_ "time/tzdata" // time-zone data embedded, so a bare server knows Europe/London
)

// wall is a local wall-clock reading, kept as a time in UTC whose fields are
// the local ones. Arithmetic on it (AddDate, cron's Next) is then free of any
// DST transition; resolve turns it back into an instant.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(orUTC(loc))
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// resolve returns the instant at which the wall-clock reading w (fields in
// UTC, see wall) happens in loc, by our DST policy:
//   - a reading that happens once is that instant;
//   - a reading in the autumn overlap happens twice: the first (earlier) one;
//   - a reading in the spring-forward gap never happens: the first whole minute
//     that does exist after it, which is where the gap ends.
func resolve(w time.Time, loc *time.Location) time.Time {
	loc = orUTC(loc)
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	// The offsets in force around the guess: its own and its neighbours'.
	start, end := guess.ZoneBounds()
	offsets := []int{offsetAt(guess)}
	if !start.IsZero() {
		offsets = append(offsets, offsetAt(start.Add(-time.Second).In(loc)))
	}
	if !end.IsZero() {
		offsets = append(offsets, offsetAt(end.In(loc)))
	}
	var found time.Time
	for _, off := range offsets {
		t := w.Add(-time.Duration(off) * time.Second).In(loc)
		if offsetAt(t) != off {
			continue // that offset is not in force at that instant
		}
		if found.IsZero() || t.Before(found) {
			found = t
		}
	}
	if !found.IsZero() {
		return found
	}
	// In a gap: with the offset from before the gap, the reading lands after
	// the transition; the transition is the end of the zone in force at the
	// same reading taken with the later offset.
	lo := w.Add(-time.Duration(maxInt(offsets)) * time.Second).In(loc)
	_, tr := lo.ZoneBounds()
	if tr.IsZero() {
		return guess // cannot happen with real zone data; keep Go's choice
	}
	tr = tr.In(loc)
	if r := tr.Truncate(time.Minute); !r.Equal(tr) {
		tr = r.Add(time.Minute)
	}
	return tr
}

func offsetAt(t time.Time) int {
	_, off := t.Zone()
	return off
}

func maxInt(xs []int) int {
	m := xs[0]
	for _, x := range xs[1:] {
		if x > m {
			m = x
		}
	}
	return m
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// localDay returns the local date of t in loc, as YYYY-MM-DD.
func localDay(t time.Time, loc *time.Location) string {
	return t.In(orUTC(loc)).Format(time.DateOnly)
}
