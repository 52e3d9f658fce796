package flows

import (
	"fmt"
	"strings"
)

// QuestionIndex returns the position of the question with the given id,
// or -1 when there is none.
func (c *Consultation) QuestionIndex(id string) int {
	for i := range c.Questions {
		if c.Questions[i].ID == id {
			return i
		}
	}
	return -1
}

// check runs the checks that need the whole file: unique question ids,
// conditions and placeholders that refer to other questions, and fields
// that depend on each other.
func (p *parser) check() {
	c := p.c
	first := make(map[string]int, len(c.Questions))
	var ids []string
	for i, q := range c.Questions {
		if q.ID == "" {
			continue
		}
		if j, dup := first[q.ID]; dup {
			p.errorf(p.questions[i].id, "question id %q is used twice (first on line %d); each question needs its own id", q.ID, p.questions[j].id.Line)
			continue
		}
		first[q.ID] = i
		ids = append(ids, q.ID)
	}
	for i := range c.Questions {
		if c.Questions[i].When != nil {
			p.checkWhen(i, first, ids)
		}
	}
	for _, t := range p.texts {
		p.checkPlaceholders(t, first, ids)
	}
	if p.closesAt == nil {
		for _, n := range p.before {
			p.errorf(n, "a before_close reminder needs the consultation to have closes_at; add closes_at: 2026-12-20T17:00:00Z")
		}
	}
	if !c.OpensAt.IsZero() && !c.ClosesAt.IsZero() && !c.ClosesAt.After(c.OpensAt) {
		p.errorf(p.closesAt, "closes_at (%s) must be after opens_at (%s)", ReadableTime(c.ClosesAt, c.Location), ReadableTime(c.OpensAt, c.Location))
	}
}

// checkWhen checks that each comparison of question i's condition refers
// to an earlier question and suits its type, and fills in the literals'
// numbers.
func (p *parser) checkWhen(i int, first map[string]int, ids []string) {
	q, qn := &p.c.Questions[i], &p.questions[i]
	where := "when"
	if q.ID != "" {
		where = fmt.Sprintf("question %q: when", q.ID)
	}
	k := 0
	for a := range q.When.Any {
		for b := range q.When.Any[a] {
			if p.stopped {
				return
			}
			cmp := &q.When.Any[a][b]
			at := qn.at[k]
			k++
			errAt := func(off int, format string, args ...any) {
				line, col := p.at(qn.when, off)
				p.errAt(line, col, where+": "+fmt.Sprintf(format, args...))
			}
			j, ok := first[cmp.Question]
			switch {
			case !ok:
				if s := p.suggest(cmp.Question, ids); s != "" {
					errAt(at.question, "refers to unknown question %q; did you mean %q?", cmp.Question, s)
				} else {
					errAt(at.question, "refers to unknown question %q", cmp.Question)
				}
				continue
			case j == i:
				errAt(at.question, "refers to this question itself; a condition can only use questions asked before it")
				continue
			case j > i:
				errAt(at.question, "refers to %q, which comes later; a condition can only use questions asked before this one", cmp.Question)
				continue
			}
			if msg, opErr := comparisonProblem(cmp, &p.c.Questions[j]); msg != "" {
				off := at.literal
				if opErr {
					off = at.op
				}
				errAt(off, "%s", msg)
			}
		}
	}
}

// comparisonProblem checks a comparison against the question it refers to
// and fills in its number. It returns what is wrong, if anything, and
// whether the operator (rather than the literal) is at fault.
func comparisonProblem(cmp *Comparison, target *Question) (msg string, opErr bool) {
	id, lit := target.ID, cmp.Literal
	ordered := func() bool {
		switch cmp.Op {
		case OpHas, OpLacks:
			return false
		}
		return true
	}
	switch target.Type {
	case TypeScale, TypeNumber:
		if !ordered() {
			return fmt.Sprintf("%s is a %s question: compare it with ==, !=, <, <=, > or >=, not %s", id, target.Type, cmp.Op), true
		}
		n, err := parseLiteralNumber(lit)
		if err != nil {
			return fmt.Sprintf("%s is a %s question: compare it with a number, not %q", id, target.Type, lit), false
		}
		cmp.Number = n
	case TypeDate:
		if !ordered() {
			return fmt.Sprintf("%s is a date question: compare it with ==, !=, <, <=, > or >=, not %s", id, cmp.Op), true
		}
		d, err := dateDays(lit)
		if err != nil {
			return fmt.Sprintf("%s is a date question: compare it with a date like 2026-12-01, not %q", id, lit), false
		}
		cmp.Number = float64(d)
	case TypeYesNo:
		if cmp.Op != OpEq && cmp.Op != OpNe {
			return fmt.Sprintf("%s is a yesno question: compare it with == or !=, not %s", id, cmp.Op), true
		}
		if !strings.EqualFold(lit, "yes") && !strings.EqualFold(lit, "no") {
			return fmt.Sprintf("%s is a yesno question: compare it with yes or no, not %q", id, lit), false
		}
	case TypeChoice, TypeMulti:
		if target.Type == TypeChoice && cmp.Op != OpEq && cmp.Op != OpNe {
			return fmt.Sprintf("%s is a choice question: compare it with == or !=, not %s", id, cmp.Op), true
		}
		if target.Type == TypeMulti && ordered() {
			return fmt.Sprintf("%s is a multi question: use has or lacks, like %s has %s", id, id, quoteLiteral(firstOptionValue(target))), true
		}
		values := make([]string, len(target.Options))
		for k, o := range target.Options {
			if strings.EqualFold(o.Value, lit) {
				return "", false
			}
			values[k] = o.Value
		}
		for _, o := range target.Options {
			for _, l := range o.Label {
				if strings.EqualFold(l, lit) {
					return fmt.Sprintf("%q is the label of option %q of %s; compare with the value: %s %s %s", lit, o.Value, id, id, cmp.Op, quoteLiteral(o.Value)), false
				}
			}
		}
		msg = fmt.Sprintf("%q is not an option of %s", lit, id)
		if s := suggest(lit, values); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else {
			msg += "; its options are " + strings.Join(values, ", ")
		}
		return msg, false
	case TypeText:
		return fmt.Sprintf("%s is a text question, and text answers cannot be compared; a condition can use scale, number, date, choice, multi and yesno questions", id), false
	}
	return "", false
}

