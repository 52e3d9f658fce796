package flows_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// designExample is the consultation file shown in the design notes.
const designExample = `id: draft-questions            # letters, digits, - and _
title: Feedback on our draft interview questions
open: true                     # anyone who starts the bot may take part; else invite codes only
anonymous: false               # true: answers are stored without any link to the person
timezone: Europe/London        # for reminders and dates, unless the participant has their own
quiet_hours: "21:00-09:00"     # no reminders in these local hours; ` + "`none`" + ` to turn off
consent:
  version: 1
  text: |
    We would like your views on our draft interview questions. It takes about 5 minutes.
    You can pause, stop, or ask us to delete your answers at any time.
questions:
  - id: q1_clarity
    type: scale                # text | choice | multi | scale | yesno | number | date
    text: 'Draft question 1: "What does psychological support mean to you?" How clear is it?'
    min: 1
    max: 5
    labels: {1: Very unclear, 5: Very clear}
  - id: q1_reword
    type: text
    text: How would you word it instead?
    when: q1_clarity <= 3      # asked only if the condition holds; otherwise skipped
    optional: true             # /skip allowed
  - id: role
    type: choice
    text: Which best describes you?
    options: [Person with lived experience, Peer mentor, Professional, Prefer not to say]
closing: Thank you — your answers help shape the questions we ask.
reminders:
  - after: 2d                  # nudge whoever started but has not finished, at most twice
    max: 2
  - cron: "0 10 * * MON"       # in the consultation's timezone unless CRON_TZ= is given
    text: The consultation closes on {{closes_at}}.
  - before_close: 24h          # to everyone who has not finished
closes_at: 2026-12-20T17:00:00Z
`

func num(x float64) *float64 { return &x }

