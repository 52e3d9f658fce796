package flows_test

import (
	"fmt"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// A participant in the terminal agrees, answers two questions and
// finishes. Advance is pure: the caller keeps the session and sends the
// replies.
func ExampleConsultation_Advance() {
	c, err := flows.Parse("checkin.yaml", []byte(`
id: checkin
title: Action group check-in
consent:
  version: 1
  text: Two quick questions about our next meeting.
questions:
  - id: coming
    type: yesno
    text: Can you come to the meeting?
  - id: topics
    type: multi
    text: What should we talk about?
    options: [Housing, Benefits, {value: gp, label: Seeing a GP}]
    when: coming == yes
closing: Thank you, see you there.
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var s flows.Session
	for _, in := range []flows.Input{
		{Channel: "console", Command: flows.CmdStart},
		{Channel: "console", Text: "yes"},
		{Channel: "console", Text: "y"},
		{Channel: "console", Text: "1, 3"},
	} {
		var replies []flows.Reply
		s, replies, err = c.Advance(s, in, now)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range replies {
			fmt.Println(r.Text)
			fmt.Println("--")
		}
	}
	fmt.Println(s.Status, s.Answers["coming"].Text, s.Answers["topics"].Values)
	// Output:
	// Action group check-in
	//
	// Two quick questions about our next meeting.
	//
	// You can pause, stop or withdraw at any time: type pause, stop or withdraw.
	//
	// Do you agree to take part?
	// --
	// Can you come to the meeting?
	// Type yes or no.
	// --
	// What should we talk about?
	// --
	// Thank you, see you there.
	//
	// Type mydata to see a copy of your answers.
	// --
	// completed yes [Housing gp]
}
