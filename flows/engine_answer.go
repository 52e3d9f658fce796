package flows

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Button data is a kind letter and the turn it was offered at, and for an
// answer or a tick a dot and the option's position: "a7.2" answers option 2
// at turn 7, "t7.2" ticks or unticks it, "d7" is done, "s7" skip, "b7" back,
// "k7" keeps the answer a question had, "y7" and "n7" are yes and no to a
// consent or a confirmation.
const (
	pressAnswer = 'a'
	pressToggle = 't'
	pressDone   = 'd'
	pressSkip   = 's'
	pressBack   = 'b'
	pressKeep   = 'k'
	pressYes    = 'y'
	pressNo     = 'n'

	maxChoiceData = 32 // bytes of Choice.Data
)

// press is a parsed Choice.Data.
type press struct {
	kind  byte
	turn  int
	index int // -1 when the kind has none
}

// parsePress parses button data; ok is false for data the engine never
// makes.
func parsePress(data string) (p press, ok bool) {
	if len(data) < 2 || len(data) > maxChoiceData {
		return press{}, false
	}
	p = press{kind: data[0], index: -1}
	turn, idx, hasIdx := strings.Cut(data[1:], ".")
	if p.turn, ok = smallNumber(turn); !ok {
		return press{}, false
	}
	switch p.kind {
	case pressAnswer, pressToggle:
		if !hasIdx {
			return press{}, false
		}
		if p.index, ok = smallNumber(idx); !ok {
			return press{}, false
		}
	case pressDone, pressSkip, pressBack, pressKeep, pressYes, pressNo:
		if hasIdx {
			return press{}, false
		}
	default:
		return press{}, false
	}
	return p, true
}

