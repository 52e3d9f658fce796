package scheduler

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustLoc(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatalf("time.Parse(%q): %v", s, err)
	}
	return t
}

func TestNext(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		zone  string // "" for a nil location
		after string
		want  string
	}{
		{"ordinary day in summer time", "0 10 * * *", "Europe/London", "2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z"},
		{"ordinary day in winter", "0 10 * * *", "Europe/London", "2026-12-01T08:00:00Z", "2026-12-01T10:00:00Z"},
		{"after the time today: tomorrow", "0 10 * * *", "Europe/London", "2026-12-01T10:00:00Z", "2026-12-02T10:00:00Z"},
		{"weekly on Monday", "0 10 * * MON", "Europe/London", "2026-12-01T00:00:00Z", "2026-12-07T10:00:00Z"},
		{"weekly on Monday, across the spring change", "0 10 * * MON", "Europe/London", "2026-03-24T00:00:00Z", "2026-03-30T09:00:00Z"},
		{"nil location is UTC", "0 9 * * *", "", "2026-12-01T00:00:00Z", "2026-12-01T09:00:00Z"},
		{"CRON_TZ wins over the location", "CRON_TZ=America/New_York 0 9 * * *", "Europe/London", "2026-12-01T00:00:00Z", "2026-12-01T14:00:00Z"},
		{"TZ= wins too", "TZ=Asia/Tokyo 0 9 * * *", "Europe/London", "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"},

		{"London spring gap: 01:30 runs at 02:00 BST", "30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"London spring gap: then the next day", "30 1 * * *", "Europe/London", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		{"London spring gap via CRON_TZ", "CRON_TZ=Europe/London 30 1 * * *", "", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"London autumn overlap: first 01:30 (BST)", "30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"London autumn overlap: not again at 01:30 GMT", "30 1 * * *", "Europe/London", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"London autumn overlap: from inside the second pass", "30 1 * * *", "Europe/London", "2026-10-25T01:10:00Z", "2026-10-26T01:30:00Z"},
		{"New York spring gap: 02:30 runs at 03:00 EDT", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
		{"New York spring gap: then the next day", "30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
		{"New York autumn overlap: first 01:30 (EDT)", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z"},
		{"New York autumn overlap: not again at 01:30 EST", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"hourly across the London gap: 01:00 and 02:00 run once together", "0 * * * *", "Europe/London", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"},
		{"hourly after the London gap", "0 * * * *", "Europe/London", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		{"every minute: the repeated hour is not repeated", "* * * * *", "Europe/London", "2026-10-25T00:59:00Z", "2026-10-25T02:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var loc *time.Location
			if tt.zone != "" {
				loc = mustLoc(t, tt.zone)
			}
			got, err := Next(tt.spec, loc, at(t, tt.after))
			if err != nil {
				t.Fatalf("Next(%q): %v", tt.spec, err)
			}
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("Next(%q, %s, %s) = %s, want %s", tt.spec, tt.zone, tt.after, got.UTC(), want)
			}
		})
	}
}

func TestNextErrors(t *testing.T) {
	for _, spec := range []string{"", "61 * * * *", "* * * *", "@every 1h", "CRON_TZ=Nowhere/Else 0 9 * * *"} {
		if got, err := Next(spec, time.UTC, at(t, "2026-12-01T00:00:00Z")); err == nil {
			t.Errorf("Next(%q) = %s, nil; want an error", spec, got)
		}
	}
}

func TestNextNever(t *testing.T) {
	got, err := Next("0 0 30 2 *", time.UTC, at(t, "2026-01-01T00:00:00Z"))
	if err != nil || !got.IsZero() {
		t.Errorf("Next(30 February) = %s, %v; want the zero time, nil", got, err)
	}
}

// TestNextEachWallTimeOnce iterates Next across each change and checks that
// every local day gets exactly one occurrence, at the spec's wall time or,
// in a gap, at the gap's end.
func TestNextEachWallTimeOnce(t *testing.T) {
	tests := []struct {
		name       string
		spec, zone string
		from, to   string
		gapDay     string // local date whose occurrence falls in the gap
		wantClock  string // local clock of the occurrences
		gapClock   string // local clock on gapDay
	}{
		{"London spring", "30 1 * * *", "Europe/London", "2026-03-25T00:00:00Z", "2026-04-02T00:00:00Z", "2026-03-29", "01:30", "02:00"},
		{"London autumn", "30 1 * * *", "Europe/London", "2026-10-21T00:00:00Z", "2026-10-29T00:00:00Z", "", "01:30", ""},
		{"New York spring", "30 2 * * *", "America/New_York", "2026-03-04T00:00:00Z", "2026-03-12T00:00:00Z", "2026-03-08", "02:30", "03:00"},
		{"New York autumn", "30 1 * * *", "America/New_York", "2026-10-28T00:00:00Z", "2026-11-05T00:00:00Z", "", "01:30", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustLoc(t, tt.zone)
			from, to := at(t, tt.from), at(t, tt.to)
			days := make(map[string]int)
			prev := from
			for cur := from; ; {
				next, err := Next(tt.spec, loc, cur)
				if err != nil {
					t.Fatal(err)
				}
				if next.After(to) {
					break
				}
				if !next.After(prev) {
					t.Fatalf("Next went from %s to %s: want strictly later", prev, next)
				}
				day, clock := next.In(loc).Format(time.DateOnly), next.In(loc).Format("15:04")
				days[day]++
				want := tt.wantClock
				if day == tt.gapDay {
					want = tt.gapClock
				}
				if clock != want {
					t.Errorf("occurrence on %s at %s local, want %s", day, clock, want)
				}
				prev, cur = next, next
			}
			for d := from.In(loc).AddDate(0, 0, 1); d.Before(to.In(loc).AddDate(0, 0, -1)); d = d.AddDate(0, 0, 1) {
				if got := days[d.Format(time.DateOnly)]; got != 1 {
					t.Errorf("%s: got %d occurrences, want 1", d.Format(time.DateOnly), got)
				}
			}
		})
	}
}

// TestRobfigDST records why our policy exists: robfig/cron v3.0.1 on its own
// skips the spring gap and fires twice in the autumn overlap. If this fails
// after an upgrade, the library changed its behaviour; our tests above still
// say what we need.
func TestRobfigDST(t *testing.T) {
	count := func(spec, from, to string) int {
		s, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for cur := s.Next(at(t, from)); cur.Before(at(t, to)); cur = s.Next(cur) {
			n++
		}
		return n
	}
	if got := count("CRON_TZ=Europe/London 30 1 * * *", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z"); got != 0 {
		t.Errorf("robfig on 29 March: got %d runs, want 0 (skipped)", got)
	}
	if got := count("CRON_TZ=Europe/London 30 1 * * *", "2026-10-24T23:00:00Z", "2026-10-25T23:00:00Z"); got != 2 {
		t.Errorf("robfig on 25 October: got %d runs, want 2 (twice)", got)
	}
}

func BenchmarkNext(b *testing.B) {
	loc := mustLoc(b, "Europe/London")
	after := at(b, "2026-10-24T12:00:00Z")
	for b.Loop() {
		if _, err := Next("30 1 * * *", loc, after); err != nil {
			b.Fatal(err)
		}
	}
}
