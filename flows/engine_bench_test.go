package flows

import (
	"testing"
	"time"
)

// benchConsultation has ten questions of every type, two of them with a
// condition, as a real consultation might.
const benchConsultation = `id: bench
title: Ten questions
consent: {version: 1, text: Ten questions about our work.}
questions:
  - {id: q1, type: scale, text: 'How clear was the first draft?', min: 1, max: 5, labels: {1: Very unclear, 5: Very clear}}
  - {id: q2, type: text, text: 'How would you word it?', when: q1 <= 3, optional: true}
  - {id: q3, type: choice, text: 'Which best describes you?', options: [Person with lived experience, Peer mentor, Professional, Prefer not to say]}
  - {id: q4, type: multi, text: 'Which topics matter most?', options: [Housing, Benefits, Health, Transport, Work], max: 3}
  - {id: q5, type: yesno, text: 'Would you come to a meeting?'}
  - {id: q6, type: number, text: 'How many people would come with you?', min: 0, max: 10, when: q5 == yes}
  - {id: q7, type: date, text: 'Which date suits you?'}
  - {id: q8, type: scale, text: 'How useful was the last meeting?', min: 1, max: 5, labels: {1: Not useful, 3: Somewhat, 5: Very useful}}
  - {id: q9, type: choice, text: 'How did you hear about us?', options: [A friend, A charity, Social media, Other]}
  - {id: q10, type: text, text: 'Anything else, {{answers.q3}}?', optional: true}
closing: Thank you.
`

// benchSession is a session of benchConsultation standing at question id
// with the questions before it answered.
func benchSession(b *testing.B, c *Consultation, upTo string) Session {
	b.Helper()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	answers := map[string]string{"q1": "4", "q3": "2", "q4": "1, 3", "q5": "yes", "q6": "2", "q7": "2026-12-01", "q8": "5", "q9": "1"}
	s, _, _ := c.Advance(Session{}, Input{Channel: channelTelegram, Command: CmdStart}, now)
	s, _, _ = c.Advance(s, Input{Channel: channelTelegram, Text: "yes"}, now)
	for s.Question != upTo {
		next, _, err := c.Advance(s, Input{Channel: channelTelegram, Text: answers[s.Question]}, now)
		if err != nil || next.Question == s.Question {
			b.Fatalf("could not answer %s", s.Question)
		}
		s = next
	}
	return s
}

// BenchmarkAdvance measures one engine step on a ten-question
// consultation, from a session half way through.
func BenchmarkAdvance(b *testing.B) {
	c := parseTest(b, benchConsultation)
	now := time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		at   string
		in   func(s Session, r []Reply) Input
	}{
		{"typed scale answer", "q8", func(Session, []Reply) Input { return Input{Channel: channelTelegram, Text: "4"} }},
		{"button scale answer", "q8", func(_ Session, r []Reply) Input {
			return Input{Channel: channelTelegram, Choice: r[0].Choices[3].Data, Ref: "m"}
		}},
		{"button choice answer", "q9", func(_ Session, r []Reply) Input {
			return Input{Channel: channelTelegram, Choice: r[0].Choices[1].Data, Ref: "m"}
		}},
		{"multi tick", "q4", func(_ Session, r []Reply) Input {
			return Input{Channel: channelTelegram, Choice: r[0].Choices[2].Data, Ref: "m"}
		}},
		{"typed date", "q7", func(Session, []Reply) Input { return Input{Channel: channelTelegram, Text: "1/12/2026"} }},
		{"invalid answer", "q8", func(Session, []Reply) Input { return Input{Channel: channelTelegram, Text: "seven"} }},
		{"stale button", "q8", func(Session, []Reply) Input { return Input{Channel: channelTelegram, Choice: "a1.0", Ref: "m"} }},
		{"back", "q8", func(Session, []Reply) Input { return Input{Channel: channelTelegram, Command: CmdBack} }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := benchSession(b, c, tc.at)
			in := tc.in(s, c.Ask(s, now))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.Advance(s, in, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdvanceWholeRun measures a participant's whole way through the
// ten questions, by typing; ns/step is the mean of its 12 steps.
func BenchmarkAdvanceWholeRun(b *testing.B) {
	c := parseTest(b, benchConsultation)
	now := time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC)
	inputs := []Input{{Command: CmdStart}, {Text: "yes"}, {Text: "2"}, {Text: "Plainer words"}, {Text: "Peer mentor"},
		{Text: "1, 3"}, {Text: "yes"}, {Text: "2"}, {Text: "2026-12-01"}, {Text: "5"}, {Text: "A friend"}, {Text: "No, thanks"}}
	for i := range inputs {
		inputs[i].Channel = channelTelegram
	}
	b.ReportAllocs()
	for b.Loop() {
		var s Session
		for _, in := range inputs {
			var err error
			if s, _, err = c.Advance(s, in, now); err != nil {
				b.Fatal(err)
			}
		}
		if s.Status != StatusCompleted {
			b.Fatalf("got status %q, want completed", s.Status)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(inputs)), "ns/step")
}
