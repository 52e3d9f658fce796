package scheduler

import (
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	meeting := time.Date(2026, 12, 3, 18, 0, 0, 0, london) // a Thursday
	nightly := time.Date(2026, 3, 27, 1, 30, 0, 0, london)
	tests := []struct {
		name  string
		start time.Time
		every time.Duration
		after string
		want  string
	}{
		{"before the start: the start", meeting, 14 * 24 * time.Hour, "2026-11-01T00:00:00Z", "2026-12-03T18:00:00Z"},
		{"at the start: the next", meeting, 14 * 24 * time.Hour, "2026-12-03T18:00:00Z", "2026-12-17T18:00:00Z"},
		{"between occurrences", meeting, 14 * 24 * time.Hour, "2027-01-20T12:00:00Z", "2027-01-28T18:00:00Z"},
		{"18:00 stays 18:00 after the spring change", meeting, 14 * 24 * time.Hour, "2027-03-26T00:00:00Z", "2027-04-08T17:00:00Z"},
		{"weekly, a year on", meeting, 7 * 24 * time.Hour, "2027-12-01T00:00:00Z", "2027-12-02T18:00:00Z"},
		{"daily into the gap: the gap's end", nightly, 24 * time.Hour, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"daily after the gap", nightly, 24 * time.Hour, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		{"90 minutes is elapsed time", at(t, "2026-03-29T00:00:00Z"), 90 * time.Minute, "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"},
		{"90 minutes before the start", at(t, "2026-03-29T00:00:00Z"), 90 * time.Minute, "2026-03-28T01:00:00Z", "2026-03-29T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Every(tt.start, tt.every, london, at(t, tt.after))
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("Every(%s, %s, %s) = %s, want %s", tt.start, tt.every, tt.after, got.UTC(), want)
			}
		})
	}
	if got := Every(meeting, 0, london, meeting); !got.IsZero() {
		t.Errorf("Every(every 0) = %s, want the zero time", got)
	}
}

// TestEveryNoDrift checks that wherever a restart picks the series up, it
// lands on the same occurrences as walking it from the start.
func TestEveryNoDrift(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	start := time.Date(2026, 12, 3, 18, 0, 0, 0, london)
	const every = 14 * 24 * time.Hour
	var series []time.Time
	for cur := start.Add(-time.Second); len(series) < 30; {
		cur = Every(start, every, london, cur)
		if l := cur.In(london); l.Hour() != 18 || l.Minute() != 0 || l.Weekday() != time.Thursday {
			t.Fatalf("occurrence %s: want Thursday 18:00 local", l)
		}
		series = append(series, cur)
	}
	for after := start.Add(-time.Hour); after.Before(series[len(series)-1]); after = after.Add(7*time.Hour + 13*time.Minute) {
		want := series[0]
		for _, s := range series {
			if s.After(after) {
				want = s
				break
			}
		}
		if got := Every(start, every, london, after); !got.Equal(want) {
			t.Fatalf("Every(after %s) = %s, want %s", after, got, want)
		}
	}
}
