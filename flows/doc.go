// Package flows reads consultation files and runs consultations through
// them, without touching the network, the clock or a database: time and
// input are parameters, and results are values.
//
// # Files
//
// A consultation is one YAML file. Parse (or ParseFile, ParseFiles, LoadDir)
// reads and checks it, and reports every problem at once as Errors, each
// naming the file, line and column. A small one:
//
//	id: checkin
//	title: {en: Action group check-in, cy: Gwirio i mewn y grŵp gweithredu}
//	timezone: Europe/London
//	consent:
//	  version: 1
//	  text: Three quick questions about our next meeting. You can stop at any time.
//	questions:
//	  - id: coming
//	    type: yesno
//	    text: Can you come to the next meeting?
//	  - id: topics
//	    type: multi
//	    text: What should we talk about?
//	    options: [Housing, Benefits, {value: gp, label: Seeing a GP}]
//	    when: coming == yes
//	  - id: other
//	    type: text
//	    text: You picked {{answers.topics}}. Is there anything else?
//	    when: topics lacks gp
//	    optional: true
//	closes_at: 2026-12-03T12:00
//	reminders:
//	  - after: 2d
//	  - before_close: 1d
//	    text: The check-in closes on {{closes_at}}.
//
// Questions are asked in order; one with a `when` is asked only if its
// condition holds for the answers given before it (Condition.Holds), and
// skipped otherwise: a comparison with a question that was not answered is
// false. Texts may be one string or one per language, and may hold
// placeholders that Pipe fills in: {{answers.<question id>}}, {{title}} and
// {{closes_at}}. Durations (ParseDuration) are Go's plus d and w; quiet
// hours (ParseQuietHours) are "21:00-09:00" or none.
//
// # The engine
//
// Consultation.Advance is a pure function of a Session, one Input and the
// time: it returns the new Session and the Replies to send, and sends
// nothing itself. A caller loads the session, advances it, stores the
// result with one conditional write, and queues the replies:
//
//	c, err := flows.ParseFile("examples/action-group-checkin.yaml")
//	if err != nil {
//		return err // flows.Errors: one line per problem
//	}
//	s, replies, err := c.Advance(s, flows.Input{Participant: "tg:42", Text: "/start"}, now)
//	// store s (and s.Answers), then queue replies in the outbox
//
// Answers are typed by their question (Answer.Value): a number for scale
// and number questions, a list of option values for multi, a string
// otherwise (a choice's value, "yes" or "no", a date as YYYY-MM-DD).
package flows
