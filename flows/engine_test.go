package flows

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed time of the engine tests.
func testNow() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) }

// parseTest parses a consultation written in a test.
func parseTest(t testing.TB, src string) *Consultation {
	t.Helper()
	c, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing the test consultation: %v", err)
	}
	return c
}

// oneQuestion is a consultation with one question, written as YAML lines
// (indented as list items of questions).
func oneQuestion(t testing.TB, question string) *Consultation {
	t.Helper()
	return parseTest(t, "id: one\ntitle: One question\nconsent: {version: 1, text: Just one question.}\nquestions:\n"+question)
}

func text(s string) Input        { return Input{Channel: channelTelegram, Text: s} }
func command(c Command) Input    { return Input{Channel: channelTelegram, Command: c} }
func button(data string) Input   { return Input{Channel: channelTelegram, Choice: data, Ref: "m1"} }
func consoleText(s string) Input { return Input{Channel: channelConsole, Text: s} }

// step advances s by one input, checking that s is left alone.
func advance(t *testing.T, c *Consultation, s Session, in Input) (Session, []Reply) {
	t.Helper()
	before := cloneSession(s)
	next, replies, err := c.Advance(s, in, testNow())
	if err != nil {
		t.Fatalf("Advance(%+v): %v", in, err)
	}
	if !reflect.DeepEqual(s, before) {
		t.Fatalf("Advance(%+v) changed the session it was given", in)
	}
	for _, r := range replies {
		for _, ch := range r.Choices {
			if len(ch.Data) > maxChoiceData || ch.Data == "" {
				t.Fatalf("Advance(%+v): button %q has data %q; want 1 to %d bytes", in, ch.Label, ch.Data, maxChoiceData)
			}
		}
	}
	return next, replies
}

// started returns a session that has agreed and stands at the first question.
func started(t *testing.T, c *Consultation) (Session, []Reply) {
	t.Helper()
	s, _ := advance(t, c, Session{Participant: "p1"}, command(CmdStart))
	return advance(t, c, s, text("yes"))
}

// choiceData returns the data of the button labelled label in replies.
func choiceData(t *testing.T, replies []Reply, label string) string {
	t.Helper()
	for i := len(replies) - 1; i >= 0; i-- {
		for _, ch := range replies[i].Choices {
			if ch.Label == label {
				return ch.Data
			}
		}
	}
	t.Fatalf("no button %q in %+v", label, replies)
	return ""
}

func lastText(replies []Reply) string {
	if len(replies) == 0 {
		return ""
	}
	return replies[len(replies)-1].Text
}

func TestAdvanceStart(t *testing.T) {
	c := parseTest(t, `id: langs
title: {en: Our meeting, cy: Ein cyfarfod}
consent: {version: 3, text: {en: 'Agree?', cy: 'Cytuno?'}}
questions:
  - {id: q, type: yesno, text: {en: 'Coming?', cy: 'Yn dod?'}}
`)
	tests := []struct {
		name, channel, lang string
		wantLang, wantText  string
		wantHint            string
	}{
		{"telegram", channelTelegram, "", "", "Agree?", "send /pause, /stop or /withdraw"},
		{"slack", channelSlack, "en", "en", "Agree?", "send /consult pause, /consult stop or /consult withdraw"},
		{"console", channelConsole, "", "", "Agree?", "type pause, stop or withdraw"},
		{"welsh", channelTelegram, "cy", "cy", "Cytuno?", "/pause"},
		{"welsh region", channelTelegram, "cy-GB", "cy", "Cytuno?", "/pause"},
		{"language the file lacks", channelTelegram, "fr", "", "Agree?", "/pause"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Channel: tt.channel, Language: tt.lang, Command: CmdStart}
			s, replies := advance(t, c, Session{Participant: "p1"}, in)
			want := Session{Participant: "p1", Consultation: "langs", Hash: c.Hash, Channel: tt.channel, Language: tt.wantLang,
				Status: StatusConsent, Turn: 1, Started: testNow(), Updated: testNow()}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("got session %+v, want %+v", s, want)
			}
			if len(replies) != 1 {
				t.Fatalf("got %d replies, want 1", len(replies))
			}
			r := replies[0]
			if !strings.Contains(r.Text, tt.wantText) || !strings.Contains(r.Text, tt.wantHint) {
				t.Errorf("got consent text %q, want it to hold %q and %q", r.Text, tt.wantText, tt.wantHint)
			}
			if got := []Choice{{Label: labelConsentYes, Data: "y1"}, {Label: labelConsentNo, Data: "n1"}}; !reflect.DeepEqual(r.Choices, got) {
				t.Errorf("got choices %+v, want %+v", r.Choices, got)
			}
		})
	}
}