func TestParseDesignExample(t *testing.T) {
	c, err := flows.Parse("draft.yaml", []byte(designExample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	want := &flows.Consultation{
		ID:         "draft-questions",
		Title:      flows.Plain("Feedback on our draft interview questions"),
		Language:   "en",
		Open:       true,
		Timezone:   "Europe/London",
		Location:   london,
		QuietHours: flows.QuietHours{Start: 21 * 60, End: 9 * 60},
		Consent: flows.Consent{Version: 1, Text: flows.Plain("We would like your views on our draft interview questions. It takes about 5 minutes.\n" +
			"You can pause, stop, or ask us to delete your answers at any time.")},
		Questions: []flows.Question{
			{
				ID: "q1_clarity", Type: flows.TypeScale,
				Text: flows.Plain(`Draft question 1: "What does psychological support mean to you?" How clear is it?`),
				Min:  num(1), Max: num(5),
				Labels: map[int]flows.Text{1: flows.Plain("Very unclear"), 5: flows.Plain("Very clear")},
			},
			{
				ID: "q1_reword", Type: flows.TypeText, Text: flows.Plain("How would you word it instead?"),
				Optional: true, MaxLength: 2000,
				When: &flows.Condition{Source: "q1_clarity <= 3", Any: [][]flows.Comparison{{
					{Question: "q1_clarity", Op: flows.OpLe, Literal: "3", Number: 3},
				}}},
			},
			{
				ID: "role", Type: flows.TypeChoice, Text: flows.Plain("Which best describes you?"),
				Options: []flows.Option{
					{Value: "Person with lived experience", Label: flows.Plain("Person with lived experience")},
					{Value: "Peer mentor", Label: flows.Plain("Peer mentor")},
					{Value: "Professional", Label: flows.Plain("Professional")},
					{Value: "Prefer not to say", Label: flows.Plain("Prefer not to say")},
				},
			},
		},
		Closing: flows.Plain("Thank you — your answers help shape the questions we ask."),
		Reminders: []flows.Reminder{
			{Kind: flows.RemindAfter, After: 48 * time.Hour, Max: 2},
			{Kind: flows.RemindCron, Cron: "0 10 * * MON", Text: flows.Plain("The consultation closes on {{closes_at}}.")},
			{Kind: flows.RemindBeforeClose, Before: 24 * time.Hour},
		},
		ClosesAt: time.Date(2026, 12, 20, 17, 0, 0, 0, time.UTC),
		File:     "draft.yaml",
		Hash:     c.Hash,
	}
	if len(c.Hash) != 64 {
		t.Errorf("Hash = %q, want 64 hex digits", c.Hash)
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\ngot  %+v\nwant %+v", c, want)
		for i := range min(len(c.Questions), len(want.Questions)) {
			if !reflect.DeepEqual(c.Questions[i], want.Questions[i]) {
				t.Errorf("question %d:\ngot  %+v\nwant %+v", i, c.Questions[i], want.Questions[i])
			}
		}
	}
}

func TestParseHashIsOfTheBytes(t *testing.T) {
	a, err := flows.Parse("a.yaml", []byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	b, err := flows.Parse("b.yaml", []byte(designExample+"# a comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash == b.Hash {
		t.Errorf("Hash did not change with the file's text: got %s for both", a.Hash)
	}
	again, _ := flows.Parse("c.yaml", []byte(designExample))
	if again.Hash != a.Hash {
		t.Errorf("Hash of the same text: got %s, want %s", again.Hash, a.Hash)
	}
}

// minimal is the smallest valid file; tests add fields to it.
const minimal = `id: m
title: Minimal
consent: {version: 1, text: Thanks for helping.}
questions:
  - id: q1
    type: text
    text: Anything to add?
`

func TestParseDefaults(t *testing.T) {
	c, err := flows.Parse("m.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"Language", c.Language, "en"},
		{"Location", c.Location, time.UTC},
		{"Timezone", c.Timezone, ""},
		{"QuietHours", c.QuietHours, flows.DefaultQuietHours},
		{"Open", c.Open, false},
		{"Anonymous", c.Anonymous, false},
		{"MaxLength", c.Questions[0].MaxLength, 2000},
		{"OpensAt", c.OpensAt, time.Time{}},
		{"ClosesAt", c.ClosesAt, time.Time{}},
		{"Closing", c.Closing, flows.Text(nil)},
		{"File", c.File, "m.yaml"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	london, _ := time.LoadLocation("Europe/London")
	tests := []struct {
		name  string
		extra string // appended to minimal
		get   func(*flows.Consultation) any
		want  any
	}{
		{"quiet hours none", "quiet_hours: none\n",
			func(c *flows.Consultation) any { return c.QuietHours.Off() }, true},
		{"quiet hours", "quiet_hours: 22:30-07:00\n",
			func(c *flows.Consultation) any { return c.QuietHours }, flows.QuietHours{Start: 22*60 + 30, End: 7 * 60}},
		{"language", "language: cy\n",
			func(c *flows.Consultation) any { return c.Language }, "cy"},
		{"open yes", "open: yes\nanonymous: true\n",
			func(c *flows.Consultation) any { return [2]bool{c.Open, c.Anonymous} }, [2]bool{true, true}},
		{"opens at a date, in the time zone", "timezone: Europe/London\nopens_at: 2026-07-01\n",
			func(c *flows.Consultation) any { return c.OpensAt }, time.Date(2026, 7, 1, 0, 0, 0, 0, london)},
		{"closes at the end of a date", "timezone: Europe/London\ncloses_at: 2026-07-01\n",
			func(c *flows.Consultation) any { return c.ClosesAt }, time.Date(2026, 7, 1, 23, 59, 59, 0, london)},
		{"closes at a local time", "timezone: Europe/London\ncloses_at: 2026-07-01T17:30\n",
			func(c *flows.Consultation) any { return c.ClosesAt }, time.Date(2026, 7, 1, 17, 30, 0, 0, london)},
		{"closes at RFC 3339", "timezone: Europe/London\ncloses_at: 2026-07-01T17:30:00+02:00\n",
			func(c *flows.Consultation) any { return c.ClosesAt.UTC() }, time.Date(2026, 7, 1, 15, 30, 0, 0, time.UTC)},
		{"closing in two languages", "language: cy\nclosing: {en: Minimal, cy: Lleiaf}\n",
			func(c *flows.Consultation) any { return c.Closing }, flows.Text{"en": "Minimal", "cy": "Lleiaf"}},
		{"closing", "closing: |\n  Thank you.\n  Diolch.\n",
			func(c *flows.Consultation) any { return c.Closing }, flows.Plain("Thank you.\nDiolch.")},
		{"reminder after, max defaults to 1", "reminders:\n  - after: 1w2d\n",
			func(c *flows.Consultation) any { return c.Reminders },
			[]flows.Reminder{{Kind: flows.RemindAfter, After: 9 * 24 * time.Hour, Max: 1}}},
		{"reminder cron with its own zone", "reminders:\n  - {cron: CRON_TZ=America/New_York 30 9 * * *, text: {en: Hello}}\n",
			func(c *flows.Consultation) any { return c.Reminders },
			[]flows.Reminder{{Kind: flows.RemindCron, Cron: "CRON_TZ=America/New_York 30 9 * * *", Text: flows.Text{"en": "Hello"}}}},
		{"schedule every, starting local", "timezone: Europe/London\nschedules:\n  - id: meet\n    to: tg:-1001234567\n    every: 1w\n    starting: 2026-12-03T18:00\n    until: 2027-03-01\n    text: We meet tonight at 6pm.\n",
			func(c *flows.Consultation) any { return c.Schedules },
			[]flows.Schedule{{ID: "meet", To: "tg:-1001234567", Every: 7 * 24 * time.Hour,
				Starting: time.Date(2026, 12, 3, 18, 0, 0, 0, london), Until: time.Date(2027, 3, 1, 23, 59, 59, 0, london),
				Text: flows.Plain("We meet tonight at 6pm.")}}},
		{"schedule cron", "schedules:\n  - {id: s, to: slack:C0123ABC, cron: 0 18 * * TUE, text: See you at 6.}\n",
			func(c *flows.Consultation) any { return c.Schedules },
			[]flows.Schedule{{ID: "s", To: "slack:C0123ABC", Cron: "0 18 * * TUE", Text: flows.Plain("See you at 6.")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := flows.Parse("m.yaml", []byte(minimal+tt.extra))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseQuestions(t *testing.T) {
	head := "id: m\ntitle: M\nconsent: {version: 1, text: Thanks.}\nquestions:\n"
	tests := []struct {
		name string
		yaml string // the questions
		want []flows.Question
	}{
		{"options as strings and maps",
			"  - id: role\n    type: choice\n    text: Which?\n    options:\n      - Peer mentor\n      - {value: pro, label: {en: Professional, cy: Proffesiynol}}\n      - {value: none}\n",
			[]flows.Question{{ID: "role", Type: flows.TypeChoice, Text: flows.Plain("Which?"), Options: []flows.Option{
				{Value: "Peer mentor", Label: flows.Plain("Peer mentor")},
				{Value: "pro", Label: flows.Text{"en": "Professional", "cy": "Proffesiynol"}},
				{Value: "none", Label: flows.Plain("none")},
			}}}},
		{"multi with picks",
			"  - {id: t, type: multi, text: Which, options: [a, b, c], min: 1, max: 2}\n",
			[]flows.Question{{ID: "t", Type: flows.TypeMulti, Text: flows.Plain("Which"), Min: num(1), Max: num(2), Options: []flows.Option{
				{Value: "a", Label: flows.Plain("a")}, {Value: "b", Label: flows.Plain("b")}, {Value: "c", Label: flows.Plain("c")},
			}}}},
		{"number with bounds, text with a limit, yesno, date",
			"  - {id: n, type: number, text: How many, min: -1.5, max: 100}\n  - {id: x, type: text, text: Why, max_length: 280, optional: true}\n  - {id: y, type: yesno, text: Sure}\n  - {id: d, type: date, text: When}\n",
			[]flows.Question{
				{ID: "n", Type: flows.TypeNumber, Text: flows.Plain("How many"), Min: num(-1.5), Max: num(100)},
				{ID: "x", Type: flows.TypeText, Text: flows.Plain("Why"), MaxLength: 280, Optional: true},
				{ID: "y", Type: flows.TypeYesNo, Text: flows.Plain("Sure")},
				{ID: "d", Type: flows.TypeDate, Text: flows.Plain("When")},
			}},
		{"conditions of every kind",
			"  - {id: s, type: scale, text: S, min: 0, max: 10}\n" +
				"  - {id: c, type: choice, text: C, options: [Peer mentor, other]}\n" +
				"  - {id: m, type: multi, text: M, options: [Housing, Benefits]}\n" +
				"  - {id: d, type: date, text: D}\n" +
				"  - {id: y, type: yesno, text: Y}\n" +
				"  - id: last\n    type: text\n    text: L\n    when: s >= 7 and c == \"Peer mentor\" or m has housing or d < 2026-12-01 and y == Yes\n",
			[]flows.Question{
				{ID: "s", Type: flows.TypeScale, Text: flows.Plain("S"), Min: num(0), Max: num(10)},
				{ID: "c", Type: flows.TypeChoice, Text: flows.Plain("C"), Options: []flows.Option{{Value: "Peer mentor", Label: flows.Plain("Peer mentor")}, {Value: "other", Label: flows.Plain("other")}}},
				{ID: "m", Type: flows.TypeMulti, Text: flows.Plain("M"), Options: []flows.Option{{Value: "Housing", Label: flows.Plain("Housing")}, {Value: "Benefits", Label: flows.Plain("Benefits")}}},
				{ID: "d", Type: flows.TypeDate, Text: flows.Plain("D")},
				{ID: "y", Type: flows.TypeYesNo, Text: flows.Plain("Y")},
				{ID: "last", Type: flows.TypeText, Text: flows.Plain("L"), MaxLength: 2000, When: &flows.Condition{
					Source: `s >= 7 and c == "Peer mentor" or m has housing or d < 2026-12-01 and y == Yes`,
					Any: [][]flows.Comparison{
						{{Question: "s", Op: flows.OpGe, Literal: "7", Number: 7}, {Question: "c", Op: flows.OpEq, Literal: "Peer mentor"}},
						{{Question: "m", Op: flows.OpHas, Literal: "housing"}},
						{{Question: "d", Op: flows.OpLt, Literal: "2026-12-01", Number: 20788}, {Question: "y", Op: flows.OpEq, Literal: "Yes"}},
					},
				}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := flows.Parse("q.yaml", []byte(head+tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(c.Questions, tt.want) {
				t.Errorf("questions:\ngot  %+v\nwant %+v", c.Questions, tt.want)
			}
		})
	}
}

// TestParseBroken checks every file of testdata/broken against the
// messages in testdata/broken/expected.txt, exactly and in order.
func TestParseBroken(t *testing.T) {
	dir := filepath.Join("testdata", "broken")
	want := map[string][]string{}
	expected, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimRight(string(expected), "\n"), "\n") {
		file, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("expected.txt: line %q has no file name", line)
		}
		want[file] = append(want[file], line)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d broken files, want at least 10", len(files))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := flows.Parse(name, data)
			if err == nil {
				t.Fatalf("Parse accepted a broken file: %+v", c)
			}
			var errs flows.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error is %T, want flows.Errors", err)
			}
			got := strings.Split(errs.Error(), "\n")
			if !slices.Equal(got, want[name]) {
				t.Errorf("errors:\ngot\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want[name], "\n\t"))
			}
			for _, e := range errs {
				if e.File != name || e.Line < 1 || e.Column < 1 {
					t.Errorf("error %q: got file %q line %d column %d, want %q and a line and column from 1", e.Msg, e.File, e.Line, e.Column, name)
				}
			}
		})
		delete(want, name)
	}
	for file := range want {
		t.Errorf("expected.txt has messages for %s, which is not in %s", file, dir)
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte(minimal + "# " + strings.Repeat("x", flows.MaxFileSize) + "\n")
	const want = "big.yaml:1:1: the file is too large (more than 1 MiB); a consultation file can be at most 1048576 bytes, so split it into smaller consultations"
	if _, err := flows.Parse("big.yaml", data); err == nil || err.Error() != want {
		t.Errorf("Parse: got %v, want %s", err, want)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want2 := path + strings.TrimPrefix(want, "big.yaml")
	if _, err := flows.ParseFile(path); err == nil || err.Error() != want2 {
		t.Errorf("ParseFile: got %v, want %s", err, want2)
	}
	// Just under the limit is fine.
	ok := []byte(minimal + "#" + strings.Repeat("x", flows.MaxFileSize-len(minimal)-2) + "\n")
	if len(ok) != flows.MaxFileSize {
		t.Fatalf("test file is %d bytes, want %d", len(ok), flows.MaxFileSize)
	}
	if _, err := flows.Parse("ok.yaml", ok); err != nil {
		t.Errorf("Parse of a file of exactly 1 MiB: %v", err)
	}
}

func TestParseAliases(t *testing.T) {
	const file = `id: aliases
title: Options shared with an anchor
consent: {version: 1, text: Thanks.}
questions:
  - id: f1
    type: choice
    text: Finding 1. Do you agree?
    options: &agree [Agree, Partly, Disagree]
  - id: f2
    type: choice
    text: Finding 2. Do you agree?
    options: *agree
`
	c, err := flows.Parse("a.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Questions[1].Options), 3; got != want {
		t.Errorf("options of f2: got %d, want %d", got, want)
	}

	// A billion laughs is refused, not expanded.
	var b strings.Builder
	b.WriteString("id: laughs\ntitle: Laughs\nconsent: {version: 1, text: Thanks.}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	b.WriteString("questions:\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "  - {id: q%d, type: multi, text: Pick, options: *a7}\n", i)
	}
	_, err = flows.Parse("laughs.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("Parse accepted a billion laughs")
	}
}

func TestParseFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	b := write("b.yaml", strings.Replace(minimal, "id: m", "id: beta", 1))
	a := write("a.yml", strings.Replace(minimal, "id: m", "id: alpha", 1))
	write("notes.txt", "not a consultation")
	write(".hidden.yaml", "not: a consultation")

	cs, err := flows.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if want := []string{"alpha", "beta"}; !slices.Equal(ids, want) {
		t.Errorf("LoadDir ids: got %v, want %v", ids, want)
	}
	if cs[0].File != a || cs[1].File != b {
		t.Errorf("LoadDir files: got %s, %s, want %s, %s", cs[0].File, cs[1].File, a, b)
	}

	dup := write("c.yaml", "# the same id again\n"+strings.Replace(minimal, "id: m", "id: beta", 1))
	missing := filepath.Join(dir, "missing.yaml")
	_, err = flows.ParseFiles(a, b, dup, missing)
	var errs flows.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("ParseFiles error: got %v, want flows.Errors", err)
	}
	want := []string{
		dup + `:2:5: consultation id "beta" is also used by ` + b + `; each consultation needs its own id`,
		missing + ": cannot read the file: no such file or directory",
	}
	if got := strings.Split(errs.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("ParseFiles errors:\ngot  %q\nwant %q", got, want)
	}
	if _, err := flows.LoadDir(dir); err == nil {
		t.Error("LoadDir accepted two files with the same id")
	}
	if _, err := flows.LoadDir(filepath.Join(dir, "nowhere")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadDir of a missing folder: got %v, want an error wrapping os.ErrNotExist", err)
	}
	if _, err := flows.ParseFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile of a missing file: got %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&flows.FileError{File: "a.yaml", Line: 3, Column: 7, Msg: "wrong"}, "a.yaml:3:7: wrong"},
		{&flows.FileError{File: "a.yaml", Msg: "cannot read the file: permission denied"}, "a.yaml: cannot read the file: permission denied"},
		{flows.Errors{{File: "a.yaml", Line: 1, Column: 1, Msg: "one"}, {File: "a.yaml", Line: 2, Column: 3, Msg: "two"}}, "a.yaml:1:1: one\na.yaml:2:3: two"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error(): got %q, want %q", got, tt.want)
		}
	}
}

func TestExamples(t *testing.T) {
	cs, err := flows.LoadDir(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatalf("LoadDir(examples): %v", err)
	}
	type facts struct {
		open, anonymous bool
	}
	want := map[string]facts{
		"action-group-checkin": {open: false, anonymous: true},
		"draft-findings":       {open: true},
		"draft-questions":      {open: true},
	}
	types := map[flows.QuestionType]bool{}
	var when, optionalText bool
	for _, c := range cs {
		w, ok := want[c.ID]
		if !ok {
			t.Errorf("unexpected example %q", c.ID)
			continue
		}
		delete(want, c.ID)
		if got := (facts{c.Open, c.Anonymous}); got != w {
			t.Errorf("%s: got open %v anonymous %v, want open %v anonymous %v", c.ID, got.open, got.anonymous, w.open, w.anonymous)
		}
		if len(c.Reminders) == 0 {
			t.Errorf("%s: got no reminders, want some", c.ID)
		}
		if len(c.Closing) == 0 || len(c.Consent.Text) == 0 {
			t.Errorf("%s: got closing %q and consent %q, want both", c.ID, c.Closing, c.Consent.Text)
		}
		for _, q := range c.Questions {
			types[q.Type] = true
			when = when || q.When != nil
			optionalText = optionalText || q.Optional && q.Type == flows.TypeText
		}
	}
	for id := range want {
		t.Errorf("example %q is missing", id)
	}
	for _, typ := range []flows.QuestionType{flows.TypeMulti, flows.TypeYesNo, flows.TypeScale, flows.TypeChoice, flows.TypeText} {
		if !types[typ] {
			t.Errorf("no example has a %s question", typ)
		}
	}
	if !types[flows.TypeDate] && !types[flows.TypeNumber] {
		t.Error("no example has a date or number question")
	}
	if !when || !optionalText {
		t.Errorf("got a when branch %v and an optional text %v, want both", when, optionalText)
	}
}

func ExampleParse() {
	file := `id: checkin
title: Action group check-in
consent:
  version: 1
  text: Two quick questions about our next meeting. You can stop at any time.
questions:
  - id: coming
    type: yesno
    text: Can you come to the next meeting?
  - id: topics
    type: multi
    text: What should we talk about?
    options: [Housing, Benefits, {value: gp, label: Seeing a GP}]
    when: coming == yes
`
	c, err := flows.Parse("checkin.yaml", []byte(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	answers := map[string]flows.Answer{"coming": {Type: flows.TypeYesNo, Text: "yes"}}
	topics := c.Questions[c.QuestionIndex("topics")]
	fmt.Println(topics.When.Holds(answers))
	answers["topics"] = flows.Answer{Type: flows.TypeMulti, Values: []string{"Housing", "gp"}}
	fmt.Println(flows.Pipe("You chose {{answers.topics}} for {{title}}.", answers, c, ""))

	_, err = flows.Parse("broken.yaml", []byte("id: broken\ntitel: Oops\n"))
	fmt.Println(err)
	// Output:
	// true
	// You chose Housing, Seeing a GP for Action group check-in.
	// broken.yaml:1:1: the consultation has no consent; add one, like consent: {version: 1, text: ...}
	// broken.yaml:1:1: the consultation has no questions; add one, like questions: [{id: q1, type: text, text: ...}]
	// broken.yaml:2:1: unknown field "titel" in the consultation; did you mean "title"?
}

// FuzzParse checks that Parse never panics, that every error it reports
// has a place in the file, and that what it accepts keeps its promises.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := flows.Parse("fuzz.yaml", data)
		if err != nil {
			var errs flows.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error %v (%T), want a non-empty flows.Errors", err, err)
			}
			lines := 1
			for _, r := range strings.ReplaceAll(string(data), "\r\n", "\n") {
				switch r {
				case '\n', '\r', '\u0085', '\u2028', '\u2029':
					lines++
				}
			}
			for i, e := range errs {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Line > lines || e.Column < 1 || e.Msg == "" {
					t.Errorf("error %q: got file %q line %d column %d, want a line from 1 to %d and a column from 1", e.Msg, e.File, e.Line, e.Column, lines)
				}
				if i > 0 && (errs[i-1].Line > e.Line || errs[i-1].Line == e.Line && errs[i-1].Column > e.Column) {
					t.Errorf("errors not sorted: %v before %v", errs[i-1], e)
				}
			}
			return
		}
		if c.ID == "" || len(c.Title) == 0 || len(c.Questions) == 0 || c.Location == nil || len(c.Hash) != 64 || c.Consent.Version < 1 {
			t.Fatalf("accepted an incomplete consultation: %+v", c)
		}
		seen := map[string]int{}
		for i, q := range c.Questions {
			if q.ID == "" || len(q.Text) == 0 {
				t.Errorf("question %d has no id or text: %+v", i, q)
			}
			if _, dup := seen[q.ID]; dup {
				t.Errorf("question id %q accepted twice", q.ID)
			}
			seen[q.ID] = i
			if q.When != nil {
				for _, all := range q.When.Any {
					for _, cmp := range all {
						if j, ok := seen[cmp.Question]; !ok || j >= i {
							t.Errorf("question %q: when refers to %q, which is not asked before it", q.ID, cmp.Question)
						}
					}
				}
				if q.When.Holds(nil) {
					t.Errorf("question %q: condition %q holds with no answers", q.ID, q.When.Source)
				}
			}
			if (q.Type == flows.TypeChoice || q.Type == flows.TypeMulti) && len(q.Options) < 2 {
				t.Errorf("question %q: %s with %d options", q.ID, q.Type, len(q.Options))
			}
			if q.Type == flows.TypeScale && (q.Min == nil || q.Max == nil || *q.Min >= *q.Max) {
				t.Errorf("question %q: scale without a proper range", q.ID)
			}
			flows.Pipe(q.Text.In("", c.Language), nil, c, "")
		}
	})
}
