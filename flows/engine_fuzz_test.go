package flows

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAdvance plays a script of inputs through the engine and checks what
// must hold after every step, whatever the participant does. Each line of
// the script is one input: "/word arg" a command (known or not), "#n" the
// n-th button of the latest message with buttons, "#!data" a button with
// that data, "@n" moves the clock on n hours (no input), anything else
// typed text. opts picks the consultation, the channel and anonymity.
func FuzzAdvance(f *testing.F) {
	seeds := []struct {
		script string
		opts   uint8
	}{
		{"/start\nyes\n2\nThe time\npeer\n1, 3\ny\n3,5\n1/12/2026\n/skip\n/mydata", 0},
		{"/start\n#0\n#0\n#4\n#1\n#2\n#5\n#0\n#0\n/back\n/back\n#3\n/withdraw\n#1\n/withdraw\n#0", 1},
		{"/start\nno\nhello\nyes\n/pause\n4\n#2\n/resume\n/stop\n/resume\n/help\n/withdraw\nmaybe\nno", 2},
		{"/start\nyes\n/back\n/skip\n7\n1\n#!a3.0\n#!x\n/frobnicate\n@2000\nlate\n/mydata\n/withdraw\nyes\n/start", 3},
		{"@-1000\n/start\n@2000\n/start\n#0\n5\n#1\n/back\n#5\n#6", 4},
		{"/start\nyes\n1\n\n" + strings.Repeat("x", 300) + "\nfine\n4\nTeacher\n1,2,3,4\n#4\n2;4\nperhaps\nyes\n1,000\n11\n2\n31/2/2027\n2026-12-01\n/skip", 5},
	}
	for _, s := range seeds {
		f.Add(s.script, s.opts)
	}
	files := []*Consultation{loadTestConsultation(f, "all-types.yaml"), loadTestConsultation(f, "draft-questions.yaml")}
	channels := []string{channelTelegram, channelSlack, channelConsole, ""}
	f.Fuzz(func(t *testing.T, script string, opts uint8) {
		c := *files[int(opts)%len(files)]
		c.Anonymous = opts&8 != 0
		channel := channels[int(opts>>4)%len(channels)]
		now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
		var s Session
		var last []Reply
		lines := strings.Split(script, "\n")
		if len(lines) > 200 {
			lines = lines[:200]
		}
		for _, line := range lines {
			if n, ok := strings.CutPrefix(line, "@"); ok {
				if h, err := strconv.Atoi(n); err == nil && h > -100000 && h < 100000 {
					now = now.Add(time.Duration(h) * time.Hour)
					continue
				}
			}
			in := fuzzInput(line, channel, last)
			before := cloneSession(s)
			next, replies, err := c.Advance(s, in, now)
			if err != nil {
				t.Fatalf("%q: Advance: %v", line, err)
			}
			if !reflect.DeepEqual(s, before) {
				t.Fatalf("%q: Advance changed the session it was given", line)
			}
			if len(replies) == 0 {
				t.Fatalf("%q: no reply (status %q)", line, s.Status)
			}
			if strings.HasPrefix(replies[0].Text, msgStaleButton) && !reflect.DeepEqual(next, s) {
				t.Fatalf("%q: a stale button changed the session", line)
			}
			checkSession(t, &c, line, s, next, replies)
			if again := c.Ask(next, now); next.Status != StatusNew && len(again) == 0 {
				t.Fatalf("%q: Ask gave nothing for status %q", line, next.Status)
			}
			s = next
			for _, r := range replies {
				if len(r.Choices) > 0 {
					last = []Reply{r}
				}
			}
		}
	})
}