func TestAdvanceConsent(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	consent, _ := advance(t, c, Session{Participant: "p1"}, command(CmdStart))
	tests := []struct {
		name       string
		in         Input
		wantStatus Status
		wantQ      string
		wantEdit   bool
		wantText   string
	}{
		{"yes button", button("y1"), StatusActive, "q1_clarity", true, "How clear is it?"},
		{"typed yes", text("Yes"), StatusActive, "q1_clarity", false, "How clear is it?"},
		{"typed ok", text("ok"), StatusActive, "q1_clarity", false, "How clear is it?"},
		{"no button", button("n1"), StatusDeclined, "", true, "Nothing has been recorded"},
		{"typed no", text("NO"), StatusDeclined, "", false, "Nothing has been recorded"},
		{"stop", command(CmdStop), StatusDeclined, "", false, "Nothing has been recorded"},
		{"withdraw", command(CmdWithdraw), StatusDeclined, "", false, "nothing to delete"},
		{"nonsense", text("what is this?"), StatusConsent, "", false, "Please answer yes or no"},
		{"an answer already", text("4"), StatusConsent, "", false, "Please answer yes or no"},
		{"skip", command(CmdSkip), StatusConsent, "", false, msgConsentFirst},
		{"pause", command(CmdPause), StatusConsent, "", false, msgNothingToPause},
		{"mydata", command(CmdMyData), StatusConsent, "", false, msgNothingYet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, replies := advance(t, c, consent, tt.in)
			if s.Status != tt.wantStatus || s.Question != tt.wantQ {
				t.Errorf("got status %q at %q, want %q at %q", s.Status, s.Question, tt.wantStatus, tt.wantQ)
			}
			if s.Answers != nil {
				t.Errorf("got answers %v, want none", s.Answers)
			}
			wantVersion := 0
			if tt.wantStatus == StatusActive {
				wantVersion = 1
			}
			if s.ConsentVersion != wantVersion {
				t.Errorf("got consent version %d, want %d", s.ConsentVersion, wantVersion)
			}
			if got := len(replies) > 0 && replies[0].Edit; got != tt.wantEdit {
				t.Errorf("got an edit first: %v, want %v", got, tt.wantEdit)
			}
			if !strings.Contains(lastText(replies), tt.wantText) {
				t.Errorf("got %q, want it to hold %q", lastText(replies), tt.wantText)
			}
		})
	}
}

func TestAdvanceTypedAnswers(t *testing.T) {
	tests := []struct {
		name     string
		question string
		channel  string
		in       string
		want     *Answer // nil: a re-ask
		wantNote string
	}{
		{"scale number", scaleQ, "", "4", &Answer{Type: TypeScale, Number: 4}, ""},
		{"scale spaced", scaleQ, "", "  5 ", &Answer{Type: TypeScale, Number: 5}, ""},
		{"scale label", scaleQ, "", "very CLEAR", &Answer{Type: TypeScale, Number: 5}, ""},
		{"scale out of range", scaleQ, "", "0", nil, "Please send a number from 1 to 5, or tap a button."},
		{"scale fraction", scaleQ, "", "4.5", nil, "Please send a number from 1 to 5, or tap a button."},
		{"scale in the terminal", scaleQ, channelConsole, "9", nil, "Please type a number from 1 to 5."},
		{"choice label", choiceQ, "", "peer MENTOR", &Answer{Type: TypeChoice, Text: "peer"}, ""},
		{"choice value", choiceQ, "", "Pro", &Answer{Type: TypeChoice, Text: "pro"}, ""},
		{"choice position", choiceQ, "", "1", &Answer{Type: TypeChoice, Text: "lived"}, ""},
		{"choice position out of range", choiceQ, "", "5", nil, "Please tap one of the buttons, or send the number (1 to 3) or the name of an option."},
		{"choice unknown", choiceQ, "", "Teacher", nil, "Please tap one of the buttons"},
		{"choice label wins over position", numberedChoiceQ, "", "2", &Answer{Type: TypeChoice, Text: "2"}, ""},
		{"choice position where no label is it", numberedChoiceQ, "", "1", &Answer{Type: TypeChoice, Text: "3"}, ""},
		{"multi numbers", multiQ, "", "1, 3", &Answer{Type: TypeMulti, Values: []string{"Housing", "gp"}}, ""},
		{"multi in option order", multiQ, "", "gp; housing", &Answer{Type: TypeMulti, Values: []string{"Housing", "gp"}}, ""},
		{"multi label with a comma", multiQ, "", "yes, often", &Answer{Type: TypeMulti, Values: []string{"Yes, often"}}, ""},
		{"multi twice the same", multiQ, "", "1, 1", &Answer{Type: TypeMulti, Values: []string{"Housing"}}, ""},
		{"multi unknown", multiQ, "", "Housing, Parking", nil, `"Parking" isn't one of the options.`},
		{"multi too many", multiQ, "", "1, 2, 3, 4", nil, "Please pick no more than 3."},
		{"multi none", multiQ, "", " , ", nil, "Please pick at least 1"},
		{"yesno y", yesnoQ, "", "Y", &Answer{Type: TypeYesNo, Text: "yes"}, ""},
		{"yesno no.", yesnoQ, "", "no.", &Answer{Type: TypeYesNo, Text: "no"}, ""},
		{"yesno other", yesnoQ, "", "nope", nil, "Please send yes or no, or tap a button."},
		{"number decimal comma", numberQ, "", "3,5", &Answer{Type: TypeNumber, Number: 3.5}, ""},
		{"number point", numberQ, "", "3.5", &Answer{Type: TypeNumber, Number: 3.5}, ""},
		{"number below min", numberQ, "", "-2", nil, "Please send a number from 0 to 10."},
		{"number thousands", numberQ, "", "1,000", nil, "Please send the number without a comma"},
		{"number words", numberQ, "", "three", nil, "Please send a number, like 12 or 3.5."},
		{"number hex", numberQ, "", "0x5", nil, "Please send a number"},
		{"number not a number", numberQ, "", "NaN", nil, "Please send a number"},
		{"date iso", dateQ, "", "2026-12-01", &Answer{Type: TypeDate, Text: "2026-12-01"}, ""},
		{"date day first", dateQ, "", "1/12/2026", &Answer{Type: TypeDate, Text: "2026-12-01"}, ""},
		{"date dots", dateQ, "", "01.12.2026", &Answer{Type: TypeDate, Text: "2026-12-01"}, ""},
		{"date impossible", dateQ, "", "31/2/2026", nil, "Please send a date like 2026-12-01."},
		{"date month 13", dateQ, "", "2026-13-01", nil, "Please send a date like 2026-12-01."},
		{"date words", dateQ, "", "next Tuesday", nil, "Please send a date like 2026-12-01."},
		{"text trimmed", textQ, "", "  Hello \n", &Answer{Type: TypeText, Text: "Hello"}, ""},
		{"text at the limit", textQ, "", "ÀÀÀÀÀÀÀÀÀÀ", &Answer{Type: TypeText, Text: "ÀÀÀÀÀÀÀÀÀÀ"}, ""},
		{"text too long", textQ, "", "ÀÀÀÀÀÀÀÀÀÀÀ", nil, "That's longer than 10 characters — could you shorten it?"},
		{"text empty", textQ, "", "  ", nil, "Please send your answer as a message."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneQuestion(t, tt.question)
			s, _ := started(t, c)
			in := text(tt.in)
			if tt.channel != "" {
				in.Channel = tt.channel
			}
			got, replies := advance(t, c, s, in)
			if tt.want == nil {
				want := s
				want.Updated = testNow()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got session %+v, want it unchanged but for Updated: %+v", got, want)
				}
				if len(replies) != 1 || !strings.HasPrefix(replies[0].Text, tt.wantNote) {
					t.Fatalf("got replies %+v, want one starting %q", replies, tt.wantNote)
				}
				if replies[0].Question != "q" || !strings.Contains(replies[0].Text, "The question?") {
					t.Errorf("got %+v, want the question asked again", replies[0])
				}
				return
			}
			want := *tt.want
			want.At = testNow()
			if a := got.Answers["q"]; !reflect.DeepEqual(a, want) {
				t.Errorf("got answer %+v, want %+v", a, want)
			}
			if got.Status != StatusCompleted || got.Finished != testNow() {
				t.Errorf("got status %q finished %v, want completed at %v", got.Status, got.Finished, testNow())
			}
		})
	}
}