// smallNumber parses a non-negative decimal int written without a sign or
// leading zeros.
func smallNumber(s string) (int, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	const maxInt = int(^uint(0) >> 1)
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		d := int(s[i] - '0')
		if n > (maxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// pressed handles a button of the current turn on question qi. It reports
// false, having changed nothing, when the button does not belong to the
// question.
func (st *step) pressed(qi int, p press) bool {
	q := &st.c.Questions[qi]
	switch p.kind {
	case pressAnswer:
		var a Answer
		var label string
		switch q.Type {
		case TypeChoice:
			if p.index >= len(q.Options) {
				return false
			}
			o := &q.Options[p.index]
			a, label = Answer{Type: TypeChoice, Text: o.Value}, st.local(o.Label)
		case TypeYesNo:
			switch p.index {
			case 0:
				a, label = Answer{Type: TypeYesNo, Text: "yes"}, labelYes
			case 1:
				a, label = Answer{Type: TypeYesNo, Text: "no"}, labelNo
			default:
				return false
			}
		case TypeScale:
			if q.Min == nil || q.Max == nil || p.index > int(*q.Max-*q.Min) {
				return false
			}
			point := int(*q.Min) + p.index
			a, label = Answer{Type: TypeScale, Number: float64(point)}, st.scaleLabel(q, point)
		default:
			return false
		}
		a.At = st.now
		st.edit(st.pipe(q.Text), label, q.ID)
		st.answered(qi, a)
	case pressToggle:
		if q.Type != TypeMulti || p.index >= len(q.Options) {
			return false
		}
		st.toggle(qi, p.index)
	case pressDone:
		if q.Type != TypeMulti {
			return false
		}
		st.done(qi, true)
	case pressSkip:
		if !q.Optional {
			return false
		}
		st.edit(st.pipe(q.Text), labelSkipped, q.ID)
		st.skipped(qi)
	case pressBack:
		if !st.hasBefore() {
			return false
		}
		st.back()
	case pressKeep:
		a, ok := st.s.Answers[q.ID]
		if !ok || q.Type == TypeMulti {
			return false
		}
		st.edit(st.pipe(q.Text), st.c.FormatAnswer(q, a, st.lang), q.ID)
		st.s.Selected = nil
		st.prune(qi)
		st.forward(qi)
	default:
		return false
	}
	return true
}

// toggle ticks or unticks option i of multi question qi.
func (st *step) toggle(qi, i int) {
	s := &st.s
	q := &st.c.Questions[qi]
	value := q.Options[i].Value
	on := !ticked(s.Selected, value)
	n := 0
	for _, o := range q.Options {
		if ticked(s.Selected, o.Value) {
			n++
		}
	}
	edit := st.in.Ref != ""
	if on && q.Max != nil && n >= int(*q.Max) {
		st.reply(st.questionReply(qi, "You can pick no more than "+strconv.Itoa(int(*q.Max))+": untick one first.", edit))
		return
	}
	if on {
		n++
	} else {
		n--
	}
	sel := make([]string, 0, n)
	for _, o := range q.Options {
		t := ticked(s.Selected, o.Value)
		if o.Value == value {
			t = on
		}
		if t {
			sel = append(sel, o.Value)
		}
	}
	s.Selected = sel
	st.reply(st.questionReply(qi, "", edit))
}

// done finishes multi question qi with the options ticked so far; byButton
// tells whether Done was pressed, so that its message is edited.
func (st *step) done(qi int, byButton bool) {
	s := &st.s
	q := &st.c.Questions[qi]
	var picks []string
	for _, o := range q.Options {
		if ticked(s.Selected, o.Value) {
			picks = append(picks, o.Value)
		}
	}
	if len(picks) == 0 && q.Optional {
		if byButton {
			st.edit(st.pipe(q.Text), labelSkipped, q.ID)
		}
		st.skipped(qi)
		return
	}
	if note := st.pickProblem(q, len(picks)); note != "" {
		st.reask(qi, note)
		return
	}
	if byButton {
		st.edit(st.pipe(q.Text), st.c.FormatAnswer(q, Answer{Type: TypeMulti, Values: picks}, st.lang), q.ID)
	}
	st.answered(qi, Answer{Type: TypeMulti, Values: picks, At: st.now})
}

// pickProblem says what is wrong with n picks of a multi question, or "".
func (st *step) pickProblem(q *Question, n int) string {
	if lo := minPicks(q); n < lo {
		if st.v.typed() {
			return "Please pick at least " + strconv.Itoa(lo) + "."
		}
		return "Please pick at least " + strconv.Itoa(lo) + ", then tap " + labelDone + "."
	}
	if q.Max != nil && n > int(*q.Max) {
		return "Please pick no more than " + strconv.Itoa(int(*q.Max)) + "."
	}
	return ""
}

// typed handles text typed as the answer to question qi.
func (st *step) typed(qi int, t string) {
	q := &st.c.Questions[qi]
	t = strings.TrimSpace(t)
	v := st.v
	a := Answer{Type: q.Type, At: st.now}
	switch q.Type {
	case TypeText:
		limit := q.MaxLength
		if limit <= 0 {
			limit = textAnswerDefault
		}
		switch {
		case t == "":
			if v.typed() {
				st.reask(qi, "Please type your answer.")
			} else {
				st.reask(qi, "Please send your answer as a message.")
			}
			return
		case utf8.RuneCountInString(t) > limit:
			st.reask(qi, "That's longer than "+strconv.Itoa(limit)+" characters — could you shorten it?")
			return
		}
		if !utf8.ValidString(t) {
			t = strings.ToValidUTF8(t, "\uFFFD")
		}
		a.Text = t
	case TypeChoice:
		i := st.matchOption(q, t)
		if i < 0 {
			if v.typed() {
				st.reask(qi, "Please type the number (1 to "+strconv.Itoa(len(q.Options))+") or the name of one of the options.")
			} else {
				st.reask(qi, "Please tap one of the buttons, or send the number (1 to "+strconv.Itoa(len(q.Options))+") or the name of an option.")
			}
			return
		}
		a.Text = q.Options[i].Value
	case TypeMulti:
		st.typedMulti(qi, t)
		return
	case TypeScale:
		point, ok := st.matchScale(q, t)
		if !ok {
			r := "a number from " + fmtNum(*q.Min) + " to " + fmtNum(*q.Max)
			if v.typed() {
				st.reask(qi, "Please type "+r+".")
			} else {
				st.reask(qi, "Please send "+r+", or tap a button.")
			}
			return
		}
		a.Number = float64(point)
	case TypeYesNo:
		switch yesNo(t, false) {
		case yes:
			a.Text = "yes"
		case no:
			a.Text = "no"
		default:
			if v.typed() {
				st.reask(qi, "Please type yes or no.")
			} else {
				st.reask(qi, "Please send yes or no, or tap a button.")
			}
			return
		}
	case TypeNumber:
		x, note := parseNumberAnswer(t)
		if note == "" && (q.Min != nil && x < *q.Min || q.Max != nil && x > *q.Max) {
			note = "Please " + v.sendLower() + " " + numberRange(q) + "."
		}
		if note != "" {
			st.reask(qi, note)
			return
		}
		a.Number = x
	case TypeDate:
		d, ok := parseDateAnswer(t)
		if !ok {
			st.reask(qi, "Please "+v.sendLower()+" a date like "+msgDateExample+".")
			return
		}
		a.Text = d
	default:
		st.reask(qi, "")
		return
	}
	st.answered(qi, a)
}

// reask asks question qi again, with a note on what would be right.
func (st *step) reask(qi int, note string) {
	st.reply(st.buildQuestion(qi, note, false, false))
}

// typedMulti handles a typed answer to a multi question: a list of
// options separated by commas or semicolons, or "done" after ticking.
func (st *step) typedMulti(qi int, t string) {
	q := &st.c.Questions[qi]
	if i := st.matchOption(q, t); i >= 0 {
		st.answered(qi, st.multiAnswer(q, uint64(1)<<uint(i)))
		return
	}
	if strings.EqualFold(t, labelDone) {
		st.done(qi, false)
		return
	}
	var mask uint64
	rest := t
	for rest != "" {
		var item string
		if i := strings.IndexAny(rest, ",;"); i >= 0 {
			item, rest = rest[:i], rest[i+1:]
		} else {
			item, rest = rest, ""
		}
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := st.matchOption(q, item)
		if i < 0 {
			note := strconv.Quote(item) + " isn't one of the options. "
			if st.v.typed() {
				note += "Please type the numbers of the ones that apply, like 1, 3."
			} else {
				note += "Please tick the ones that apply and tap " + labelDone + ", or send their numbers, like 1, 3."
			}
			st.reask(qi, note)
			return
		}
		mask |= uint64(1) << uint(i)
	}
	n := 0
	for m := mask; m != 0; m &= m - 1 {
		n++
	}
	if n == 0 && q.Optional {
		st.skipped(qi)
		return
	}
	if n == 0 {
		st.reask(qi, st.pickProblem(q, 0))
		return
	}
	if note := st.pickProblem(q, n); note != "" {
		st.reask(qi, note)
		return
	}
	st.answered(qi, st.multiAnswer(q, mask))
}

// multiAnswer is the answer to a multi question with the options of mask
// picked, in option order.
func (st *step) multiAnswer(q *Question, mask uint64) Answer {
	var vs []string
	for i := range q.Options {
		if mask&(uint64(1)<<uint(i)) != 0 {
			vs = append(vs, q.Options[i].Value)
		}
	}
	return Answer{Type: TypeMulti, Values: vs, At: st.now}
}

// matchOption finds the option a typed text names: its value or label in
// any language and any case, else its position ("2") when no value or
// label is that text. It returns -1 when none matches.
func (st *step) matchOption(q *Question, t string) int {
	if t == "" {
		return -1
	}
	for i := range q.Options {
		o := &q.Options[i]
		if strings.EqualFold(o.Value, t) {
			return i
		}
		for _, l := range o.Label {
			if strings.EqualFold(strings.TrimSpace(l), t) {
				return i
			}
		}
	}
	if n, ok := smallNumber(t); ok && n >= 1 && n <= len(q.Options) {
		return n - 1
	}
	return -1
}

// matchScale finds the point of a scale a typed text names: a whole
// number in range, or a point's label in any case.
func (st *step) matchScale(q *Question, t string) (int, bool) {
	if q.Min == nil || q.Max == nil {
		return 0, false
	}
	lo, hi := int(*q.Min), int(*q.Max)
	digits, neg := strings.CutPrefix(t, "-")
	if n, ok := smallNumber(digits); ok {
		if neg {
			n = -n
		}
		return n, n >= lo && n <= hi
	}
	for p := lo; p <= hi; p++ {
		for _, l := range q.Labels[p] {
			if l != "" && strings.EqualFold(strings.TrimSpace(l), t) {
				return p, true
			}
		}
	}
	return 0, false
}

// parseNumberAnswer parses a typed number: a decimal with a point, or with
// one comma ("3,5"). A comma followed by three digits ("1,000") could mean
// either, so it is asked again. note says what to send when t is not a
// number.
func parseNumberAnswer(t string) (x float64, note string) {
	s := t
	if i := strings.IndexByte(s, ','); i >= 0 && strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		after := s[i+1:]
		if len(after) == 3 && digitsOnly(after) {
			return 0, "Please send the number without a comma, like 1000 or 3.5."
		}
		s = s[:i] + "." + after
	}
	x, err := parseLiteralNumber(s)
	if err != nil || s == "" {
		return 0, "Please send a number, like 12 or 3.5."
	}
	return x, ""
}

// digitsOnly reports whether s is one or more ASCII digits.
func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDateAnswer parses a typed date, YYYY-MM-DD or D/M/YYYY (also with
// dots), and returns it as YYYY-MM-DD.
func parseDateAnswer(t string) (string, bool) {
	if _, err := time.Parse(time.DateOnly, t); err == nil {
		return t, true
	}
	sep := strings.IndexAny(t, "/.")
	if sep < 0 {
		return "", false
	}
	parts := [3]string{}
	rest := t
	for k := 0; k < 3; k++ {
		i := strings.IndexByte(rest, t[sep])
		if k == 2 {
			if i >= 0 {
				return "", false
			}
			parts[k] = rest
			break
		}
		if i < 0 {
			return "", false
		}
		parts[k], rest = rest[:i], rest[i+1:]
	}
	d, okD := smallNumber(strings.TrimPrefix(parts[0], "0"))
	m, okM := smallNumber(strings.TrimPrefix(parts[1], "0"))
	y, okY := smallNumber(parts[2])
	if !okD || !okM || !okY || len(parts[0]) > 2 || len(parts[1]) > 2 || len(parts[2]) != 4 {
		return "", false
	}
	date := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if date.Day() != d || int(date.Month()) != m || date.Year() != y {
		return "", false
	}
	return date.Format(time.DateOnly), true
}

// yesNoAnswer is a typed yes, no, or neither.
type yesNoAnswer int

const (
	neither yesNoAnswer = iota
	yes
	no
)

// yesNo reads a typed yes or no: yes, y, no or n in any case. lenient
// (consent and confirmations) also takes the buttons' labels and a few
// everyday words ("ok", "no thanks").
func yesNo(t string, lenient bool) yesNoAnswer {
	t = strings.TrimRight(strings.TrimSpace(t), ".! ")
	for _, w := range [...]string{"yes", "y"} {
		if strings.EqualFold(t, w) {
			return yes
		}
	}
	for _, w := range [...]string{"no", "n"} {
		if strings.EqualFold(t, w) {
			return no
		}
	}
	if !lenient {
		return neither
	}
	for _, w := range [...]string{labelConsentYes, labelWithdrawYes, "yes I agree", "I agree", "agree", "ok", "okay", "sure", "yeah", "yep"} {
		if strings.EqualFold(t, w) {
			return yes
		}
	}
	for _, w := range [...]string{labelConsentNo, labelWithdrawNo, "no thank you", "no thanks", "nope", "decline"} {
		if strings.EqualFold(t, w) {
			return no
		}
	}
	return neither
}