// firstOptionValue returns the value of a question's first option.
func firstOptionValue(q *Question) string {
	if len(q.Options) == 0 {
		return "value"
	}
	return q.Options[0].Value
}

// quoteLiteral writes a value as a `when` literal: bare when it is one
// word, quoted otherwise.
func quoteLiteral(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r<>=!\"'") && !isConditionKeyword(s) {
		return s
	}
	if strings.Contains(s, "\"") {
		return "'" + s + "'"
	}
	return "\"" + s + "\""
}

// checkPlaceholders checks the {{...}} of one text.
func (p *parser) checkPlaceholders(t textRef, first map[string]int, ids []string) {
	v := t.node.Value
	for _, ph := range placeholders(v) {
		if p.stopped {
			return
		}
		errAt := func(format string, args ...any) {
			line, col := p.at(t.node, ph.start)
			p.errAt(line, col, fmt.Sprintf(format, args...))
		}
		if ph.end < 0 {
			errAt("{{ is not closed; write {{answers.<question id>}}, {{title}} or {{closes_at}}")
			return
		}
		if t.ctx == ctxTitle {
			errAt("the title cannot hold placeholders like {{%s}}", ph.name)
			continue
		}
		switch {
		case ph.name == placeholderTitle:
		case ph.name == placeholderClosesAt:
			if p.closesAt == nil {
				errAt("{{closes_at}} is used but the consultation has no closes_at; add closes_at: 2026-12-20T17:00:00Z")
			}
		case strings.HasPrefix(ph.name, placeholderAnswers):
			p.checkPipedAnswer(t, ph, first, ids, errAt)
		default:
			names := []string{placeholderTitle, placeholderClosesAt}
			for _, id := range ids {
				names = append(names, placeholderAnswers+id)
			}
			if s := p.suggest(ph.name, names); s != "" {
				errAt("unknown placeholder {{%s}}; did you mean {{%s}}?", ph.name, s)
			} else {
				errAt("unknown placeholder {{%s}}; use {{answers.<question id>}}, {{title}} or {{closes_at}}", ph.name)
			}
		}
	}
}

// checkPipedAnswer checks an {{answers.x}}: x must be a question that can
// have been answered where the text is shown.
func (p *parser) checkPipedAnswer(t textRef, ph placeholder, first map[string]int, ids []string, errAt func(string, ...any)) {
	id := strings.TrimSpace(ph.name[len(placeholderAnswers):])
	switch t.ctx {
	case ctxQuestion, ctxClosing:
	case ctxReminder:
		if p.c.Anonymous {
			errAt("{{answers.%s}} cannot be used in a reminder of an anonymous consultation: reminders are sent outside the conversation and must not carry answers", id)
			return
		}
	default:
		errAt("{{answers.%s}} can only be used in question texts, the closing and reminders", id)
		return
	}
	if id == "" {
		errAt("{{answers.}} needs a question id, like {{answers.q1}}")
		return
	}
	j, ok := first[id]
	switch {
	case !ok:
		if s := p.suggest(id, ids); s != "" {
			errAt("{{answers.%s}} refers to unknown question %q; did you mean %q?", id, id, s)
		} else {
			errAt("{{answers.%s}} refers to unknown question %q", id, id)
		}
	case t.ctx != ctxQuestion:
	case j == t.question:
		errAt("{{answers.%s}} is this question's own answer, which cannot have been given yet", id)
	case j > t.question:
		errAt("{{answers.%s}} cannot have been answered yet: %s comes after this question", id, id)
	}
}

// suggest searches for what an unknown question id was meant to be, for
// the first maxSuggestions unknown ids of a file only: a file that refers
// to thousands of unknown ids is still checked quickly.
func (p *parser) suggest(word string, candidates []string) string {
	if p.suggestions >= maxSuggestions {
		return ""
	}
	p.suggestions++
	return suggest(word, candidates)
}

// suggest returns the candidate closest to word, ignoring case, or "" when
// none is close enough to be what was meant.
func suggest(word string, candidates []string) string {
	limit := 2
	switch {
	case len(word) <= 3:
		limit = 1
	case len(word) >= 10:
		limit = 3
	}
	lw := strings.ToLower(word)
	best, bestD := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := 1
		if len(lw) < 3 || !strings.HasPrefix(lc, lw) {
			d = editDistance(lw, lc, limit)
		}
		if lc == lw {
			d = 0
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > limit || bestD >= len(word) || best == word {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between two strings, counted
// in runes.
// Distances above limit are not worked out: any of them is limit+1.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra)-len(rb) > limit || len(rb)-len(ra) > limit || len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit+1)
}
