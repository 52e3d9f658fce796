package tgbot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/consultbot/consultbot/flows"
)

func TestSignOpen(t *testing.T) {
	s := newSigner("1:secret")
	other := newSigner("2:secret")
	good, err := s.sign(42, "t3:q1|5")
	if err != nil {
		t.Fatal(err)
	}
	forOther, _ := other.sign(42, "t3:q1|5")
	otherChat, _ := s.sign(43, "t3:q1|5")
	tests := []struct {
		name   string
		chat   int64
		cb     string
		want   string
		wantOK bool
	}{
		{"signed here", 42, good, "t3:q1|5", true},
		{"other chat", 42, otherChat, "", false},
		{"other bot", 42, forOther, "", false},
		{"data changed", 42, strings.Replace(good, "q1", "q2", 1), "", false},
		{"mac changed", 42, good[:len(good)-1] + "A", "", false},
		{"no prefix", 42, strings.TrimPrefix(good, dataPrefix), "", false},
		{"bare data", 42, "t3:q1|5", "", false},
		{"empty", 42, "", "", false},
		{"prefix only", 42, dataPrefix, "", false},
		{"no data", 42, dataPrefix + "|" + s.mac(42, ""), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.open(tt.chat, tt.cb)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("open(%d, %q) = %q, %v; want %q, %v", tt.chat, tt.cb, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSignLimits(t *testing.T) {
	s := newSigner("1:secret")
	tests := []struct {
		data    string
		wantErr bool
	}{
		{"a", false},
		{strings.Repeat("x", 32), false},
		{strings.Repeat("x", maxData), false},
		{strings.Repeat("x", maxData+1), true},
		{"", true},
		{"\xff\xfe", true},
	}
	for _, tt := range tests {
		cb, err := s.sign(-1001234567890, tt.data)
		if (err != nil) != tt.wantErr {
			t.Errorf("sign(%q): got error %v, want error %v", tt.data, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, errRender) {
				t.Errorf("sign(%q): got %v, want an errRender", tt.data, err)
			}
			continue
		}
		if len(cb) < 1 || len(cb) > maxCallback {
			t.Errorf("sign(%q): got %d bytes, want 1-%d", tt.data, len(cb), maxCallback)
		}
	}
}

func choices(labels ...string) []flows.Choice {
	out := make([]flows.Choice, len(labels))
	for i, l := range labels {
		out[i] = flows.Choice{Label: l, Data: fmt.Sprintf("t1:%d", i)}
	}
	return out
}

// shape gives a keyboard's row lengths and labels: "1 2 3 | Skip Back".
func shape(kb *inlineKeyboard) string {
	var rows []string
	for _, r := range kb.InlineKeyboard {
		var ls []string
		for _, b := range r {
			ls = append(ls, b.Text)
		}
		rows = append(rows, strings.Join(ls, " "))
	}
	return strings.Join(rows, " | ")
}

func TestKeyboardLayout(t *testing.T) {
	nav := func(cs []flows.Choice, labels ...string) []flows.Choice {
		for i, l := range labels {
			cs = append(cs, flows.Choice{Label: l, Data: fmt.Sprintf("n:%d", i), Nav: true})
		}
		return cs
	}
	ticked := choices("Housing", "Benefits", "Seeing a GP")
	ticked[1].Selected = true
	ticked = nav(ticked, "Done")
	tests := []struct {
		name    string
		choices []flows.Choice
		want    string
	}{
		{"scale", nav(choices("1", "2", "3", "4", "5"), "Skip", "Back"), "1 2 3 4 5 | Skip Back"},
		{"eleven point scale", choices("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"), "0 1 2 3 4 5 6 7 8 9 10"},
		{"twelve short ones", choices("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"), "1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12"},
		{"yes no", choices("Yes", "No"), "Yes No"},
		{"options", choices("Person with lived experience", "Peer mentor", "Professional"), "Person with lived experience | Peer mentor | Professional"},
		{"multi ticks", ticked, "Housing | ✓ Benefits | Seeing a GP | Done"},
		{"many nav", nav(nil, "A", "B", "C", "D"), "A B C | D"},
	}
	s := newSigner("1:x")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kb, err := keyboard(s, 7, tt.choices)
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(kb); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderWithinLimits(t *testing.T) {
	long := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 40) // ~2300 chars
	huge := strings.Repeat("🙂", 5000)                                                       // 10000 UTF-16 units, no spaces
	longLabel := strings.Repeat("a very long option label ", 20)
	tests := []struct {
		name      string
		reply     flows.Reply
		edit      bool
		wantParts int
	}{
		{"short", flows.Reply{Text: "Hello"}, false, 1},
		{"three paragraphs", flows.Reply{Text: long + "\n\n" + long + "\n\n" + long, Choices: choices("a", "b")}, false, 3},
		{"no spaces at all", flows.Reply{Text: huge, Choices: choices("a")}, false, 3},
		{"edit of a long text", flows.Reply{Text: long + long + long + long, Edit: true}, true, 1},
		{"buttons only", flows.Reply{Choices: choices("a")}, false, 1},
		{"edit of the keyboard only", flows.Reply{Choices: choices("a"), Edit: true}, true, 0},
		{"long labels, long data", flows.Reply{Text: "Pick", Choices: []flows.Choice{{Label: longLabel, Data: strings.Repeat("d", 32)}}}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := render(newSigner("1:x"), 99, tt.reply, tt.edit)
			if err != nil {
				t.Fatal(err)
			}
			if len(rd.parts) != tt.wantParts {
				t.Fatalf("got %d parts, want %d", len(rd.parts), tt.wantParts)
			}
			for i, p := range rd.parts {
				if n := textLen(p); n < 1 || n > maxText || strings.TrimSpace(p) == "" {
					t.Errorf("part %d: got %d characters, want 1-%d and not blank", i, n, maxText)
				}
			}
			if len(tt.reply.Choices) > 0 && rd.markup == nil {
				t.Fatal("got no keyboard, want one")
			}
			if rd.markup != nil {
				raw, _ := json.Marshal(rd.markup)
				if strings.Contains(string(raw), "copy_text") {
					t.Errorf("keyboard %s: got a copy_text field, want callback buttons only", raw)
				}
				for _, row := range rd.markup.InlineKeyboard {
					for _, b := range row {
						if n := len(b.CallbackData); n < 1 || n > maxCallback {
							t.Errorf("callback_data %q: got %d bytes, want 1-%d", b.CallbackData, n, maxCallback)
						}
					}
				}
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name  string
		reply flows.Reply
	}{
		{"nothing", flows.Reply{Text: "  "}},
		{"data too long", flows.Reply{Text: "x", Choices: []flows.Choice{{Label: "a", Data: strings.Repeat("d", maxData+1)}}}},
		{"no data", flows.Reply{Text: "x", Choices: []flows.Choice{{Label: "a"}}}},
		{"too many buttons", flows.Reply{Text: "x", Choices: choices(strings.Split(strings.Repeat("a,", 101), ",")...)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := render(newSigner("1:x"), 1, tt.reply, false); !errors.Is(err, errRender) {
				t.Errorf("got %v, want errRender", err)
			}
		})
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "one two", 10, []string{"one two"}},
		{"paragraphs first", "aaa bbb\n\nccc ddd", 10, []string{"aaa bbb", "ccc ddd"}},
		{"then lines", "aaa bbb\nccc ddd", 10, []string{"aaa bbb", "ccc ddd"}},
		{"then spaces", "aaa bbb ccc ddd", 10, []string{"aaa bbb", "ccc ddd"}},
		{"then anywhere", "abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"surrogate pairs kept whole", "🙂🙂🙂", 3, []string{"🙂", "🙂", "🙂"}},
		{"blank parts dropped", "aaaa\n\n\n\n\n\n\n\n\n\nbbbb", 5, []string{"aaaa", "bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitText(tt.text, tt.limit)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		text  string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"a little longer", 10, "a little…"},
		{"🙂🙂🙂🙂", 5, "🙂🙂…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.text, tt.limit); got != tt.want || textLen(got) > tt.limit {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
		}
	}
}