// Questions for TestAdvanceTypedAnswers, each with the id q.
const (
	scaleQ          = "  - {id: q, type: scale, text: 'The question?', min: 1, max: 5, labels: {1: Very unclear, 5: Very clear}}\n"
	choiceQ         = "  - {id: q, type: choice, text: 'The question?', options: [{value: lived, label: Lived experience}, {value: peer, label: Peer mentor}, {value: pro, label: Professional}]}\n"
	numberedChoiceQ = "  - {id: q, type: choice, text: 'The question?', options: ['3', '2', 'x']}\n"
	multiQ          = "  - {id: q, type: multi, text: 'The question?', max: 3, options: [Housing, Benefits, {value: gp, label: Seeing a GP}, Transport, 'Yes, often']}\n"
	yesnoQ          = "  - {id: q, type: yesno, text: 'The question?'}\n"
	numberQ         = "  - {id: q, type: number, text: 'The question?', min: 0, max: 10}\n"
	dateQ           = "  - {id: q, type: date, text: 'The question?'}\n"
	textQ           = "  - {id: q, type: text, text: 'The question?', max_length: 10}\n"
)

func TestAdvanceButtons(t *testing.T) {
	tests := []struct {
		name     string
		question string
		press    string // label of the button pressed
		want     Answer
		wantEdit string
	}{
		{"scale", scaleQ, "5 — Very clear", Answer{Type: TypeScale, Number: 5}, "The question?\n✓ 5 — Very clear"},
		{"scale unlabelled", scaleQ, "3", Answer{Type: TypeScale, Number: 3}, "The question?\n✓ 3"},
		{"choice", choiceQ, "Peer mentor", Answer{Type: TypeChoice, Text: "peer"}, "The question?\n✓ Peer mentor"},
		{"yes", yesnoQ, labelYes, Answer{Type: TypeYesNo, Text: "yes"}, "The question?\n✓ Yes"},
		{"no", yesnoQ, labelNo, Answer{Type: TypeYesNo, Text: "no"}, "The question?\n✓ No"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneQuestion(t, tt.question)
			s, replies := started(t, c)
			got, replies := advance(t, c, s, button(choiceData(t, replies, tt.press)))
			tt.want.At = testNow()
			if a := got.Answers["q"]; !reflect.DeepEqual(a, tt.want) {
				t.Errorf("got answer %+v, want %+v", a, tt.want)
			}
			if len(replies) != 2 || !replies[0].Edit || replies[0].Text != tt.wantEdit || replies[0].Choices != nil {
				t.Fatalf("got replies %+v, want an edit %q without buttons, then the closing", replies, tt.wantEdit)
			}
		})
	}
}

