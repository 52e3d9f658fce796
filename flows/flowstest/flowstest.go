// Package flowstest makes consultations and participants' inputs for tests
// and benchmarks in other packages.
package flowstest

import (
	"fmt"
	"strings"

	"github.com/consultbot/consultbot/flows"
)

// EveryTypeYAML is a consultation file (id "export") of n questions that
// cycles through every question type, with a text question asked when the
// scale before it is 3 or less.
func EveryTypeYAML(n int) string {
	var y strings.Builder
	y.WriteString("id: export\ntitle: Export benchmark\nopen: true\nconsent:\n  version: 1\n  text: Agree?\nquestions:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - id: q%02d\n", i)
		switch i % 7 {
		case 0:
			fmt.Fprintf(&y, "    type: scale\n    text: How clear is draft question %d?\n    min: 1\n    max: 5\n", i)
		case 1:
			fmt.Fprintf(&y, "    type: text\n    text: How would you word it instead?\n    when: q%02d <= 3\n", i-1)
		case 2:
			y.WriteString("    type: choice\n    text: Keep it?\n    options: [Keep it, Change it, Drop it]\n")
		case 3:
			y.WriteString("    type: multi\n    text: What needs work?\n    options: [Wording, Order, Length, Tone]\n")
		case 4:
			y.WriteString("    type: yesno\n    text: Could it upset anyone?\n")
		case 5:
			y.WriteString("    type: number\n    text: How many minutes would it take?\n    min: 0\n")
		case 6:
			y.WriteString("    type: date\n    text: When could you meet to talk it over?\n")
		}
	}
	y.WriteString("closing: Thank you.\n")
	return y.String()
}

// Inputs is what participant n types through a consultation made by
// EveryTypeYAML: start, consent, then one valid answer per question (the
// scale answers, 1 to 3, make every text question asked).
func Inputs(c *flows.Consultation, n int) []flows.Input {
	ins := []flows.Input{{Command: flows.CmdStart}, {Text: "yes"}}
	for i, q := range c.Questions {
		var t string
		switch q.Type {
		case flows.TypeScale:
			t = fmt.Sprint(n%3 + 1)
		case flows.TypeText:
			t = fmt.Sprintf("Participant %d would ask question %d differently: plainer words, one idea at a time.", n, i)
		case flows.TypeChoice:
			t = fmt.Sprint(n%3 + 1)
		case flows.TypeMulti:
			t = fmt.Sprintf("1, %d", n%3+2)
		case flows.TypeYesNo:
			t = []string{"yes", "no"}[n%2]
		case flows.TypeNumber:
			t = fmt.Sprint(5 + n%40)
		case flows.TypeDate:
			t = fmt.Sprintf("2026-04-%02d", n%28+1)
		}
		ins = append(ins, flows.Input{Text: t})
	}
	return ins
}
