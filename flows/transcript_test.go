package flows

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the transcript goldens under testdata/transcripts")

// A transcript golden is one scenario: a header naming the consultation
// file (in testdata), the channel and the time, then the participant's
// inputs, each followed by the engine's replies and where the session
// stands. The test replays the inputs and compares; -update rewrites the
// replies.
//
//	# What the scenario shows.
//	consultation: draft-questions.yaml
//	channel: telegram
//	now: 2026-11-02T10:00:00Z
//
//	> /start              a command
//	> [Yes, I agree]      a button of the latest message offering it
//	> [Yes] (earlier)     the same label on the message before that
//	> [data:a1.0]         raw button data, as a forged button would send
//	> 4                   typed text
//	@ 2026-12-21T09:00:00Z  the time from here on
//
// The clock moves on a minute after each input, so that "= unchanged"
// means the session was returned exactly as it was given.
// A reply's first line starts with "<" for a new message or "~" for an
// edit of the pressed message, and its further lines with "|"; its buttons
// go on a line of their own, navigation after a "|", ticked ones with ✓.
// "=" says where the session stands afterwards.

// transcript is a parsed golden file.
type transcript struct {
	header []string // lines before the first blank line
	file   string
	chann  string
	lang   string
	now    time.Time
	steps  []string // "> input" and "@ time" lines, in order
}