func TestAdvanceMulti(t *testing.T) {
	c := oneQuestion(t, "  - {id: q, type: multi, text: 'The question?', min: 2, max: 3, options: [A, B, C, D]}\n")
	s, replies := started(t, c)
	toggle := func(s Session, label string) (Session, []Reply) {
		t.Helper()
		s, rs := advance(t, c, s, button(choiceData(t, replies, label)))
		if len(rs) != 1 || !rs[0].Edit || !rs[0].Multi || rs[0].Question != "q" {
			t.Fatalf("toggling %s: got replies %+v, want one edit of the question", label, rs)
		}
		return s, rs
	}
	ticks := func(r Reply) []string {
		var out []string
		for _, ch := range r.Choices {
			if ch.Selected {
				out = append(out, ch.Label)
			}
		}
		return out
	}
	s, rs := toggle(s, "C")
	s, rs = toggle(s, "A")
	if want := []string{"A", "C"}; !slices.Equal(s.Selected, want) || !slices.Equal(ticks(rs[0]), want) {
		t.Errorf("got selected %v and ticks %v, want %v", s.Selected, ticks(rs[0]), want)
	}
	s, rs = toggle(s, "C")
	if want := []string{"A"}; !slices.Equal(s.Selected, want) {
		t.Errorf("after unticking C got %v, want %v", s.Selected, want)
	}
	done := choiceData(t, replies, labelDone)
	got, rs := advance(t, c, s, button(done))
	if got.Status != StatusActive || !strings.HasPrefix(rs[0].Text, "Please pick at least 2") {
		t.Errorf("done with one tick: got status %q and %q, want a re-ask for at least 2", got.Status, rs[0].Text)
	}
	s, _ = toggle(s, "B")
	s, _ = toggle(s, "D")
	over, rs := toggle(s, "C")
	if !slices.Equal(over.Selected, s.Selected) || !strings.HasPrefix(rs[0].Text, "You can pick no more than 3") {
		t.Errorf("a fourth tick: got %v and %q, want %v kept and a note", over.Selected, rs[0].Text, s.Selected)
	}
	got, rs = advance(t, c, s, button(done))
	want := Answer{Type: TypeMulti, Values: []string{"A", "B", "D"}, At: testNow()}
	if !reflect.DeepEqual(got.Answers["q"], want) || got.Selected != nil || got.Status != StatusCompleted {
		t.Errorf("done: got %+v selected %v status %q, want %+v, nothing selected, completed", got.Answers["q"], got.Selected, got.Status, want)
	}
	if len(rs) != 2 || rs[0].Text != "The question?\n✓ A, B, D" {
		t.Errorf("done: got replies %+v, want an edit with the ticked labels and the closing", rs)
	}
}

func TestAdvanceStaleButtons(t *testing.T) {
	c := loadTestConsultation(t, "all-types.yaml")
	// At role (turn 3), with clarity answered.
	s, replies := started(t, c)
	s, _ = advance(t, c, s, button(choiceData(t, replies, "4")))
	if s.Question != "role" || s.Turn != 3 {
		t.Fatalf("got question %q turn %d, want role at turn 3", s.Question, s.Turn)
	}
	tests := []struct{ name, data string }{
		{"earlier turn", "a2.3"},
		{"later turn", "a4.0"},
		{"option out of range", "a3.4"},
		{"consent yes during a question", "y3"},
		{"done on a choice", "d3"},
		{"toggle on a choice", "t3.0"},
		{"skip a required question", "s3"},
		{"keep without an answer", "k3"},
		{"unknown kind", "z3"},
		{"no turn", "a"},
		{"leading zero", "a03.1"},
		{"index without a dot", "a31"},
		{"answer without an index", "a3"},
		{"negative", "a-3.1"},
		{"too long", "a3." + strings.Repeat("1", 40)},
		{"empty index", "a3."},
		{"huge turn", "a99999999999999999999999.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, replies := advance(t, c, s, button(tt.data))
			if !reflect.DeepEqual(got, s) {
				t.Errorf("got session %+v, want it exactly as given: %+v", got, s)
			}
			if len(replies) != 1 || !strings.HasPrefix(replies[0].Text, msgStaleButton) || replies[0].Question != "role" {
				t.Errorf("got replies %+v, want the explanation and role asked again", replies)
			}
		})
	}
	t.Run("ended session", func(t *testing.T) {
		stopped, _ := advance(t, c, s, command(CmdStop))
		got, replies := advance(t, c, stopped, button("a3.1"))
		if !reflect.DeepEqual(got, stopped) || !strings.HasPrefix(lastText(replies), msgStaleButton) {
			t.Errorf("got %+v and %+v, want the session unchanged and the explanation", got, replies)
		}
	})
}

func TestAdvanceEditNeedsRef(t *testing.T) {
	c := oneQuestion(t, yesnoQ)
	s, replies := started(t, c)
	in := button(choiceData(t, replies, labelYes))
	in.Ref = ""
	_, replies = advance(t, c, s, in)
	for _, r := range replies {
		if r.Edit {
			t.Errorf("got an edit %q for a press without Input.Ref, want none", r.Text)
		}
	}
}

