package flows

import (
	"strconv"
	"strings"
	"time"
)

// The placeholders a consultation's texts may hold.
const (
	placeholderTitle    = "title"
	placeholderClosesAt = "closes_at"
	placeholderAnswers  = "answers."
)

// NoAnswer is what Pipe shows for {{answers.x}} when x has no answer.
const NoAnswer = "—"

// placeholder is one {{...}} found in a text.
type placeholder struct {
	start, end int    // byte offsets of "{{" and just after "}}"; end is -1 when not closed
	name       string // between the braces, trimmed
}

// placeholders returns the {{...}} in s, in order. An opening "{{" without
// a closing "}}" is returned with end -1, and ends the scan.
func placeholders(s string) []placeholder {
	var ps []placeholder
	off := 0
	for {
		i := strings.Index(s[off:], "{{")
		if i < 0 {
			return ps
		}
		start := off + i
		j := strings.Index(s[start+2:], "}}")
		if j < 0 {
			return append(ps, placeholder{start: start, end: -1})
		}
		end := start + 2 + j + 2
		ps = append(ps, placeholder{start: start, end: end, name: strings.TrimSpace(s[start+2 : end-2])})
		off = end
	}
}

// Pipe fills in the placeholders of a text: {{answers.<question id>}} with
// the answer as a person would read it (an option's label rather than its
// value, a date written out), {{title}} with the consultation's title and
// {{closes_at}} with its closing time in the consultation's time zone. lang
// picks the language of labels and title ("" for the file's language).
// Unknown placeholders are left as they are; an unanswered question gives
// NoAnswer.
func Pipe(text string, answers map[string]Answer, c *Consultation, lang string) string {
	ps := placeholders(text)
	if len(ps) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, p := range ps {
		if p.end < 0 {
			break
		}
		v, ok := pipeValue(p.name, answers, c, lang)
		if !ok {
			continue
		}
		b.WriteString(text[last:p.start])
		b.WriteString(v)
		last = p.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// pipeValue returns what a placeholder stands for, and false for an
// unknown placeholder.
func pipeValue(name string, answers map[string]Answer, c *Consultation, lang string) (string, bool) {
	fallback := "en"
	if c != nil && c.Language != "" {
		fallback = c.Language
	}
	if lang == "" {
		lang = fallback
	}
	switch {
	case name == placeholderTitle:
		if c == nil {
			return "", false
		}
		return c.Title.In(lang, fallback), true
	case name == placeholderClosesAt:
		if c == nil {
			return "", false
		}
		if c.ClosesAt.IsZero() {
			return "", true
		}
		return ReadableTime(c.ClosesAt, c.Location), true
	case strings.HasPrefix(name, placeholderAnswers):
		id := name[len(placeholderAnswers):]
		a, ok := answers[id]
		if !ok {
			return NoAnswer, true
		}
		var q *Question
		if c != nil {
			if i := c.QuestionIndex(id); i >= 0 {
				q = &c.Questions[i]
			}
		}
		return readableAnswer(a, q, lang, fallback), true
	}
	return "", false
}

// ReadableTime writes t in loc (UTC when nil) as a person would read it:
// "Sunday 20 December 2026, 17:00 GMT".
func ReadableTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("Monday 2 January 2006, 15:04 MST")
}

// readableAnswer writes an answer as a person would read it. q may be nil
// when the question is not known.
func readableAnswer(a Answer, q *Question, lang, fallback string) string {
	label := func(v string) string {
		if q != nil {
			for _, o := range q.Options {
				if o.Value == v {
					return o.Label.In(lang, fallback)
				}
			}
		}
		return v
	}
	switch a.Type {
	case TypeScale, TypeNumber:
		s := strconv.FormatFloat(a.Number, 'f', -1, 64)
		if a.Type == TypeScale && q != nil && a.Number == float64(int(a.Number)) {
			if l, ok := q.Labels[int(a.Number)]; ok {
				if t := l.In(lang, fallback); t != "" {
					s += " (" + t + ")"
				}
			}
		}
		return s
	case TypeMulti:
		if len(a.Values) == 0 {
			return NoAnswer
		}
		ls := make([]string, len(a.Values))
		for i, v := range a.Values {
			ls[i] = label(v)
		}
		return strings.Join(ls, ", ")
	case TypeChoice:
		return label(a.Text)
	case TypeDate:
		d, err := time.Parse(time.DateOnly, a.Text)
		if err != nil {
			return a.Text
		}
		return d.Format("Monday 2 January 2006")
	}
	if a.Text == "" {
		return NoAnswer
	}
	return a.Text
}
