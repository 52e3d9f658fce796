package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/consultbot/consultbot/flows"
)

// bigConsultation writes a valid consultation of n questions of every
// type, with conditions, piped answers, reminders and labels.
func bigConsultation(n int) []byte {
	var b strings.Builder
	b.WriteString("id: big\ntitle: {en: A long consultation, cy: Ymgynghoriad hir}\ntimezone: Europe/London\n")
	b.WriteString("consent:\n  version: 1\n  text: |\n    Thank you for helping.\n    You can stop at any time.\nquestions:\n")
	for i := range n {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, "  - id: q%d\n    type: scale\n    text: How clear is draft question %d?\n    min: 1\n    max: 5\n    labels: {1: Very unclear, 5: Very clear}\n", i, i)
		case 1:
			fmt.Fprintf(&b, "  - id: q%d\n    type: text\n    text: You gave it {{answers.q%d}}. How would you word it instead?\n    when: q%d <= 3\n    optional: true\n    max_length: 1000\n", i, i-1, i-1)
		case 2:
			fmt.Fprintf(&b, "  - id: q%d\n    type: choice\n    text: Keep, change or drop it?\n    options:\n      - {value: keep, label: {en: Keep it, cy: Cadw}}\n      - {value: change, label: {en: Change it, cy: Newid}}\n      - {value: drop, label: {en: Drop it, cy: Gollwng}}\n", i)
		case 3:
			fmt.Fprintf(&b, "  - id: q%d\n    type: multi\n    text: What should we talk about?\n    options: [Housing, Benefits, Health, Work, Family]\n    min: 1\n    max: 3\n    when: q%d != drop and q%d >= 2 or q%d == keep\n", i, i-1, i-3, i-1)
		case 4:
			fmt.Fprintf(&b, "  - id: q%d\n    type: yesno\n    text: Is anything missing?\n    when: q%d has Housing\n", i, i-1)
		case 5:
			fmt.Fprintf(&b, "  - id: q%d\n    type: number\n    text: How many meetings have you been to?\n    min: 0\n    max: 100\n", i)
		case 6:
			fmt.Fprintf(&b, "  - id: q%d\n    type: date\n    text: When could you next come?\n    when: q%d == yes\n    optional: true\n", i, i-2)
		}
	}
	b.WriteString("closing: Thank you. You said {{answers.q1}}.\nreminders:\n  - after: 2d\n    max: 2\n  - cron: \"0 10 * * MON\"\n    text: The consultation closes on {{closes_at}}.\n  - before_close: 24h\ncloses_at: 2026-12-20T17:00:00Z\n")
	return []byte(b.String())
}

// BenchmarkParse200 parses and checks a file of 200 questions.
func BenchmarkParse200(b *testing.B) {
	data := bigConsultation(200)
	if _, err := flows.Parse("big.yaml", data); err != nil {
		b.Fatalf("Parse: %v", err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := flows.Parse("big.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBroken200 parses the same file with an error in every
// question, so that every error message is built.
func BenchmarkParseBroken200(b *testing.B) {
	data := []byte(strings.ReplaceAll(string(bigConsultation(200)), "text: ", "txt: "))
	if _, err := flows.Parse("big.yaml", data); err == nil {
		b.Fatal("Parse accepted a broken file")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := flows.Parse("big.yaml", data); err == nil {
			b.Fatal("Parse accepted a broken file")
		}
	}
}