func TestAdvanceBackOverBranch(t *testing.T) {
	c := loadTestConsultation(t, "all-types.yaml")
	s, _ := started(t, c)
	steps := []struct {
		in        Input
		wantQ     string
		wantAsked []string
	}{
		{text("1"), "unclear", []string{"clarity", "unclear"}},
		{text("No time given"), "role", []string{"clarity", "unclear", "role"}},
		{command(CmdBack), "unclear", []string{"clarity", "unclear"}},
		{command(CmdBack), "clarity", []string{"clarity"}},
		{command(CmdBack), "clarity", []string{"clarity"}},
		{text("5"), "role", []string{"clarity", "role"}},
		{text("peer"), "topics", []string{"clarity", "role", "topics"}},
		{text("1"), "attend", []string{"clarity", "role", "topics", "attend"}},
		{text("yes"), "guests", []string{"clarity", "role", "topics", "attend", "guests"}},
		{text("2"), "date", []string{"clarity", "role", "topics", "attend", "guests", "date"}},
		{command(CmdBack), "guests", []string{"clarity", "role", "topics", "attend", "guests"}},
		{command(CmdBack), "attend", []string{"clarity", "role", "topics", "attend"}},
		{text("no"), "anything", []string{"clarity", "role", "topics", "attend", "anything"}},
		{command(CmdSkip), "", []string{"clarity", "role", "topics", "attend", "anything"}},
	}
	for i, st := range steps {
		s, _ = advance(t, c, s, st.in)
		if s.Question != st.wantQ || !slices.Equal(s.Asked, st.wantAsked) {
			t.Fatalf("step %d (%+v): got at %q asked %v, want at %q asked %v", i, st.in, s.Question, s.Asked, st.wantQ, st.wantAsked)
		}
	}
	if s.Status != StatusCompleted {
		t.Fatalf("got status %q, want completed", s.Status)
	}
	var keys []string
	for k := range s.Answers {
		keys = append(keys, k)
		if !slices.Contains(s.Asked, k) {
			t.Errorf("answer %q was left behind: asked %v", k, s.Asked)
		}
	}
	slices.Sort(keys)
	if want := []string{"attend", "clarity", "role", "topics"}; !slices.Equal(keys, want) {
		t.Errorf("got answers to %v, want %v (unclear, guests and date dropped)", keys, want)
	}
}

func TestAdvanceKeep(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	s, _ := started(t, c)
	s, _ = advance(t, c, s, text("2"))
	s, _ = advance(t, c, s, text("My wording"))
	s, replies := advance(t, c, s, command(CmdBack))
	if s.Question != "q1_reword" || !strings.Contains(replies[0].Text, "Your answer was: “My wording”") {
		t.Fatalf("got at %q and %q, want q1_reword with its answer shown", s.Question, replies[0].Text)
	}
	s, replies = advance(t, c, s, button(choiceData(t, replies, labelKeep)))
	if s.Question != "role" || s.Answers["q1_reword"].Text != "My wording" {
		t.Errorf("keep: got at %q with %+v, want at role with the answer kept", s.Question, s.Answers)
	}
	if len(replies) != 2 || replies[0].Text != "How would you word it instead?\n✓ My wording" {
		t.Errorf("keep: got %+v, want an edit showing the kept answer, then role", replies)
	}
}

func TestAdvanceCommands(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	active, _ := started(t, c)
	active, _ = advance(t, c, active, text("4"))
	later := testNow().Add(time.Hour)
	paused, stopped, completed := active, active, active
	paused.Status = StatusPaused
	stopped.Status, stopped.Finished = StatusStopped, later
	completed, _ = advance(t, c, active, text("2"))
	declined, withdrawn := active, active
	declined.Status, declined.Answers, declined.Question, declined.Asked = StatusDeclined, nil, "", nil
	withdrawn.Status, withdrawn.Answers, withdrawn.Question, withdrawn.Asked = StatusWithdrawn, nil, "", nil
	tests := []struct {
		name       string
		s          Session
		in         Input
		wantStatus Status
		wantText   string
		wantFin    time.Time
	}{
		{"pause", active, command(CmdPause), StatusPaused, "Paused. Send /resume when you're ready.", time.Time{}},
		{"pause in slack", active, Input{Channel: channelSlack, Command: CmdPause}, StatusPaused, "Send /consult resume", time.Time{}},
		{"text while paused", paused, text("2"), StatusPaused, "You've paused this consultation.", time.Time{}},
		{"resume", paused, command(CmdResume), StatusActive, "Which best describes you?", time.Time{}},
		{"start while paused", paused, command(CmdStart), StatusActive, "Which best describes you?", time.Time{}},
		{"stop", active, command(CmdStop), StatusStopped, "Your answers so far are kept", testNow()},
		{"text while stopped", stopped, text("2"), StatusStopped, "You stopped this consultation", later},
		{"resume after stop", stopped, command(CmdResume), StatusActive, "Which best describes you?", time.Time{}},
		{"start while active", active, command(CmdStart), StatusActive, "Which best describes you?", time.Time{}},
		{"start when completed", completed, command(CmdStart), StatusCompleted, "You've finished this consultation — thank you. Send /mydata", testNow()},
		{"text when completed", completed, text("hello"), StatusCompleted, "You've finished", testNow()},
		{"back when completed", completed, command(CmdBack), StatusCompleted, "You've finished", testNow()},
		{"start when declined", declined, command(CmdStart), StatusConsent, msgConsentQuestion, time.Time{}},
		{"text when declined", declined, text("hi"), StatusConsent, msgConsentQuestion, time.Time{}},
		{"stop when declined", declined, command(CmdStop), StatusDeclined, "You said no", time.Time{}},
		{"start when withdrawn", withdrawn, command(CmdStart), StatusWithdrawn, msgWithdrawnAlready, time.Time{}},
		{"skip a required question", active, command(CmdSkip), StatusActive, "This question needs an answer", time.Time{}},
		{"withdraw", active, command(CmdWithdraw), StatusActive, msgConfirmWithdraw, time.Time{}},
		{"a command typed as text", active, text("/pause"), StatusPaused, "Paused.", time.Time{}},
		{"a command typed as text in a group", paused, text("/Resume@consultbot"), StatusActive, "Which best describes you?", time.Time{}},
		{"an unknown command", active, command("frobnicate"), StatusActive, "Sorry, I don't know that command.", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, replies := advance(t, c, tt.s, tt.in)
			if got.Status != tt.wantStatus {
				t.Errorf("got status %q, want %q", got.Status, tt.wantStatus)
			}
			if !got.Finished.Equal(tt.wantFin) {
				t.Errorf("got finished %v, want %v", got.Finished, tt.wantFin)
			}
			if all := joinReplies(replies); !strings.Contains(all, tt.wantText) {
				t.Errorf("got replies %q, want them to hold %q", all, tt.wantText)
			}
			if got.Status == tt.s.Status && tt.s.Status != StatusConsent && !reflect.DeepEqual(got.Answers, tt.s.Answers) {
				t.Errorf("got answers %v, want %v kept", got.Answers, tt.s.Answers)
			}
		})
	}
}

