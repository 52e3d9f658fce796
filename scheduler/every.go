package scheduler

import "time"

// Every returns the first occurrence of an interval anchored at start that
// is strictly after after: start + k*every for the least such k ≥ 0. It
// returns the zero time when every is not positive.
//
// When every is a whole number of days (2d, 1w, 2w), the occurrences are
// computed on the wall clock in loc (UTC when nil): a meeting announced at
// 18:00 stays at 18:00 local across DST changes, with the same gap and
// overlap policy as Next. Other intervals (90m, 6h) are plain elapsed time.
// Either way each occurrence depends only on start, so a restart never makes
// the series drift.
func Every(start time.Time, every time.Duration, loc *time.Location, after time.Time) time.Time {
	if every <= 0 {
		return time.Time{}
	}
	const day = 24 * time.Hour
	if every%day != 0 {
		if after.Before(start) {
			return start
		}
		k := after.Sub(start)/every + 1
		return start.Add(k * every)
	}
	days := int(every / day)
	w0 := wall(start, loc)
	at := func(k int) time.Time { return resolve(w0.AddDate(0, 0, k*days), loc) }
	k := 0
	if after.After(start) {
		k = int(after.Sub(start) / every) // within one of the answer: offsets move by hours
	}
	for k > 0 && at(k-1).After(after) {
		k--
	}
	for !at(k).After(after) {
		k++
	}
	return at(k)
}
