package scheduler

import (
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

func TestDefer(t *testing.T) {
	night := flows.DefaultQuietHours // 21:00-09:00
	lunch := flows.QuietHours{Start: 13 * 60, End: 14 * 60}
	tests := []struct {
		name string
		t    string
		zone string
		q    flows.QuietHours
		want string
	}{
		{"evening waits for the morning", "2026-12-01T22:00:00Z", "Europe/London", night, "2026-12-02T09:00:00Z"},
		{"at the start", "2026-12-01T21:00:00Z", "Europe/London", night, "2026-12-02T09:00:00Z"},
		{"early morning waits for 09:00", "2026-12-01T08:59:00Z", "Europe/London", night, "2026-12-01T09:00:00Z"},
		{"at the end: not quiet", "2026-12-01T09:00:00Z", "Europe/London", night, "2026-12-01T09:00:00Z"},
		{"day time: unchanged", "2026-12-01T20:59:59Z", "Europe/London", night, "2026-12-01T20:59:59Z"},
		{"off", "2026-12-01T23:00:00Z", "Europe/London", flows.QuietHours{}, "2026-12-01T23:00:00Z"},
		{"window not wrapping", "2026-12-01T13:30:00Z", "Europe/London", lunch, "2026-12-01T14:00:00Z"},
		{"window not wrapping, outside", "2026-12-01T12:59:00Z", "Europe/London", lunch, "2026-12-01T12:59:00Z"},
		{"local to the zone", "2026-12-01T03:00:00Z", "America/New_York", night, "2026-12-01T14:00:00Z"},
		{"night before the spring change", "2026-03-28T22:00:00Z", "Europe/London", night, "2026-03-29T08:00:00Z"},
		{"night before the autumn change", "2026-10-24T21:30:00Z", "Europe/London", night, "2026-10-25T09:00:00Z"},
		{"New York night before the spring change", "2026-03-08T02:00:00Z", "America/New_York", night, "2026-03-08T13:00:00Z"},
		{"an end in the spring gap is the gap's end", "2026-03-29T00:45:00Z", "Europe/London", flows.QuietHours{Start: 0, End: 90}, "2026-03-29T01:00:00Z"},
		{"overlap, first pass: the first end", "2026-10-25T00:40:00Z", "Europe/London", flows.QuietHours{Start: 0, End: 105}, "2026-10-25T00:45:00Z"},
		{"overlap, second pass: the second end", "2026-10-25T01:40:00Z", "Europe/London", flows.QuietHours{Start: 0, End: 105}, "2026-10-25T01:45:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Defer(at(t, tt.t), mustLoc(t, tt.zone), tt.q)
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("Defer(%s, %s, %+v) = %s, want %s", tt.t, tt.zone, tt.q, got.UTC(), want)
			}
		})
	}
}

func TestLate(t *testing.T) {
	due := at(t, "2026-12-01T10:00:00Z")
	tests := []struct {
		now  string
		want bool
		why  string
	}{
		{"2026-12-01T09:00:00Z", true, ""},
		{"2026-12-01T10:00:00Z", true, ""},
		{"2026-12-01T12:00:00Z", true, ""},
		{"2026-12-01T15:59:59Z", true, ""},
		{"2026-12-01T16:00:00Z", false, "missed by 6h during downtime"},
		{"2026-12-03T10:00:00Z", false, "missed by 48h during downtime"},
	}
	for _, tt := range tests {
		now := at(t, tt.now)
		if got := Late(due, now, DefaultGrace); got != tt.want {
			t.Errorf("Late(%s, %s) = %v, want %v", due, now, got, tt.want)
		}
		if !tt.want {
			if got := Missed(due, now); got != tt.why {
				t.Errorf("Missed(%s, %s) = %q, want %q", due, now, got, tt.why)
			}
		}
	}
	if got := Missed(due, due.Add(30*time.Minute)); got != "missed by 30m during downtime" {
		t.Errorf("Missed(30m) = %q, want %q", got, "missed by 30m during downtime")
	}
}
