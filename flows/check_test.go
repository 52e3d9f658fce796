package flows

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestErrorColumns checks that errors inside a text point at the exact
// line and column however the text is written.
func TestErrorColumns(t *testing.T) {
	head := "id: cols\ntitle: Columns\nconsent: {version: 1, text: Thanks.}\nquestions:\n  - {id: a, type: scale, text: A, min: 1, max: 5}\n"
	tests := []struct {
		name, question string
		want           string
	}{
		{"plain", "  - id: b\n    type: text\n    text: B\n    when: a <= 3 and zz == 1\n",
			`9:22 question "b": when: refers to unknown question "zz"`},
		{"double quoted", "  - id: b\n    type: text\n    text: B\n    when: \"a <= 3 and zz == 1\"\n",
			`9:23 question "b": when: refers to unknown question "zz"`},
		{"single quoted", "  - id: b\n    type: text\n    text: B\n    when: 'a <= 3 and zz == 1'\n",
			`9:23 question "b": when: refers to unknown question "zz"`},
		{"after non-ASCII text", "  - id: b\n    type: text\n    text: Café — {{answers.zz}}\n",
			`8:18 {{answers.zz}} refers to unknown question "zz"`},
		{"literal block", "  - id: b\n    type: text\n    text: |\n      First line.\n        Indented {{answers.zz}}\n",
			`10:18 {{answers.zz}} refers to unknown question "zz"`},
		{"folded block: the text's own place", "  - id: b\n    type: text\n    text: >\n      First line.\n      Second {{answers.zz}}\n",
			`8:11 {{answers.zz}} refers to unknown question "zz"`},
		{"plain over two lines: the text's own place", "  - id: b\n    type: text\n    text: First line\n      second {{answers.zz}}\n",
			`8:11 {{answers.zz}} refers to unknown question "zz"`},
		{"escapes: the text's own place", "  - id: b\n    type: text\n    text: \"\\\"Quoted\\\" {{answers.zz}}\"\n",
			`8:11 {{answers.zz}} refers to unknown question "zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(head+tt.question))
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("Parse: got %v, want one error", err)
			}
			e := errs[0]
			got := fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Msg)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"id", "type", "text", "optional", "when", "min", "max", "labels", "options", "max_length"}
	tests := []struct {
		word string
		want string
	}{
		{"optinal", "optional"},
		{"Type", "type"},
		{"max_len", "max_length"},
		{"lables", "labels"},
		{"mx", "max"},
		{"colour", ""},
		{"x", ""},
		{"question", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, fields); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestQuestionIndex(t *testing.T) {
	c := &Consultation{Questions: []Question{{ID: "a"}, {ID: "b"}}}
	for _, tt := range []struct {
		id   string
		want int
	}{{"a", 0}, {"b", 1}, {"c", -1}, {"", -1}} {
		if got := c.QuestionIndex(tt.id); got != tt.want {
			t.Errorf("QuestionIndex(%q) = %d, want %d", tt.id, got, tt.want)
		}
	}
}

// TestDocExample checks that the file shown in the package documentation
// is valid.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	started := false
	for _, line := range strings.Split(string(doc), "\n") {
		text, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			if started {
				break
			}
			continue
		}
		started = true
		file.WriteString(text + "\n")
	}
	c, err := Parse("doc.go", []byte(file.String()))
	if err != nil {
		t.Fatalf("the example in doc.go is not valid:\n%v\n%s", err, file.String())
	}
	if got, want := len(c.Questions), 3; got != want {
		t.Errorf("questions: got %d, want %d", got, want)
	}
}
