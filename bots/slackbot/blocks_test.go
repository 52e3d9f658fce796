package slackbot

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/consultbot/consultbot/flows"
)

// rendered renders a reply and reads its blocks back as Slack would.
func rendered(t *testing.T, r flows.Reply) (string, []fakeBlock) {
	t.Helper()
	text, blocks := render(r)
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var fb []fakeBlock
	if err := json.Unmarshal(raw, &fb); err != nil {
		t.Fatal(err)
	}
	return text, fb
}

func options(n int, label func(i int) string) []flows.Choice {
	out := make([]flows.Choice, n)
	for i := range out {
		out[i] = flows.Choice{Label: label(i), Data: fmt.Sprintf("q.%d.%d", i, i)}
	}
	return out
}

func TestRenderWithinLimits(t *testing.T) {
	long := strings.Repeat("word ", 2000) // 10,000 characters
	tests := []struct {
		name        string
		reply       flows.Reply
		wantButtons int // answer and nav buttons shown
		wantChecks  int // checkbox options shown
		wantNote    bool
	}{
		{"scale", flows.Reply{Text: "How clear is it?", Question: "q1", Choices: append(options(5, func(i int) string { return fmt.Sprint(i + 1) }),
			flows.Choice{Label: "Skip", Data: "skip", Nav: true})}, 6, 0, false},
		{"long labels", flows.Reply{Text: "Pick", Question: "q", Choices: options(3, func(int) string { return strings.Repeat("é", 200) })}, 3, 0, false},
		{"sixty options", flows.Reply{Text: "Pick", Question: "q", Choices: options(60, func(i int) string { return fmt.Sprint("option ", i) })}, 60, 0, false},
		{"more options than fit", flows.Reply{Text: "Pick", Question: "q", Choices: append(options(2000, func(i int) string { return fmt.Sprint("option ", i) }),
			flows.Choice{Label: "Back", Data: "back", Nav: true})}, 47*25 + 1, 0, true},
		{"long text", flows.Reply{Text: long}, 0, 0, false},
		{"huge text", flows.Reply{Text: strings.Repeat("x", 500000), Choices: options(2, func(i int) string { return "yes" })}, 2, 0, false},
		{"multi", flows.Reply{Text: "Tick all that apply", Question: "m", Multi: true, Choices: append(options(23, func(i int) string { return fmt.Sprint("thing ", i) }),
			flows.Choice{Label: "Done", Data: "done", Nav: true})}, 1, 23, false},
		{"multi beyond the block budget", flows.Reply{Text: "Tick", Question: "m", Multi: true, Choices: append(options(600, func(i int) string { return fmt.Sprint("thing ", i) }),
			flows.Choice{Label: "Done", Data: "done", Nav: true})}, 1, 470, true},
		{"no text", flows.Reply{Choices: options(2, func(i int) string { return "" })}, 2, 0, false},
		{"long question id", flows.Reply{Text: "Hi", Question: strings.Repeat("q", 300), Choices: options(30, func(i int) string { return "o" })}, 30, 0, false},
		{"edit without buttons", flows.Reply{Text: "How clear is it?\n✓ 4", Edit: true}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, blocks := rendered(t, tt.reply)
			if err := checkBlocks(blocks); err != nil {
				t.Fatalf("blocks out of limits: %v", err)
			}
			if n := utf8.RuneCountInString(text); n == 0 || n > maxFallbackText {
				t.Errorf("got notification text of %d characters, want 1 to %d", n, maxFallbackText)
			}
			msg := &fakeMessage{Blocks: blocks}
			if got := len(msg.buttons()); got != tt.wantButtons {
				t.Errorf("got %d buttons, want %d", got, tt.wantButtons)
			}
			if got := len(msg.checkboxes()); got != tt.wantChecks {
				t.Errorf("got %d checkbox options, want %d", got, tt.wantChecks)
			}
			note := false
			for _, b := range blocks {
				note = note || b.Type == "context"
			}
			if note != tt.wantNote {
				t.Errorf("got note %v, want %v", note, tt.wantNote)
			}
			for _, b := range msg.buttons() {
				if _, _, ok := choiceData(b.Value); !ok {
					t.Errorf("button %q has value %q, which the bot would refuse", b.Text.Text, b.Value)
				}
			}
			if tt.reply.Text != "" && !strings.Contains(tt.reply.Text, msg.text()[:min(20, len(msg.text()))]) {
				t.Errorf("got text %.40q, want the start of %.40q", msg.text(), tt.reply.Text)
			}
		})
	}
}

