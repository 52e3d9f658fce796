package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// draft returns a consultation like the one in the design: an after rule,
// a Monday cron reminder and a warning a day before it closes.
func draft(tb testing.TB) *flows.Consultation {
	tb.Helper()
	return &flows.Consultation{
		ID:         "draft-questions",
		Title:      flows.Plain("Feedback on our draft interview questions"),
		Language:   "en",
		Timezone:   "Europe/London",
		Location:   mustLoc(tb, "Europe/London"),
		QuietHours: flows.DefaultQuietHours,
		Questions:  []flows.Question{{ID: "q1", Type: flows.TypeText, Text: flows.Plain("How would you word it?")}},
		Reminders: []flows.Reminder{
			{Kind: flows.RemindAfter, After: 48 * time.Hour, Max: 2},
			{Kind: flows.RemindCron, Cron: "0 10 * * MON", Text: flows.Plain("The consultation closes on {{closes_at}}.")},
			{Kind: flows.RemindBeforeClose, Before: 24 * time.Hour},
		},
		ClosesAt: at(tb, "2026-12-20T17:00:00Z"),
	}
}

// someone started on Tuesday 1 December at 10:00 and last answered at 10:30.
func someone(tb testing.TB) View {
	tb.Helper()
	return View{
		Participant: "p1", Identity: "tg:1", Channel: "telegram", To: "1",
		Status:  flows.StatusActive,
		Started: at(tb, "2026-12-01T10:00:00Z"),
		Updated: at(tb, "2026-12-01T10:30:00Z"),
	}
}

// brief writes jobs as "rule due sendAt [skipped: reason]" for comparison.
func brief(jobs []Job) []string {
	out := make([]string, 0, len(jobs))
	for _, j := range jobs {
		s := fmt.Sprintf("%s %s %s", j.Rule, j.Due.UTC().Format(time.RFC3339), j.SendAt.UTC().Format(time.RFC3339))
		if j.State == StateSkipped {
			s += " [skipped: " + j.Reason + "]"
		}
		out = append(out, s)
	}
	return out
}

