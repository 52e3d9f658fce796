package flows

import (
	"reflect"
	"testing"
)

func TestParseConditionSyntax(t *testing.T) {
	tests := []struct {
		src     string
		want    [][]Comparison
		wantAt  []comparisonAt
		wantErr string
		errAt   int
	}{
		{src: "q1 <= 3", want: [][]Comparison{{{Question: "q1", Op: OpLe, Literal: "3"}}}, wantAt: []comparisonAt{{0, 3, 6}}},
		{src: "q1<=3", want: [][]Comparison{{{Question: "q1", Op: OpLe, Literal: "3"}}}, wantAt: []comparisonAt{{0, 2, 4}}},
		{src: "a == x and b != 'two words' or c has d", want: [][]Comparison{
			{{Question: "a", Op: OpEq, Literal: "x"}, {Question: "b", Op: OpNe, Literal: "two words"}},
			{{Question: "c", Op: OpHas, Literal: "d"}},
		}, wantAt: []comparisonAt{{0, 2, 5}, {11, 13, 16}, {31, 33, 37}}},
		{src: `m LACKS "x y" OR d >= 2026-12-01 AND n < -1.5`, want: [][]Comparison{
			{{Question: "m", Op: OpLacks, Literal: "x y"}},
			{{Question: "d", Op: OpGe, Literal: "2026-12-01"}, {Question: "n", Op: OpLt, Literal: "-1.5"}},
		}, wantAt: []comparisonAt{{0, 2, 8}, {17, 19, 22}, {37, 39, 41}}},
		{src: "a > 1 or b > 2 or c > 3", want: [][]Comparison{
			{{Question: "a", Op: OpGt, Literal: "1"}}, {{Question: "b", Op: OpGt, Literal: "2"}}, {{Question: "c", Op: OpGt, Literal: "3"}},
		}, wantAt: []comparisonAt{{0, 2, 4}, {9, 11, 13}, {18, 20, 22}}},
		{src: "", wantErr: "when is empty: write a condition like q1 <= 3", errAt: 0},
		{src: "   ", wantErr: "when is empty: write a condition like q1 <= 3", errAt: 0},
		{src: "q1 = 3", wantErr: "use == to compare, not =", errAt: 3},
		{src: "q1 ! 3", wantErr: "use != for not equal", errAt: 3},
		{src: "q1 is 3", wantErr: `expected an operator after "q1" (==, !=, <, <=, >, >=, has or lacks), found "is"`, errAt: 3},
		{src: "q1", wantErr: `expected an operator after "q1" (==, !=, <, <=, >, >=, has or lacks)`, errAt: 2},
		{src: "q1 ==", wantErr: `expected a value after "q1" ==`, errAt: 5},
		{src: "q1 == == 2", wantErr: `expected a value after "q1" ==, found "=="`, errAt: 6},
		{src: "q1 == 2 and", wantErr: "when ends too early: a comparison is missing after the last and/or", errAt: 11},
		{src: "q1 == 2 q2 == 3", wantErr: `expected and or or after "q1" == 2, found "q2"`, errAt: 8},
		{src: "(q1 == 2)", wantErr: "parentheses are not supported in when: and binds tighter than or, so a or b and c means a or (b and c)", errAt: 0},
		{src: "q1 == (2)", wantErr: "parentheses are not supported in when: and binds tighter than or, so a or b and c means a or (b and c)", errAt: 8},
		{src: `q1 == "open`, wantErr: `quoted value is not closed: add a " at its end`, errAt: 6},
		{src: "and == 2", wantErr: `expected a question id, found "and"`, errAt: 0},
		{src: "'q1' == 2", wantErr: `expected a question id, found "q1"`, errAt: 0},
	}
	for _, tt := range tests {
		c, at, err := parseCondition(tt.src)
		if tt.wantErr != "" {
			ce, ok := err.(*conditionError)
			if !ok {
				t.Errorf("parseCondition(%q): got error %v, want %q at %d", tt.src, err, tt.wantErr, tt.errAt)
				continue
			}
			if ce.msg != tt.wantErr || ce.offset != tt.errAt {
				t.Errorf("parseCondition(%q): got %q at %d, want %q at %d", tt.src, ce.msg, ce.offset, tt.wantErr, tt.errAt)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCondition(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(c.Any, tt.want) || c.Source != tt.src {
			t.Errorf("parseCondition(%q): got %+v (source %q), want %+v", tt.src, c.Any, c.Source, tt.want)
		}
		if !reflect.DeepEqual(at, tt.wantAt) {
			t.Errorf("parseCondition(%q) offsets: got %v, want %v", tt.src, at, tt.wantAt)
		}
	}
}

func TestConditionHolds(t *testing.T) {
	answers := map[string]Answer{
		"scale":   {Type: TypeScale, Number: 3},
		"num":     {Type: TypeNumber, Number: -2.5},
		"date":    {Type: TypeDate, Text: "2026-12-01"},
		"choice":  {Type: TypeChoice, Text: "Peer mentor"},
		"yes":     {Type: TypeYesNo, Text: "yes"},
		"multi":   {Type: TypeMulti, Values: []string{"Housing", "gp"}},
		"none":    {Type: TypeMulti, Values: []string{}},
		"text":    {Type: TypeText, Text: "hello"},
		"badDate": {Type: TypeDate, Text: "soon"},
	}
	cmp := func(q string, op Op, lit string) Comparison { return Comparison{Question: q, Op: op, Literal: lit} }
	tests := []struct {
		name string
		any  [][]Comparison
		want bool
	}{
		{"scale <=", [][]Comparison{{cmp("scale", OpLe, "3")}}, true},
		{"scale <", [][]Comparison{{cmp("scale", OpLt, "3")}}, false},
		{"scale ==", [][]Comparison{{cmp("scale", OpEq, "3")}}, true},
		{"scale !=", [][]Comparison{{cmp("scale", OpNe, "3")}}, false},
		{"scale >", [][]Comparison{{cmp("scale", OpGt, "2")}}, true},
		{"scale >=", [][]Comparison{{cmp("scale", OpGe, "4")}}, false},
		{"number negative", [][]Comparison{{cmp("num", OpLt, "-2")}}, true},
		{"number not a number", [][]Comparison{{cmp("num", OpLt, "lots")}}, false},
		{"date before", [][]Comparison{{cmp("date", OpLt, "2026-12-02")}}, true},
		{"date equal", [][]Comparison{{cmp("date", OpEq, "2026-12-01")}}, true},
		{"date after", [][]Comparison{{cmp("date", OpGt, "2026-12-01")}}, false},
		{"date answer unreadable", [][]Comparison{{cmp("badDate", OpNe, "2026-12-01")}}, false},
		{"choice == ignores case", [][]Comparison{{cmp("choice", OpEq, "peer MENTOR")}}, true},
		{"choice !=", [][]Comparison{{cmp("choice", OpNe, "Professional")}}, true},
		{"choice <", [][]Comparison{{cmp("choice", OpLt, "Professional")}}, false},
		{"yesno", [][]Comparison{{cmp("yes", OpEq, "Yes")}}, true},
		{"yesno no", [][]Comparison{{cmp("yes", OpEq, "no")}}, false},
		{"multi has", [][]Comparison{{cmp("multi", OpHas, "GP")}}, true},
		{"multi lacks", [][]Comparison{{cmp("multi", OpLacks, "Benefits")}}, true},
		{"multi lacks picked", [][]Comparison{{cmp("multi", OpLacks, "housing")}}, false},
		{"multi with nothing picked lacks", [][]Comparison{{cmp("none", OpLacks, "Housing")}}, true},
		{"has on a choice", [][]Comparison{{cmp("choice", OpHas, "Peer mentor")}}, false},
		{"text ==", [][]Comparison{{cmp("text", OpEq, "HELLO")}}, true},
		{"unanswered ==", [][]Comparison{{cmp("skipped", OpEq, "3")}}, false},
		{"unanswered !=", [][]Comparison{{cmp("skipped", OpNe, "3")}}, false},
		{"unanswered lacks", [][]Comparison{{cmp("skipped", OpLacks, "Housing")}}, false},
		{"and: both", [][]Comparison{{cmp("scale", OpLe, "3"), cmp("yes", OpEq, "yes")}}, true},
		{"and: one fails", [][]Comparison{{cmp("scale", OpLe, "3"), cmp("yes", OpEq, "no")}}, false},
		{"or: second holds", [][]Comparison{{cmp("scale", OpGt, "3")}, {cmp("multi", OpHas, "gp")}}, true},
		{"or of ands", [][]Comparison{{cmp("scale", OpGt, "3"), cmp("yes", OpEq, "yes")}, {cmp("skipped", OpEq, "1"), cmp("yes", OpEq, "yes")}}, false},
		{"empty condition", nil, false},
	}
	for _, tt := range tests {
		c := Condition{Any: tt.any}
		if got := c.Holds(answers); got != tt.want {
			t.Errorf("%s: Holds = %v, want %v", tt.name, got, tt.want)
		}
	}
}
