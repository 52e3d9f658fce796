package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Next returns the first occurrence of the standard five-field cron spec
// strictly after after, in loc (UTC when nil) unless the spec starts with
// CRON_TZ= (or TZ=), whose zone then wins. It returns the zero time when the
// spec has no occurrence in the five years after after.
//
// robfig/cron only computes the next wall-clock match; the DST policy is
// ours: a wall time in the spring-forward gap runs at the first valid minute
// after it (once), and a wall time in the autumn overlap runs once, at its
// first instance. Iterating Next therefore yields each wall-clock occurrence
// exactly once across a change; occurrences that fall in the same gap run
// together, once, at its end.
func Next(spec string, loc *time.Location, after time.Time) (time.Time, error) {
	s, loc, err := parseSpec(spec, loc)
	if err != nil {
		return time.Time{}, err
	}
	return nextWall(s, loc, after), nil
}

// parseSpec parses spec with cron.ParseStandard and returns the schedule set
// to run on wall-clock readings (its Location UTC), with the zone the
// readings are taken in.
func parseSpec(spec string, loc *time.Location) (*cron.SpecSchedule, *time.Location, error) {
	parsed, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	s, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		// @every: a delay from "now", which drifts with restarts.
		return nil, nil, fmt.Errorf("cron %q: @every is not supported; use every: with starting:", spec)
	}
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "CRON_TZ=") || strings.HasPrefix(trimmed, "TZ=") {
		loc = s.Location
	}
	w := *s
	w.Location = time.UTC
	return &w, orUTC(loc), nil
}

// nextWall applies the DST policy on top of s.Next, which runs on wall
// readings in UTC.
func nextWall(s *cron.SpecSchedule, loc *time.Location, after time.Time) time.Time {
	w := wall(after, loc)
	for {
		w = s.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		t := resolve(w, loc)
		// A reading at or before after happened already: in the second pass
		// through an autumn overlap, or it is a gap reading that ran at the
		// gap's end together with an earlier one.
		if t.After(after) {
			return t
		}
	}
}