func TestPlanReminders(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	const r0, r1, r2 = "draft-questions:r0", "draft-questions:r1", "draft-questions:r2"
	type planCase struct {
		name   string
		now    string
		change func(*View, *flows.Consultation)
		want   []string
	}
	tests := []planCase{
		{"nothing due the next day", "2026-12-02T10:30:00Z", nil, nil},
		{"first nudge after 2 days of silence", "2026-12-03T10:30:00Z", nil,
			[]string{r0 + " 2026-12-03T10:30:00Z 2026-12-03T10:30:00Z"}},
		{"first nudge, a tick later: same occurrence", "2026-12-03T10:31:00Z", nil,
			[]string{r0 + " 2026-12-03T10:30:00Z 2026-12-03T10:30:00Z"}},
		{"second nudge two days after the first", "2026-12-05T10:30:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Sent = map[string]Tally{r0: {Rule: r0, Recipient: "p1", Count: 1, Last: at(t, "2026-12-03T10:30:00Z")}}
			},
			[]string{r0 + " 2026-12-05T10:30:00Z 2026-12-05T10:30:00Z"}},
		{"no third nudge", "2026-12-07T09:00:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Sent = map[string]Tally{r0: {Rule: r0, Recipient: "p1", Count: 2, Last: at(t, "2026-12-05T10:30:00Z")}}
			}, nil},
		{"activity after a nudge restarts the silence", "2026-12-05T10:30:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Updated = at(t, "2026-12-04T12:00:00Z")
				v.Sent = map[string]Tally{r0: {Rule: r0, Recipient: "p1", Count: 1, Last: at(t, "2026-12-03T10:30:00Z")}}
			}, nil},
		{"both nudges after long downtime, planned at once", "2026-12-06T09:00:00Z", nil,
			[]string{r0 + " 2026-12-03T10:30:00Z 2026-12-03T10:30:00Z", r0 + " 2026-12-05T10:30:00Z 2026-12-05T10:30:00Z"}},
		{"a nudge due at night waits for 09:00", "2026-12-03T22:30:00Z",
			func(v *View, _ *flows.Consultation) { v.Updated = at(t, "2026-12-01T22:30:00Z") },
			[]string{r0 + " 2026-12-03T22:30:00Z 2026-12-04T09:00:00Z"}},
		{"in the person's own zone and quiet hours", "2026-12-03T15:00:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Location = ny // 10:30Z is 05:30 in New York
				v.QuietHours = &flows.QuietHours{Start: 22 * 60, End: 8 * 60}
			},
			[]string{r0 + " 2026-12-03T10:30:00Z 2026-12-03T13:00:00Z"}},
		{"Monday's cron reminder at 10:00 London", "2026-12-07T10:05:00Z",
			func(v *View, _ *flows.Consultation) { v.Updated = at(t, "2026-12-06T10:30:00Z") },
			[]string{r1 + " 2026-12-07T10:00:00Z 2026-12-07T10:00:00Z"}},
		{"cron in the consultation's zone, deferred by the person's quiet hours", "2026-12-07T10:05:00Z",
			func(v *View, _ *flows.Consultation) { v.Updated = at(t, "2026-12-06T10:30:00Z"); v.Location = ny },
			[]string{r1 + " 2026-12-07T10:00:00Z 2026-12-07T14:00:00Z"}},
		{"cron occurrence stored already", "2026-12-07T10:05:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Updated = at(t, "2026-12-06T10:30:00Z")
				v.Sent = map[string]Tally{r1: {Rule: r1, Recipient: "p1", Count: 1, Last: at(t, "2026-12-07T10:00:00Z")}}
			}, nil},
		{"cron occurrences before the start are not for this person", "2026-12-07T10:05:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Started, v.Updated = at(t, "2026-12-07T10:01:00Z"), at(t, "2026-12-07T10:01:00Z")
			}, nil},
		{"warning a day before the close", "2026-12-19T17:00:00Z",
			func(v *View, _ *flows.Consultation) { v.Updated = at(t, "2026-12-18T17:00:00Z") },
			[]string{r2 + " 2026-12-19T17:00:00Z 2026-12-19T17:00:00Z"}},
		{"warning only once", "2026-12-19T17:10:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Updated = at(t, "2026-12-18T17:00:00Z")
				v.Sent = map[string]Tally{r2: {Rule: r2, Recipient: "p1", Count: 1, Last: at(t, "2026-12-19T17:00:00Z")}}
			}, nil},
		{"no warning to someone who started after it", "2026-12-19T20:00:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Started, v.Updated = at(t, "2026-12-19T18:00:00Z"), at(t, "2026-12-19T19:00:00Z")
			}, nil},
		{"a warning 12 hours before a close at 08:00", "2026-12-20T06:00:00Z",
			func(v *View, c *flows.Consultation) {
				v.Updated = at(t, "2026-12-19T17:00:00Z")
				c.Reminders = []flows.Reminder{{Kind: flows.RemindBeforeClose, Before: 12 * time.Hour}}
				c.ClosesAt = at(t, "2026-12-20T08:00:00Z")
			},
			[]string{"draft-questions:r0 2026-12-19T20:00:00Z 2026-12-19T20:00:00Z"}},
		{"nothing once closed", "2026-12-20T17:00:00Z", nil, nil},
		{"never a nudge due at or after the close", "2026-12-19T23:00:00Z",
			func(v *View, _ *flows.Consultation) {
				v.Started, v.Updated = at(t, "2026-12-18T17:00:00Z"), at(t, "2026-12-18T17:00:00Z")
				v.Sent = map[string]Tally{"draft-questions:r2": {Count: 1}}
			}, nil},
		{"consent counts as started", "2026-12-03T10:30:00Z",
			func(v *View, _ *flows.Consultation) { v.Status = flows.StatusConsent },
			[]string{r0 + " 2026-12-03T10:30:00Z 2026-12-03T10:30:00Z"}},
	}
	for _, st := range []flows.Status{flows.StatusNew, flows.StatusPaused, flows.StatusCompleted, flows.StatusStopped, flows.StatusDeclined, flows.StatusWithdrawn, flows.StatusClosed} {
		tests = append(tests, planCase{"nothing when " + cmp.Or(string(st), "new"), "2026-12-03T10:30:00Z", func(v *View, _ *flows.Consultation) { v.Status = st }, nil})
	}
	tests = append(tests,
		planCase{"nothing when unreachable", "2026-12-03T10:30:00Z", func(v *View, _ *flows.Consultation) { v.Unreachable = true }, nil},
		planCase{"nothing when the person paused reminders", "2026-12-03T10:30:00Z", func(v *View, _ *flows.Consultation) { v.Paused = true }, nil},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v := draft(t), someone(t)
			if tt.change != nil {
				tt.change(&v, c)
			}
			got := brief(PlanReminders(c, v, at(t, tt.now), Policy{}))
			if !slices.Equal(got, tt.want) {
				t.Errorf("PlanReminders at %s:\ngot  %q\nwant %q", tt.now, got, tt.want)
			}
		})
	}
}