func TestRenderDetails(t *testing.T) {
	_, blocks := rendered(t, flows.Reply{
		Text: "Pick <one> & go", Question: "role", Multi: true,
		Choices: []flows.Choice{
			{Label: "A", Data: "d.a"}, {Label: "B", Data: "d.b", Selected: true}, {Label: "Done", Data: "d.done", Nav: true},
		},
	})
	msg := &fakeMessage{Blocks: blocks}
	if got, want := msg.text(), "Pick &lt;one&gt; &amp; go"; got != want {
		t.Errorf("got text %q, want %q", got, want)
	}
	var initial []string
	for _, b := range blocks {
		for _, e := range b.Elements {
			for _, o := range e.InitialOptions {
				initial = append(initial, o.Value)
			}
		}
	}
	if got, want := strings.Join(initial, ","), valuePrefix+"d.b"; got != want {
		t.Errorf("got initial options %q, want %q", got, want)
	}
	btns := msg.buttons()
	if len(btns) != 1 || btns[0].Value != multiNavPrefix+"d.done" || btns[0].Style != "primary" {
		t.Errorf("got buttons %+v, want one primary Done button with value %q", btns, multiNavPrefix+"d.done")
	}

	// A chosen option is shown ticked.
	_, blocks = rendered(t, flows.Reply{Text: "Q", Edit: true, Choices: []flows.Choice{{Label: "Yes", Data: "y", Selected: true}, {Label: "No", Data: "n"}}})
	btns = (&fakeMessage{Blocks: blocks}).buttons()
	if got := btns[0].Text.Text; got != "✓ Yes" || btns[0].Style != "primary" {
		t.Errorf("got first button %q style %q, want %q primary", got, btns[0].Style, "✓ Yes")
	}
}

func TestChoiceData(t *testing.T) {
	tests := []struct {
		value    string
		data     string
		multiNav bool
		ok       bool
	}{
		{valuePrefix + "a.1.2", "a.1.2", false, true},
		{multiNavPrefix + "done.3", "done.3", true, true},
		{"a.1.2", "", false, false},
		{valuePrefix, "", false, false},
		{valuePrefix + strings.Repeat("x", 33), "", false, false},
		{valuePrefix + "bad\nline", "", false, false},
		{"other-app|x", "", false, false},
	}
	for _, tt := range tests {
		data, multiNav, ok := choiceData(tt.value)
		if ok != tt.ok || ok && (data != tt.data || multiNav != tt.multiNav) {
			t.Errorf("choiceData(%q) = %q, %v, %v; want %q, %v, %v", tt.value, data, multiNav, ok, tt.data, tt.multiNav, tt.ok)
		}
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want []string
	}{
		{"", 10, nil},
		{"short", 10, []string{"short"}},
		{"aaaa bbbb cccc", 10, []string{"aaaa bbbb", "cccc"}},
		{"aaaaaaaaaaaaaaa", 10, []string{"aaaaaaaaaa", "aaaaa"}},
		{"line one\nline two", 10, []string{"line one", "line two"}},
		{"éééééééééééé", 5, []string{"ééééé", "ééééé", "éé"}},
	}
	for _, tt := range tests {
		got := splitText(tt.in, tt.n)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