func joinReplies(rs []Reply) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Text + "\n")
	}
	return b.String()
}

func TestAdvanceHelp(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	s, _ := started(t, c)
	for _, ch := range []string{channelTelegram, channelSlack, channelConsole} {
		_, replies := advance(t, c, s, Input{Channel: ch, Command: CmdHelp})
		if len(replies) != 2 || replies[1].Question != "q1_clarity" {
			t.Fatalf("%s: got %+v, want the help and the question again", ch, replies)
		}
		v := voiceOf(ch)
		for _, cmd := range Commands {
			if !strings.Contains(replies[0].Text, "\n"+v.cmd(cmd)+" — ") {
				t.Errorf("%s: help %q does not list %q", ch, replies[0].Text, v.cmd(cmd))
			}
		}
	}
}

func TestAdvanceWithdraw(t *testing.T) {
	tests := []struct {
		name      string
		anonymous bool
		complete  bool
		confirm   Input
		wantStat  Status
		wantText  string
	}{
		{"yes by button", false, false, button("y4"), StatusWithdrawn, msgWithdrawn},
		{"yes typed", false, false, text("Yes"), StatusWithdrawn, msgWithdrawn},
		{"no typed", false, false, text("no"), StatusActive, msgKept},
		{"no by button", false, false, button("n4"), StatusActive, msgKept},
		{"something else", false, false, text("hmm"), StatusActive, "Please answer yes or no"},
		{"another command", false, false, command(CmdPause), StatusPaused, "Paused."},
		{"completed", false, true, text("yes"), StatusWithdrawn, msgWithdrawn},
		{"anonymous in progress", true, false, text("yes"), StatusWithdrawn, msgWithdrawn},
		{"anonymous completed", true, true, text("yes"), StatusWithdrawn, msgWithdrawnAnonymous},
		{"anonymous completed, kept", true, true, text("no"), StatusCompleted, msgKept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadTestConsultation(t, "draft-questions.yaml")
			c.Anonymous = tt.anonymous
			s, _ := started(t, c)
			s, _ = advance(t, c, s, text("4")) // at role, turn 3
			if tt.complete {
				s, _ = advance(t, c, s, text("1"))
			}
			s, replies := advance(t, c, s, command(CmdWithdraw))
			wantAsk := msgConfirmWithdraw
			if tt.anonymous && tt.complete {
				wantAsk = msgConfirmAnonymous
			}
			if s.Confirm != confirmWithdraw || len(replies) != 1 || replies[0].Text != wantAsk {
				t.Fatalf("got confirm %q and %+v, want %q asked", s.Confirm, replies, wantAsk)
			}
			got, replies := advance(t, c, s, tt.confirm)
			if got.Status != tt.wantStat {
				t.Errorf("got status %q, want %q", got.Status, tt.wantStat)
			}
			if !strings.Contains(joinReplies(replies), tt.wantText) {
				t.Errorf("got %q, want it to hold %q", joinReplies(replies), tt.wantText)
			}
			switch {
			case got.Status == StatusWithdrawn:
				if got.Answers != nil || got.Asked != nil || got.Question != "" || got.Confirm != "" || !got.Finished.Equal(testNow()) {
					t.Errorf("withdrawn: got %+v, want no answers, no trail, finished now", got)
				}
			case strings.Contains(tt.wantText, "Please answer"):
				if got.Confirm != confirmWithdraw {
					t.Errorf("got confirm %q, want the question still pending", got.Confirm)
				}
			default:
				if got.Confirm != "" || !reflect.DeepEqual(got.Answers, s.Answers) {
					t.Errorf("got confirm %q answers %v, want no confirm and answers kept", got.Confirm, got.Answers)
				}
			}
		})
	}
}

func TestAdvanceMyData(t *testing.T) {
	c := loadTestConsultation(t, "all-types.yaml")
	s, _ := started(t, c)
	for _, in := range []string{"5", "peer", "1, 3", "yes", "2", "2026-12-03"} {
		s, _ = advance(t, c, s, text(in))
	}
	_, replies := advance(t, c, s, command(CmdMyData))
	want := "Your answers so far:\n\n" +
		"How clear was the invitation to the last meeting?\n→ 5 (Very clear)\n\n" +
		"Which best describes you?\n→ Peer mentor\n\n" +
		"Which topics should the next meeting cover?\n→ Housing, Seeing a GP\n\n" +
		"Will you come to the next meeting?\n→ Yes\n\n" +
		"How many people will come with you?\n→ 2\n\n" +
		"Which date suits you best?\n→ Thursday 3 December 2026"
	if len(replies) != 2 || replies[0].Text != want || replies[1].Question != "anything" {
		t.Errorf("got %+v, want\n%s\nand the current question", replies, want)
	}

	c.Anonymous = true
	done, _ := advance(t, c, s, command(CmdSkip))
	if done.Status != StatusCompleted {
		t.Fatalf("got status %q, want completed", done.Status)
	}
	_, replies = advance(t, c, done, command(CmdMyData))
	if len(replies) != 1 || replies[0].Text != msgAnonymousData {
		t.Errorf("anonymous and completed: got %+v, want %q", replies, msgAnonymousData)
	}
	_, replies = advance(t, c, s, command(CmdMyData))
	if !strings.HasPrefix(replies[0].Text, "Your answers so far:") {
		t.Errorf("anonymous in progress: got %q, want the answers in the session", replies[0].Text)
	}
}