func TestPlanRemindersSkipAfterClose(t *testing.T) {
	c, v := draft(t), someone(t)
	c.Reminders = []flows.Reminder{{Kind: flows.RemindBeforeClose, Before: 2 * time.Hour}}
	c.ClosesAt = at(t, "2026-12-20T08:00:00Z") // warning due 06:00, quiet until 09:00
	got := brief(PlanReminders(c, v, at(t, "2026-12-20T06:00:00Z"), Policy{}))
	want := []string{"draft-questions:r0 2026-12-20T06:00:00Z 2026-12-20T09:00:00Z [skipped: quiet hours last until after the consultation closes]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPlanRemindersJob(t *testing.T) {
	c, v := draft(t), someone(t)
	v.Session, v.Language = "s1", "en"
	jobs := PlanReminders(c, v, at(t, "2026-12-03T10:30:00Z"), Policy{})
	if len(jobs) != 1 {
		t.Fatalf("got %d jobs, want 1", len(jobs))
	}
	j := jobs[0]
	want := Job{
		ID:           "draft-questions:r0|p1|20261203T103000Z",
		Rule:         "draft-questions:r0",
		Kind:         KindAfter,
		Consultation: "draft-questions",
		Recipient:    "p1",
		Channel:      "telegram",
		Identity:     "tg:1",
		To:           "1",
		Session:      "s1",
		Text:         "You started 'Feedback on our draft interview questions' but haven't finished — whenever you're ready, just reply here to carry on.",
		Due:          at(t, "2026-12-03T10:30:00Z"),
		SendAt:       at(t, "2026-12-03T10:30:00Z"),
		State:        StatePending,
		Created:      at(t, "2026-12-03T10:30:00Z"),
	}
	if fmt.Sprint(j) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", j, want)
	}
	if j.ID != JobID(j.Rule, j.Recipient, j.Due) {
		t.Errorf("got ID %q, want JobID(rule, recipient, due) %q", j.ID, JobID(j.Rule, j.Recipient, j.Due))
	}
}

func TestPlanRemindersText(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name      string
		text      string
		anonymous bool
		loc       *time.Location
		want      string
	}{
		{"closes_at in the consultation's zone", "Closes {{closes_at}}.", false, nil, "Closes Sunday 20 December 2026, 17:00 GMT."},
		{"closes_at in the person's zone", "Closes {{ closes_at }}.", false, ny, "Closes Sunday 20 December 2026, 12:00 EST."},
		{"title", "About {{title}}", false, nil, "About Feedback on our draft interview questions"},
		{"answers", "You said: {{answers.q1}}", false, nil, "You said: Ask it plainly"},
		{"no answers in anonymous consultations", "You said: {{answers.q1}}", true, nil, "You said: " + flows.NoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v := draft(t), someone(t)
			c.Anonymous = tt.anonymous
			c.Reminders = []flows.Reminder{{Kind: flows.RemindAfter, After: 48 * time.Hour, Max: 1, Text: flows.Plain(tt.text)}}
			v.Location = tt.loc
			v.Answers = map[string]flows.Answer{"q1": {Type: flows.TypeText, Text: "Ask it plainly"}}
			jobs := PlanReminders(c, v, at(t, "2026-12-03T16:00:00Z"), Policy{})
			if len(jobs) != 1 {
				t.Fatalf("got %d jobs, want 1", len(jobs))
			}
			if jobs[0].Text != tt.want {
				t.Errorf("got text %q, want %q", jobs[0].Text, tt.want)
			}
		})
	}
	c, v := draft(t), someone(t)
	c.Reminders = []flows.Reminder{{Kind: flows.RemindBeforeClose, Before: 24 * time.Hour}}
	jobs := PlanReminders(c, v, at(t, "2026-12-19T17:00:00Z"), Policy{})
	if len(jobs) != 1 || !strings.HasPrefix(jobs[0].Text, "'Feedback on our draft interview questions' closes on Sunday 20 December 2026, 17:00 GMT.") {
		t.Errorf("got %q, want the default before_close text", brief(jobs))
	}
}