func readTranscript(t *testing.T, path string) transcript {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tr transcript
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	inHeader := true
	for sc.Scan() {
		line := sc.Text()
		if inHeader {
			if strings.TrimSpace(line) == "" {
				inHeader = false
				continue
			}
			tr.header = append(tr.header, line)
			key, val, _ := strings.Cut(line, ":")
			val = strings.TrimSpace(val)
			switch key {
			case "consultation":
				tr.file = val
			case "channel":
				tr.chann = val
			case "language":
				tr.lang = val
			case "now":
				if tr.now, err = time.Parse(time.RFC3339, val); err != nil {
					t.Fatalf("%s: now: %v", path, err)
				}
			}
			continue
		}
		if strings.HasPrefix(line, "> ") || line == ">" || strings.HasPrefix(line, "@ ") {
			tr.steps = append(tr.steps, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if tr.file == "" || tr.now.IsZero() {
		t.Fatalf("%s: the header needs consultation: and now:", path)
	}
	if tr.chann == "" {
		tr.chann = channelTelegram
	}
	return tr
}

// sentReply is a reply as the participant saw it, numbered for edits.
type sentReply struct {
	ref string
	r   Reply
}

// play replays a transcript and writes the golden text it should hold.
func (tr transcript) play(t *testing.T, c *Consultation) string {
	t.Helper()
	var b strings.Builder
	for _, h := range tr.header {
		b.WriteString(h + "\n")
	}
	now := tr.now
	var s Session
	var sent []sentReply
	for _, line := range tr.steps {
		b.WriteString("\n")
		if at, ok := strings.CutPrefix(line, "@ "); ok {
			var err error
			if now, err = time.Parse(time.RFC3339, strings.TrimSpace(at)); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			b.WriteString(line + "\n")
			continue
		}
		in := tr.input(t, strings.TrimPrefix(strings.TrimPrefix(line, ">"), " "), sent)
		before := cloneSession(s)
		next, replies, err := c.Advance(s, in, now)
		if err != nil {
			t.Fatalf("%s: Advance: %v", line, err)
		}
		if !reflect.DeepEqual(s, before) {
			t.Fatalf("%s: Advance changed the session it was given", line)
		}
		b.WriteString(line + "\n")
		for _, r := range replies {
			writeReply(&b, r)
			if !r.Edit {
				sent = append(sent, sentReply{ref: fmt.Sprintf("m%d", len(sent)+1), r: r})
				continue
			}
			// An edit replaces the pressed message, buttons and all.
			k := slices.IndexFunc(sent, func(m sentReply) bool { return m.ref == in.Ref })
			if k < 0 {
				t.Fatalf("%s: an edit, but no message %q was pressed", line, in.Ref)
			}
			sent[k].r = r
		}
		b.WriteString(describeSession(s, next))
		s = next
		now = now.Add(time.Minute)
	}
	return b.String()
}

// input turns a transcript line (without "> ") into an Input.
func (tr transcript) input(t *testing.T, text string, sent []sentReply) Input {
	t.Helper()
	in := Input{ID: "test", Participant: "test:1", Channel: tr.chann, Language: tr.lang}
	switch {
	case strings.HasPrefix(text, "[data:") && strings.HasSuffix(text, "]"):
		in.Choice = strings.TrimSuffix(strings.TrimPrefix(text, "[data:"), "]")
		in.Ref = "forged"
	case strings.HasPrefix(text, "["):
		label, rest, _ := strings.Cut(text[1:], "]")
		skip := 0
		if strings.TrimSpace(rest) == "(earlier)" {
			skip = 1
		}
		for i := len(sent) - 1; i >= 0; i-- {
			k := slices.IndexFunc(sent[i].r.Choices, func(ch Choice) bool { return ch.Label == label })
			if k < 0 {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			in.Choice, in.Ref = sent[i].r.Choices[k].Data, sent[i].ref
			return in
		}
		t.Errorf("no message offers a button %q", label)
	case strings.HasPrefix(text, "/"):
		word, arg, _ := strings.Cut(text[1:], " ")
		in.Command, in.Arg = Command(word), arg
	default:
		in.Text = text
	}
	return in
}

// writeReply writes a reply in the golden format.
func writeReply(b *strings.Builder, r Reply) {
	mark := "<"
	if r.Edit {
		mark = "~"
	}
	for i, l := range strings.Split(r.Text, "\n") {
		if i > 0 {
			mark = "|"
		}
		if l == "" {
			b.WriteString(mark + "\n")
			continue
		}
		b.WriteString(mark + " " + l + "\n")
	}
	if len(r.Choices) == 0 {
		return
	}
	var opts, nav []string
	for _, ch := range r.Choices {
		l := ch.Label
		if ch.Selected {
			l = "✓ " + l
		}
		if ch.Nav {
			nav = append(nav, "["+l+"]")
		} else {
			opts = append(opts, "["+l+"]")
		}
	}
	line := "  " + strings.Join(opts, " ")
	if len(nav) > 0 {
		if len(opts) > 0 {
			line += " | "
		}
		line += strings.Join(nav, " ")
	}
	b.WriteString(line + "\n")
}

// describeSession says where a session stands after a step.
func describeSession(before, after Session) string {
	if reflect.DeepEqual(before, after) {
		return "= unchanged\n"
	}
	var b strings.Builder
	b.WriteString("= " + string(after.Status))
	if after.Question != "" {
		b.WriteString(" at " + after.Question)
	}
	if after.Confirm != "" {
		b.WriteString(", confirming " + after.Confirm)
	}
	ids := make([]string, 0, len(after.Answers))
	for id := range after.Answers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		b.WriteString("; no answers")
	} else {
		b.WriteString("; answers:")
		for _, id := range ids {
			b.WriteString(" " + id + "=" + answerValue(after.Answers[id]))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// answerValue writes an answer's stored value compactly.
func answerValue(a Answer) string {
	switch v := a.Value().(type) {
	case float64:
		return fmt.Sprint(v)
	case []string:
		return "[" + strings.Join(v, ",") + "]"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(a.Value())
}

// cloneSession copies a session deeply, to check that Advance leaves it alone.
func cloneSession(s Session) Session {
	c := s
	if s.Answers != nil {
		c.Answers = make(map[string]Answer, len(s.Answers))
		for k, a := range s.Answers {
			a.Values = slices.Clone(a.Values)
			c.Answers[k] = a
		}
	}
	c.Asked = slices.Clone(s.Asked)
	c.Selected = slices.Clone(s.Selected)
	return c
}

// loadTestConsultation parses a consultation file of testdata.
func loadTestConsultation(t testing.TB, name string) *Consultation {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, data)
	if err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return c
}

func TestTranscript(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no transcripts in testdata/transcripts")
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			tr := readTranscript(t, path)
			c := loadTestConsultation(t, tr.file)
			got := tr.play(t, c)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the replay (run go test ./flows -run Transcript -update to rewrite it):\n%s", path, firstDiff(got, string(want)))
			}
		})
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\ngot  %q\nwant %q", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}