func TestAdvanceClosed(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	s, _ := started(t, c)
	s, _ = advance(t, c, s, text("4"))
	closing := c.ClosesAt
	tests := []struct {
		name       string
		s          Session
		in         Input
		now        time.Time
		wantStatus Status
		wantText   string
		unchanged  bool
	}{
		{"before closing", s, text("1"), closing.Add(-time.Second), StatusCompleted, "Thank you", false},
		{"an answer at closing", s, text("1"), closing, StatusClosed, "This consultation closed on Sunday 20 December 2026, 17:00 UTC; thank you.", false},
		{"a new session", Session{}, command(CmdStart), closing, StatusNew, "closed on", true},
		{"mydata after closing", s, command(CmdMyData), closing, StatusClosed, "Your answers so far:", false},
		{"withdraw after closing", s, command(CmdWithdraw), closing, StatusClosed, msgConfirmWithdraw, false},
		{"help after closing", s, command(CmdHelp), closing, StatusClosed, "Here is what you can send", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, replies, err := c.Advance(tt.s, tt.in, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("got status %q, want %q", got.Status, tt.wantStatus)
			}
			if !strings.Contains(joinReplies(replies), tt.wantText) {
				t.Errorf("got %q, want it to hold %q", joinReplies(replies), tt.wantText)
			}
			if tt.unchanged && !reflect.DeepEqual(got, tt.s) {
				t.Errorf("got %+v, want the session unchanged", got)
			}
			if got.Status == StatusClosed && !got.Finished.Equal(tt.now) {
				t.Errorf("got finished %v, want %v", got.Finished, tt.now)
			}
		})
	}

	c.OpensAt = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	got, replies, err := c.Advance(Session{}, command(CmdStart), testNow())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Session{}) || len(replies) != 1 || replies[0].Text != "This consultation opens on Tuesday 3 November 2026, 09:00 UTC. Please come back then." {
		t.Errorf("before opening: got %+v and %+v, want nothing recorded and when it opens", got, replies)
	}
}

func TestAdvanceOtherConsultation(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	s := Session{Consultation: "another", Status: StatusActive}
	got, replies, err := c.Advance(s, text("4"), testNow())
	if !errors.Is(err, ErrOtherConsultation) {
		t.Errorf("got error %v, want ErrOtherConsultation", err)
	}
	if !reflect.DeepEqual(got, s) || replies != nil {
		t.Errorf("got %+v and %+v, want the session back and no replies", got, replies)
	}
	var nilC *Consultation
	if _, _, err := nilC.Advance(Session{}, text("hi"), testNow()); err == nil {
		t.Error("Advance on a nil consultation: got no error, want one")
	}
}

func TestAdvanceChangedFile(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	s := Session{Consultation: c.ID, Hash: "older", Status: StatusActive, Question: "gone", Asked: []string{"q1_clarity", "gone"},
		Answers: map[string]Answer{"q1_clarity": {Type: TypeScale, Number: 5}}, Turn: 4}
	got, replies := advance(t, c, s, text("an answer to a question that is gone"))
	if got.Question != "role" || got.Turn != 5 || len(replies) != 1 || replies[0].Question != "role" {
		t.Errorf("got at %q turn %d replies %+v, want role asked on a new turn", got.Question, got.Turn, replies)
	}
}

func TestAsk(t *testing.T) {
	c := loadTestConsultation(t, "draft-questions.yaml")
	consent, _ := advance(t, c, Session{}, command(CmdStart))
	active, _ := started(t, c)
	confirming, _ := advance(t, c, active, command(CmdWithdraw))
	paused, _ := advance(t, c, active, command(CmdPause))
	completed := active
	for _, in := range []string{"5", "1"} {
		completed, _ = advance(t, c, completed, text(in))
	}
	tests := []struct {
		name     string
		s        Session
		now      time.Time
		wantText string
		wantQ    string
	}{
		{"new", Session{}, testNow(), "", ""},
		{"consent", consent, testNow(), Hint(channelTelegram), ""},
		{"active", active, testNow(), "How clear is it?", "q1_clarity"},
		{"confirming", confirming, testNow(), msgConfirmWithdraw, ""},
		{"paused", paused, testNow(), "You've paused", ""},
		{"completed", completed, testNow(), "You've finished", ""},
		{"closed", active, c.ClosesAt, "closed on", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneSession(tt.s)
			replies := c.Ask(tt.s, tt.now)
			if !reflect.DeepEqual(tt.s, before) {
				t.Fatal("Ask changed the session")
			}
			if tt.wantText == "" {
				if replies != nil {
					t.Errorf("got %+v, want no replies", replies)
				}
				return
			}
			if len(replies) != 1 || !strings.Contains(replies[0].Text, tt.wantText) || replies[0].Question != tt.wantQ {
				t.Errorf("got %+v, want one reply holding %q for question %q", replies, tt.wantText, tt.wantQ)
			}
		})
	}
	// Asking again offers the same buttons, so that either message works.
	_, first := started(t, c)
	if again := c.Ask(active, testNow()); !reflect.DeepEqual(again[0].Choices, first[0].Choices) {
		t.Errorf("got choices %+v, want %+v", again[0].Choices, first[0].Choices)
	}
}

