package console

import (
	"testing"

	"github.com/consultbot/consultbot/flows"
)

func TestParse(t *testing.T) {
	c := New(Config{}, nil, nil)
	c.picks = []flows.Choice{{Label: "Draft questions", Data: "j:draft-questions"}, {Label: "Draft findings", Data: "j:draft-findings"}}
	tests := []struct {
		line string
		want flows.Input
		ok   bool
	}{
		{"", flows.Input{}, false},
		{"   ", flows.Input{}, false},
		{"pause", flows.Input{Command: flows.CmdPause}, true},
		{"/Pause", flows.Input{Command: flows.CmdPause}, true},
		{"start abc123", flows.Input{Command: flows.CmdStart, Arg: "abc123"}, true},
		{"stop now please", flows.Input{Text: "stop now please"}, true},
		{"2", flows.Input{Choice: "j:draft-findings"}, true},
		{"3", flows.Input{Text: "3"}, true},
		{"  It is vague  ", flows.Input{Text: "It is vague"}, true},
	}
	for _, tt := range tests {
		got, ok := c.parse(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		reply flows.Reply
		want  string
	}{
		{"text", flows.Reply{Text: "Hello\n"}, "Hello\n\n"},
		{"choice", flows.Reply{Text: "Which?", Question: "role", Choices: []flows.Choice{{Label: "Peer mentor"}, {Label: "Professional"}, {Label: "Skip", Nav: true}}},
			"Which?\n  1) Peer mentor\n  2) Professional\n\n"},
		{"scale", flows.Reply{Text: "How clear?", Question: "q1", Choices: []flows.Choice{{Label: "1 — Very unclear"}, {Label: "2"}, {Label: "3 — Very clear"}}},
			"How clear?\n  1 — Very unclear · 2 · 3 — Very clear\n\n"},
		{"multi", flows.Reply{Text: "Topics?", Question: "topics", Multi: true, Choices: []flows.Choice{{Label: "Housing", Selected: true}, {Label: "Work"}, {Label: "Done", Nav: true}}},
			"Topics?\n  [x] 1) Housing\n  [ ] 2) Work\n  (type the numbers of all that apply, e.g. 1, 3)\n\n"},
		{"edit", flows.Reply{Text: "Which?\n✓ Peer mentor", Edit: true}, "Which?\n✓ Peer mentor\n\n"},
	}
	for _, tt := range tests {
		c := New(Config{}, nil, nil)
		if got := c.render(tt.reply); got != tt.want {
			t.Errorf("%s: render = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRenderRemembersPicksOutsideQuestions(t *testing.T) {
	c := New(Config{}, nil, nil)
	c.render(flows.Reply{Text: "Do you agree?", Choices: []flows.Choice{{Label: "Yes", Data: "y1"}, {Label: "No", Data: "n1"}}})
	if in, _ := c.parse("1"); in.Choice != "y1" {
		t.Errorf("after consent, \"1\" gave %+v, want the Yes button", in)
	}
	c.render(flows.Reply{Text: "Which?", Question: "role", Choices: []flows.Choice{{Label: "A", Data: "a2.0"}}})
	if in, _ := c.parse("1"); in.Text != "1" {
		t.Errorf("on a question, \"1\" gave %+v, want it typed for the engine", in)
	}
}