func TestPlanSchedules(t *testing.T) {
	london := mustLoc(t, "Europe/London")
	meeting := flows.Schedule{
		ID: "meeting", To: "tg:-1001234",
		Every: 14 * 24 * time.Hour, Starting: time.Date(2026, 12, 3, 18, 0, 0, 0, london),
		Until: at(t, "2027-06-01T00:00:00Z"),
		Text:  flows.Plain("Action group meeting tonight at 18:00: {{title}}"),
	}
	weekly := flows.Schedule{To: "slack:C0123", Cron: "0 9 * * FRI", Text: flows.Plain("Weekly round-up")}
	const m, w = "draft-questions:s:meeting", "draft-questions:s1"
	tests := []struct {
		name string
		now  string
		sent map[string]Tally
		want []string
	}{
		{"before the first meeting", "2026-12-03T17:59:00Z", nil, nil},
		{"the first meeting", "2026-12-03T18:00:00Z", nil, []string{m + " 2026-12-03T18:00:00Z 2026-12-03T18:00:00Z"}},
		{"stored already", "2026-12-03T18:05:00Z", map[string]Tally{m: {Count: 1, Last: at(t, "2026-12-03T18:00:00Z")}}, nil},
		{"18:00 local after the spring change", "2027-04-08T17:00:00Z", map[string]Tally{m: {Count: 9, Last: at(t, "2027-03-25T18:00:00Z")}},
			[]string{m + " 2027-04-08T17:00:00Z 2027-04-08T17:00:00Z"}},
		{"nothing after until", "2027-06-10T17:00:00Z", map[string]Tally{m: {Count: 12, Last: at(t, "2027-05-20T17:00:00Z")}}, nil},
		{"missed ones within the lookback only", "2026-12-31T19:00:00Z", nil, []string{m + " 2026-12-31T18:00:00Z 2026-12-31T18:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := draft(t)
			c.Schedules = []flows.Schedule{meeting}
			got := brief(PlanSchedules(c, tt.sent, at(t, tt.now), Policy{}))
			if !slices.Equal(got, tt.want) {
				t.Errorf("PlanSchedules at %s:\ngot  %q\nwant %q", tt.now, got, tt.want)
			}
		})
	}
	c := draft(t)
	c.Schedules = []flows.Schedule{meeting, weekly}
	jobs := PlanSchedules(c, nil, at(t, "2026-12-04T09:00:00Z"), Policy{})
	if got, want := brief(jobs), []string{m + " 2026-12-03T18:00:00Z 2026-12-03T18:00:00Z", w + " 2026-12-04T09:00:00Z 2026-12-04T09:00:00Z"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i, want := range [][3]string{{"telegram", "-1001234", "Action group meeting tonight at 18:00: Feedback on our draft interview questions"}, {"slack", "C0123", "Weekly round-up"}} {
		if got := [3]string{jobs[i].Channel, jobs[i].To, jobs[i].Text}; got != want {
			t.Errorf("job %d: got channel, to, text %q, want %q", i, got, want)
		}
	}
}

func TestPlanClose(t *testing.T) {
	c := draft(t)
	if _, ok := PlanClose(c, at(t, "2026-12-20T16:59:59Z")); ok {
		t.Errorf("PlanClose before closes_at: got a job, want none")
	}
	j, ok := PlanClose(c, at(t, "2026-12-22T00:00:00Z"))
	if !ok || j.ID != "draft-questions:close||20261220T170000Z" || j.Kind != KindClose || !j.SendAt.Equal(c.ClosesAt) {
		t.Errorf("PlanClose after closes_at: got %+v, %v; want the close job at closes_at", j, ok)
	}
	c.ClosesAt = time.Time{}
	if _, ok := PlanClose(c, at(t, "2030-01-01T00:00:00Z")); ok {
		t.Errorf("PlanClose without closes_at: got a job, want none")
	}
}

func TestZone(t *testing.T) {
	london, ny, tokyo := mustLoc(t, "Europe/London"), mustLoc(t, "America/New_York"), mustLoc(t, "Asia/Tokyo")
	named := &flows.Consultation{Timezone: "Europe/London", Location: london}
	unnamed := &flows.Consultation{Location: time.UTC} // as parsed from a file without timezone
	tests := []struct {
		name string
		c    *flows.Consultation
		v    View
		def  *time.Location
		want *time.Location
	}{
		{"the person's own", named, View{Location: ny}, tokyo, ny},
		{"the consultation's", named, View{}, tokyo, london},
		{"the deployment default", unnamed, View{}, tokyo, tokyo},
		{"UTC", unnamed, View{}, nil, time.UTC},
	}
	for _, tt := range tests {
		if got := Zone(tt.c, tt.v, tt.def); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	tests := []struct{ addr, channel, to string }{
		{"tg:-1001234", "telegram", "-1001234"},
		{"telegram:-1001234", "telegram", "-1001234"},
		{"slack:C0123", "slack", "C0123"},
		{"console:group", "console", "group"},
		{"C0123", "", "C0123"},
	}
	for _, tt := range tests {
		if channel, to := splitAddress(tt.addr); channel != tt.channel || to != tt.to {
			t.Errorf("splitAddress(%q) = %q, %q, want %q, %q", tt.addr, channel, to, tt.channel, tt.to)
		}
	}
}