func TestHint(t *testing.T) {
	tests := []struct{ channel, want string }{
		{"telegram", "You can pause, stop or withdraw at any time: send /pause, /stop or /withdraw."},
		{"slack", "You can pause, stop or withdraw at any time: send /consult pause, /consult stop or /consult withdraw."},
		{"console", "You can pause, stop or withdraw at any time: type pause, stop or withdraw."},
		{"", "You can pause, stop or withdraw at any time: send /pause, /stop or /withdraw."},
	}
	for _, tt := range tests {
		if got := Hint(tt.channel); got != tt.want {
			t.Errorf("Hint(%q): got %q, want %q", tt.channel, got, tt.want)
		}
	}
}

func TestFormatAnswer(t *testing.T) {
	c := loadTestConsultation(t, "all-types.yaml")
	q := func(id string) *Question { return &c.Questions[c.QuestionIndex(id)] }
	tests := []struct {
		q    *Question
		a    Answer
		want string
	}{
		{q("clarity"), Answer{Type: TypeScale, Number: 5}, "5 (Very clear)"},
		{q("clarity"), Answer{Type: TypeScale, Number: 4}, "4"},
		{q("role"), Answer{Type: TypeChoice, Text: "peer"}, "Peer mentor"},
		{q("topics"), Answer{Type: TypeMulti, Values: []string{"Housing", "gp"}}, "Housing, Seeing a GP"},
		{q("attend"), Answer{Type: TypeYesNo, Text: "yes"}, "Yes"},
		{q("attend"), Answer{Type: TypeYesNo, Text: "no"}, "No"},
		{q("guests"), Answer{Type: TypeNumber, Number: 2.5}, "2.5"},
		{q("date"), Answer{Type: TypeDate, Text: "2026-12-01"}, "Tuesday 1 December 2026"},
		{q("anything"), Answer{Type: TypeText, Text: "Fine"}, "Fine"},
		{nil, Answer{Type: TypeChoice, Text: "peer"}, "peer"},
	}
	for _, tt := range tests {
		if got := c.FormatAnswer(tt.q, tt.a, ""); got != tt.want {
			t.Errorf("FormatAnswer(%+v): got %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestParsePress(t *testing.T) {
	tests := []struct {
		data string
		want press
		ok   bool
	}{
		{"a7.2", press{pressAnswer, 7, 2}, true},
		{"t12.0", press{pressToggle, 12, 0}, true},
		{"d7", press{pressDone, 7, -1}, true},
		{"s0", press{pressSkip, 0, -1}, true},
		{"b7", press{pressBack, 7, -1}, true},
		{"k7", press{pressKeep, 7, -1}, true},
		{"y1", press{pressYes, 1, -1}, true},
		{"n1", press{pressNo, 1, -1}, true},
		{"d7.1", press{}, false},
		{"a7", press{}, false},
		{"a07.1", press{}, false},
		{"a7.01", press{}, false},
		{"x7", press{}, false},
		{"", press{}, false},
		{"y", press{}, false},
		{"y+1", press{}, false},
		{"y12345678901234567890", press{}, false},
	}
	for _, tt := range tests {
		got, ok := parsePress(tt.data)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parsePress(%q): got %+v, %v; want %+v, %v", tt.data, got, ok, tt.want, tt.ok)
		}
	}
}

func TestChoiceDataFitsAtAnyTurn(t *testing.T) {
	c := loadTestConsultation(t, "all-types.yaml")
	s, _ := started(t, c)
	s.Turn = 1<<62 - 1
	replies := c.Ask(s, testNow())
	for _, ch := range replies[0].Choices {
		if len(ch.Data) > maxChoiceData {
			t.Errorf("button %q: got %d bytes of data, want at most %d", ch.Label, len(ch.Data), maxChoiceData)
		}
		if p, ok := parsePress(ch.Data); !ok || p.turn != s.Turn {
			t.Errorf("button %q: data %q does not parse back to turn %d", ch.Label, ch.Data, s.Turn)
		}
	}
}

func TestConsoleHowTo(t *testing.T) {
	tests := []struct {
		question, channel, want string
	}{
		{scaleQ, channelConsole, "The question?\nType a number from 1 to 5."},
		{scaleQ, channelTelegram, "The question?"},
		{choiceQ, channelConsole, "The question?\nType the number or the name of your answer."},
		{yesnoQ, channelConsole, "The question?\nType yes or no."},
		{numberQ, channelTelegram, "The question?\nSend a number from 0 to 10."},
		{dateQ, channelSlack, "The question?\nSend a date like 2026-12-01."},
		{multiQ, channelTelegram, "The question?\nTick all that apply, then tap Done. Pick up to 3."},
		{"  - {id: q, type: text, text: 'The question?', optional: true}\n", channelConsole, "The question?\nThis one is optional: type skip to leave it out."},
	}
	for _, tt := range tests {
		c := oneQuestion(t, tt.question)
		s, _ := advance(t, c, Session{}, Input{Channel: tt.channel, Command: CmdStart})
		_, replies := advance(t, c, s, Input{Channel: tt.channel, Text: "yes"})
		if got := replies[0].Text; got != tt.want {
			t.Errorf("%s on %s: got %q, want %q", strings.TrimSpace(tt.question), tt.channel, got, tt.want)
		}
	}
}