// fuzzInput turns a script line into an Input.
func fuzzInput(line, channel string, last []Reply) Input {
	in := Input{Channel: channel, Ref: "m"}
	switch {
	case strings.HasPrefix(line, "/"):
		word, arg, _ := strings.Cut(line[1:], " ")
		in.Command, in.Arg = Command(word), arg
	case strings.HasPrefix(line, "#!"):
		in.Choice = line[2:]
	case strings.HasPrefix(line, "#"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || len(last) == 0 || len(last[0].Choices) == 0 {
			in.Choice = line
			break
		}
		chs := last[0].Choices
		in.Choice = chs[((n%len(chs))+len(chs))%len(chs)].Data
	default:
		in.Text = line
	}
	return in
}

// checkSession checks what must hold of a session after a step.
func checkSession(t *testing.T, c *Consultation, line string, before, s Session, replies []Reply) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%q: "+format, append([]any{line}, args...)...)
	}
	for _, r := range replies {
		for _, ch := range r.Choices {
			if ch.Data == "" || len(ch.Data) > maxChoiceData {
				fail("button %q has data %q", ch.Label, ch.Data)
			}
			if p, ok := parsePress(ch.Data); !ok || p.turn != s.Turn {
				fail("button %q has data %q, not of turn %d", ch.Label, ch.Data, s.Turn)
			}
		}
		if !utf8.ValidString(r.Text) {
			fail("reply text is not UTF-8: %q", r.Text)
		}
	}
	if s.Turn < before.Turn {
		fail("turn went back from %d to %d", before.Turn, s.Turn)
	}
	if s.Status != StatusNew && s.Consultation != c.ID {
		fail("got consultation %q, want %q", s.Consultation, c.ID)
	}
	switch s.Status {
	case StatusNew, StatusConsent, StatusDeclined, StatusWithdrawn:
		if s.Answers != nil || s.Asked != nil || s.Question != "" {
			fail("status %q with answers %v, asked %v, at %q", s.Status, s.Answers, s.Asked, s.Question)
		}
	case StatusActive:
		if len(s.Asked) == 0 || s.Asked[len(s.Asked)-1] != s.Question || c.QuestionIndex(s.Question) < 0 {
			fail("active at %q with trail %v", s.Question, s.Asked)
		}
	case StatusCompleted:
		if s.Question != "" || s.Finished.IsZero() {
			fail("completed at %q, finished %v", s.Question, s.Finished)
		}
		for k := range s.Answers {
			if !slices.Contains(s.Asked, k) {
				fail("completed with answer %q left behind; asked %v", k, s.Asked)
			}
		}
	}
	if s.Status.Ended() && s.Finished.IsZero() {
		fail("status %q without Finished", s.Status)
	}
	if s.Confirm != "" && s.Confirm != confirmWithdraw {
		fail("confirm %q", s.Confirm)
	}
	for id, a := range s.Answers {
		i := c.QuestionIndex(id)
		if i < 0 {
			fail("answer to unknown question %q", id)
		}
		if msg := answerProblem(&c.Questions[i], a); msg != "" {
			fail("answer to %s %+v: %s", id, a, msg)
		}
	}
	if len(s.Selected) > 0 {
		i := c.QuestionIndex(s.Question)
		if i < 0 || c.Questions[i].Type != TypeMulti {
			fail("ticks %v outside a multi question (at %q)", s.Selected, s.Question)
		}
		for _, v := range s.Selected {
			if !slices.ContainsFunc(c.Questions[i].Options, func(o Option) bool { return o.Value == v }) {
				fail("tick %q is not an option", v)
			}
		}
	}
}

// answerProblem says what is wrong with a stored answer, or "".
func answerProblem(q *Question, a Answer) string {
	if a.Type != q.Type {
		return "type " + string(a.Type)
	}
	isOption := func(v string) int {
		return slices.IndexFunc(q.Options, func(o Option) bool { return o.Value == v })
	}
	switch q.Type {
	case TypeScale:
		if a.Number != float64(int(a.Number)) || a.Number < *q.Min || a.Number > *q.Max {
			return "off the scale"
		}
	case TypeNumber:
		if q.Min != nil && a.Number < *q.Min || q.Max != nil && a.Number > *q.Max {
			return "out of range"
		}
	case TypeDate:
		if _, err := time.Parse(time.DateOnly, a.Text); err != nil {
			return "not a date"
		}
	case TypeYesNo:
		if a.Text != "yes" && a.Text != "no" {
			return "neither yes nor no"
		}
	case TypeChoice:
		if isOption(a.Text) < 0 {
			return "not an option"
		}
	case TypeMulti:
		last := -1
		for _, v := range a.Values {
			i := isOption(v)
			if i <= last {
				return "values not options in option order"
			}
			last = i
		}
		if q.Max != nil && len(a.Values) > int(*q.Max) || len(a.Values) < minPicks(q) {
			return "too few or too many"
		}
	case TypeText:
		if a.Text == "" || a.Text != strings.TrimSpace(a.Text) || utf8.RuneCountInString(a.Text) > q.MaxLength {
			return "empty, untrimmed or too long"
		}
	}
	return ""
}
