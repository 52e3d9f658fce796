package scheduler

import (
	"strings"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// render fills the placeholders of a reminder or schedule text with
// flows.Pipe ({{title}}, {{answers.<question id>}}; answers is nil for
// anonymous consultations), except that {{closes_at}} is written in loc,
// the recipient's zone, rather than the consultation's.
func render(text string, answers map[string]flows.Answer, c *flows.Consultation, lang string, loc *time.Location) string {
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			break
		}
		end := i + 2 + j + 2
		b.WriteString(rest[:i])
		if strings.TrimSpace(rest[i+2:end-2]) == "closes_at" {
			if !c.ClosesAt.IsZero() {
				b.WriteString(flows.ReadableTime(c.ClosesAt, loc))
			}
		} else {
			b.WriteString(rest[i:end])
		}
		rest = rest[end:]
	}
	b.WriteString(rest)
	return flows.Pipe(b.String(), answers, c, lang)
}
