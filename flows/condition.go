package flows

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Holds reports whether the condition holds for the answers given so far.
// A comparison with a question that has no answer (skipped, or not asked)
// is false, whatever its operator, so `q lacks x` needs q to be answered.
//
// Scale and number answers compare as numbers, dates as days, choice and
// yesno answers by value (ignoring case), multi answers with has and lacks.
func (c Condition) Holds(answers map[string]Answer) bool {
	for _, all := range c.Any {
		if len(all) == 0 {
			continue
		}
		ok := true
		for _, cmp := range all {
			if !cmp.holds(answers) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// holds reports whether one comparison holds.
func (cmp Comparison) holds(answers map[string]Answer) bool {
	a, ok := answers[cmp.Question]
	if !ok {
		return false
	}
	switch cmp.Op {
	case OpHas, OpLacks:
		if a.Type != TypeMulti {
			return false
		}
		found := false
		for _, v := range a.Values {
			if strings.EqualFold(v, cmp.Literal) {
				found = true
				break
			}
		}
		return found == (cmp.Op == OpHas)
	}
	var x, y float64
	switch a.Type {
	case TypeScale, TypeNumber:
		n, err := parseLiteralNumber(cmp.Literal)
		if err != nil {
			return false
		}
		x, y = a.Number, n
	case TypeDate:
		ad, err := dateDays(a.Text)
		if err != nil {
			return false
		}
		ld, err := dateDays(cmp.Literal)
		if err != nil {
			return false
		}
		x, y = float64(ad), float64(ld)
	case TypeChoice, TypeYesNo, TypeText:
		if a.Text == "" {
			return false
		}
		eq := strings.EqualFold(a.Text, cmp.Literal)
		switch cmp.Op {
		case OpEq:
			return eq
		case OpNe:
			return !eq
		}
		return false
	default:
		return false
	}
	switch cmp.Op {
	case OpEq:
		return x == y
	case OpNe:
		return x != y
	case OpLt:
		return x < y
	case OpLe:
		return x <= y
	case OpGt:
		return x > y
	case OpGe:
		return x >= y
	}
	return false
}

// parseLiteralNumber parses a finite decimal number.
func parseLiteralNumber(s string) (float64, error) {
	if strings.ContainsAny(s, "xXpP_") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// dateDays parses a date YYYY-MM-DD as days since 1970-01-01.
func dateDays(s string) (int64, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date like 2026-12-01", s)
	}
	return t.Unix() / 86400, nil
}

// condToken is a token of a `when` expression.
type condToken struct {
	kind   condTokenKind
	text   string // the token; a quoted literal unquoted
	offset int    // byte offset in the expression
}

type condTokenKind int

const (
	condWord   condTokenKind = iota // bare word: question id, keyword or literal
	condQuoted                      // quoted literal
	condOp                          // == != < <= > >=, or a lone =
)

// conditionError is a syntax error at a byte offset of a `when` expression.
type conditionError struct {
	offset int
	msg    string
}

func (e *conditionError) Error() string { return e.msg }

// comparisonAt records where the parts of one comparison were written.
type comparisonAt struct {
	question, op, literal int // byte offsets
}

// parseCondition parses a `when` expression: comparisons
// `<question id> <op> <literal>` joined by `and` and `or` (`and` binds
// tighter). It checks only the syntax; the comparisons are checked against
// the questions later. at holds the offsets of each comparison, in the
// order of c.Any flattened.
func parseCondition(src string) (c Condition, at []comparisonAt, err error) {
	toks, err := tokenizeCondition(src)
	if err != nil {
		return Condition{}, nil, err
	}
	c.Source = src
	if len(toks) == 0 {
		return Condition{}, nil, &conditionError{0, "when is empty: write a condition like q1 <= 3"}
	}
	var all []Comparison
	i := 0
	for {
		if i >= len(toks) {
			end := len(src)
			return Condition{}, nil, &conditionError{end, "when ends too early: a comparison is missing after the last and/or"}
		}
		q := toks[i]
		if q.kind != condWord || isConditionKeyword(q.text) {
			return Condition{}, nil, &conditionError{q.offset, fmt.Sprintf("expected a question id, found %q", q.text)}
		}
		if strings.HasPrefix(q.text, "(") || strings.HasSuffix(q.text, ")") {
			return Condition{}, nil, &conditionError{q.offset, "parentheses are not supported in when: and binds tighter than or, so a or b and c means a or (b and c)"}
		}
		if i+1 >= len(toks) {
			return Condition{}, nil, &conditionError{len(src), fmt.Sprintf("expected an operator after %q (==, !=, <, <=, >, >=, has or lacks)", q.text)}
		}
		o := toks[i+1]
		op, ok := conditionOp(o)
		if !ok {
			msg := fmt.Sprintf("expected an operator after %q (==, !=, <, <=, >, >=, has or lacks), found %q", q.text, o.text)
			if o.kind == condOp && o.text == "=" {
				msg = "use == to compare, not ="
			}
			return Condition{}, nil, &conditionError{o.offset, msg}
		}
		if i+2 >= len(toks) {
			return Condition{}, nil, &conditionError{len(src), fmt.Sprintf("expected a value after %q %s", q.text, op)}
		}
		l := toks[i+2]
		if l.kind == condOp || (l.kind == condWord && (isConditionKeyword(l.text))) {
			return Condition{}, nil, &conditionError{l.offset, fmt.Sprintf("expected a value after %q %s, found %q", q.text, op, l.text)}
		}
		if l.kind == condWord && strings.HasSuffix(l.text, ")") {
			return Condition{}, nil, &conditionError{l.offset + len(l.text) - 1, "parentheses are not supported in when: and binds tighter than or, so a or b and c means a or (b and c)"}
		}
		all = append(all, Comparison{Question: q.text, Op: op, Literal: l.text})
		at = append(at, comparisonAt{question: q.offset, op: o.offset, literal: l.offset})
		i += 3
		if i == len(toks) {
			c.Any = append(c.Any, all)
			return c, at, nil
		}
		j := toks[i]
		switch {
		case j.kind == condWord && strings.EqualFold(j.text, "and"):
		case j.kind == condWord && strings.EqualFold(j.text, "or"):
			c.Any = append(c.Any, all)
			all = nil
		default:
			return Condition{}, nil, &conditionError{j.offset, fmt.Sprintf("expected and or or after %q %s %s, found %q", q.text, op, l.text, j.text)}
		}
		i++
	}
}

// isConditionKeyword reports whether w is a reserved word of `when`.
func isConditionKeyword(w string) bool {
	switch strings.ToLower(w) {
	case "and", "or", "has", "lacks":
		return true
	}
	return false
}

// conditionOp returns the operator a token stands for.
func conditionOp(t condToken) (Op, bool) {
	switch t.kind {
	case condOp:
		switch Op(t.text) {
		case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe:
			return Op(t.text), true
		}
	case condWord:
		switch strings.ToLower(t.text) {
		case "has":
			return OpHas, true
		case "lacks":
			return OpLacks, true
		}
	}
	return "", false
}

// tokenizeCondition splits a `when` expression into words, quoted literals
// and operators.
func tokenizeCondition(src string) ([]condToken, error) {
	var toks []condToken
	i := 0
	for i < len(src) {
		ch := src[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '"' || ch == '\'':
			end := strings.IndexByte(src[i+1:], ch)
			if end < 0 {
				return nil, &conditionError{i, fmt.Sprintf("quoted value is not closed: add a %c at its end", ch)}
			}
			toks = append(toks, condToken{condQuoted, src[i+1 : i+1+end], i})
			i += end + 2
		case strings.IndexByte("<>=!", ch) >= 0:
			j := i + 1
			if j < len(src) && src[j] == '=' {
				j++
			}
			t := src[i:j]
			if t == "!" {
				return nil, &conditionError{i, "use != for not equal"}
			}
			toks = append(toks, condToken{condOp, t, i})
			i = j
		default:
			j := i
			for j < len(src) && strings.IndexByte(" \t\n\r<>=!\"'", src[j]) < 0 {
				j++
			}
			toks = append(toks, condToken{condWord, src[i:j], i})
			i = j
		}
	}
	return toks, nil
}
