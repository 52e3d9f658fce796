package flows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrOtherConsultation is returned by Advance when the session belongs to
// another consultation: a caller's mistake, never a participant's.
var ErrOtherConsultation = errors.New("flows: the session belongs to another consultation")

// confirmWithdraw is Session.Confirm while a /withdraw waits for yes or no.
const confirmWithdraw = "withdraw"

// Advance is the engine's step function: it takes where a participant
// stands, one thing they did and the time, and returns where they stand
// now and the replies to send. It never changes s (its maps and slices are
// copied before they are written), never reads the clock, never sleeps and
// never performs I/O.
//
// The error is only for misuse: a session of another consultation
// (ErrOtherConsultation) or a nil consultation. Input that makes no sense
// gets a kind re-ask, not an error.
//
// A pressed button that does not belong to the message asked now (an
// earlier message, or data the engine never made) is explained and the
// current step asked again, and the session is returned exactly as given.
func (c *Consultation) Advance(s Session, in Input, now time.Time) (Session, []Reply, error) {
	if c == nil {
		return s, nil, errors.New("flows: Advance called on a nil consultation")
	}
	if s.Consultation != "" && s.Consultation != c.ID {
		return s, nil, fmt.Errorf("%w: the session is for %q, the consultation is %q", ErrOtherConsultation, s.Consultation, c.ID)
	}
	if in.Command == "" && in.Choice == "" {
		in.Command, in.Arg = typedCommand(in.Text, in.Arg)
	}
	st := newStep(c, s, in, now)
	st.run()
	if st.keep {
		return s, st.replies, nil
	}
	st.s.Updated = now
	return st.s, st.replies, nil
}

// Ask returns the replies that ask again where s stands (the current
// question, the consent, or a pending yes/no), without changing anything:
// for when a message may not have arrived. A session that takes no more
// answers gets the message that says so; a new session gets nothing.
func (c *Consultation) Ask(s Session, now time.Time) []Reply {
	if c == nil || s.Status == StatusNew {
		return nil
	}
	st := newStep(c, s, Input{Channel: s.Channel}, now)
	switch {
	case c.notOpen(now):
		st.say(st.v.opensOn(c))
	case c.closed(now) && !s.Status.Ended():
		st.say(st.v.closedOn(c))
	case s.Confirm != "":
		st.askConfirm("")
	case s.Status == StatusConsent:
		st.reply(st.consentReply(""))
	default:
		st.where()
	}
	return st.replies
}

// typedCommand reads a command a channel passed on as text: "/pause", or
// "/start@somebot code" as Telegram writes it in a group. Other text gives
// no command.
func typedCommand(text, arg string) (Command, string) {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '/' {
		return "", arg
	}
	word, rest, _ := strings.Cut(t[1:], " ")
	word, _, _ = strings.Cut(word, "@")
	for _, c := range Commands {
		if strings.EqualFold(word, string(c)) {
			return c, strings.TrimSpace(rest)
		}
	}
	return "", arg
}

// notOpen reports whether the consultation has not opened yet at now.
func (c *Consultation) notOpen(now time.Time) bool {
	return !c.OpensAt.IsZero() && now.Before(c.OpensAt)
}

// closed reports whether the consultation has closed at now.
func (c *Consultation) closed(now time.Time) bool {
	return !c.ClosesAt.IsZero() && !now.Before(c.ClosesAt)
}

// step is one call of Advance: the session being built, and the replies.
type step struct {
	c       *Consultation
	s       Session // a copy of the input session; its maps and slices are shared until written
	in      Input
	now     time.Time
	lang    string // the session's language ("" for the file's)
	v       voice  // how the channel says commands
	replies []Reply
	keep    bool // return the input session unchanged, not even Updated
	ownMap  bool // s.Answers is this step's own copy
}

func newStep(c *Consultation, s Session, in Input, now time.Time) step {
	ch := in.Channel
	if ch == "" {
		ch = s.Channel
	}
	return step{c: c, s: s, in: in, now: now, lang: s.Language, v: voiceOf(ch), replies: make([]Reply, 0, 2)}
}

// reply adds a reply.
func (st *step) reply(r Reply) { st.replies = append(st.replies, r) }

// say adds a plain text reply.
func (st *step) say(text string) { st.replies = append(st.replies, Reply{Text: text}) }

// unchanged marks the step as recording nothing and says text.
func (st *step) unchanged(text string) {
	st.keep = true
	st.say(text)
}

// run dispatches the input.
func (st *step) run() {
	c, s, in := st.c, &st.s, st.in
	if c.notOpen(st.now) {
		st.unchanged(st.v.opensOn(c))
		return
	}
	if s.Status == StatusNew {
		if c.closed(st.now) {
			st.unchanged(st.v.closedOn(c))
			return
		}
		st.begin()
		return
	}
	if c.closed(st.now) {
		if !st.closedInput() {
			return
		}
	}
	if s.Confirm != "" {
		st.confirming()
		return
	}
	switch {
	case in.Command != "":
		st.command(in.Command)
	case in.Choice != "":
		st.press(in.Choice)
	default:
		st.text(in.Text)
	}
}

// closedInput handles input after the consultation closed: a session that
// had not ended is closed, and only the participant's rights (/mydata,
// /withdraw and its confirmation) and /help go on. It reports whether the
// input should be handled further.
func (st *step) closedInput() bool {
	s, in := &st.s, st.in
	changed := false
	if !s.Status.Ended() {
		s.Status, s.Finished, s.Selected = StatusClosed, st.now, nil
		changed = true
	}
	switch {
	case in.Command == CmdMyData || in.Command == CmdWithdraw || in.Command == CmdHelp:
		return true
	case s.Confirm != "" && in.Command == "":
		return true
	}
	if changed {
		st.say(st.v.closedOn(st.c))
	} else {
		st.unchanged(st.v.closedOn(st.c))
	}
	return false
}

// begin starts a new session: the consent comes first.
func (st *step) begin() {
	c, s := st.c, &st.s
	s.Consultation = c.ID
	s.Hash = c.Hash
	s.Channel = st.in.Channel
	s.Language = c.language(st.in.Language)
	st.lang = s.Language
	s.Started = st.now
	s.Answers, s.Asked, s.Selected, s.Question, s.Confirm = nil, nil, nil, "", ""
	st.askConsent()
}

// language returns the language code of the file's texts that matches
// lang ("en-GB" matches en), or "" when the file does not have it.
func (c *Consultation) language(lang string) string {
	if lang == "" {
		return ""
	}
	for _, l := range []string{lang, baseLanguage(lang)} {
		if _, ok := c.Consent.Text[l]; ok && l != "" {
			return l
		}
		if _, ok := c.Title[l]; ok && l != "" {
			return l
		}
	}
	return ""
}

// baseLanguage returns "en" for "en-GB" or "en_GB".
func baseLanguage(lang string) string {
	for i := 0; i < len(lang); i++ {
		if lang[i] == '-' || lang[i] == '_' {
			return lang[:i]
		}
	}
	return lang
}

// askConsent moves to the consent step and asks it in full.
func (st *step) askConsent() {
	s := &st.s
	s.Status = StatusConsent
	s.Finished = time.Time{}
	s.Turn++
	st.reply(st.consentReply(""))
}

// consentGiven records consent and asks the first question.
func (st *step) consentGiven() {
	s := &st.s
	s.Status = StatusActive
	s.ConsentVersion = st.c.Consent.Version
	s.Finished = time.Time{}
	s.Answers, s.Asked, s.Selected, s.Question = nil, nil, nil, ""
	st.ownMap = false
	st.forward(-1)
}

// declined ends the session at the consent step: nothing is recorded.
func (st *step) declined(msg string) {
	s := &st.s
	s.Status = StatusDeclined
	s.Answers, s.Asked, s.Selected, s.Question, s.Confirm = nil, nil, nil, "", ""
	s.Finished = st.now
	st.say(msg)
}

// command handles a command outside a pending confirmation.
func (st *step) command(cmd Command) {
	s, v := &st.s, st.v
	if !slices.Contains(Commands, cmd) {
		st.say(joinNote("Sorry, I don't know that command.", v.help()))
		cmd = CmdHelp
	}
	switch cmd {
	case CmdHelp:
		if len(st.replies) == 0 {
			st.say(v.help())
		}
		switch s.Status {
		case StatusConsent:
			st.reply(st.consentReply(""))
		case StatusActive:
			st.askCurrent("")
		}
		return
	case CmdMyData:
		st.myData()
		return
	case CmdWithdraw:
		st.withdraw()
		return
	}
	switch s.Status {
	case StatusConsent:
		switch cmd {
		case CmdStop:
			st.declined(v.declined())
		case CmdPause:
			st.reply(st.consentReply(msgNothingToPause))
		case CmdSkip, CmdBack:
			st.reply(st.consentShort(msgConsentFirst))
		default: // start, resume
			st.reply(st.consentReply(""))
		}
	case StatusActive:
		switch cmd {
		case CmdSkip:
			st.skip()
		case CmdBack:
			st.back()
		case CmdPause:
			s.Status = StatusPaused
			st.say(v.paused())
		case CmdStop:
			st.stop()
		default: // start, resume
			st.askCurrent("")
		}
	case StatusPaused, StatusStopped:
		switch cmd {
		case CmdStart, CmdResume:
			st.resume()
		case CmdStop:
			st.stop()
		case CmdPause:
			if s.Status == StatusPaused {
				st.say(v.stillPaused())
			} else {
				st.say(v.stopped())
			}
		default: // skip, back
			if s.Status == StatusPaused {
				st.unchanged(v.stillPaused())
			} else {
				st.unchanged(v.stopped())
			}
		}
	case StatusDeclined:
		switch cmd {
		case CmdStop, CmdPause:
			st.say(v.stillDeclined())
		default:
			st.askConsent()
		}
	default: // completed, withdrawn, closed
		st.where()
	}
}

// text handles typed text outside a pending confirmation.
func (st *step) text(t string) {
	s := &st.s
	switch s.Status {
	case StatusConsent:
		switch yesNo(t, true) {
		case yes:
			st.consentGiven()
		case no:
			st.declined(st.v.declined())
		default:
			st.reply(st.consentShort(st.v.answerYesNo()))
		}
	case StatusActive:
		qi, ok := st.current()
		if !ok {
			return
		}
		st.typed(qi, t)
	case StatusDeclined:
		st.askConsent()
	default: // paused, stopped, completed, withdrawn, closed: nothing is recorded
		st.keep = true
		st.where()
	}
}

// press handles a pressed button outside a pending confirmation.
func (st *step) press(data string) {
	s := &st.s
	p, ok := parsePress(data)
	if ok && p.turn != s.Turn {
		ok = false
	}
	switch s.Status {
	case StatusConsent:
		switch {
		case ok && p.kind == pressYes:
			st.edit(st.consentText(), labelConsentYes, "")
			st.consentGiven()
		case ok && p.kind == pressNo:
			st.edit(st.consentText(), labelConsentNo, "")
			st.declined(st.v.declined())
		default:
			st.stale()
		}
	case StatusActive:
		qi, found := st.current()
		if !found {
			return
		}
		if !ok || !st.pressed(qi, p) {
			st.stale()
		}
	case StatusPaused:
		if !ok {
			st.stale()
			return
		}
		st.unchanged(st.v.stillPaused())
	case StatusDeclined:
		if ok && p.kind == pressYes {
			// The consent message still had its buttons: they changed their mind.
			st.edit(st.consentText(), labelConsentYes, "")
			st.consentGiven()
			return
		}
		st.stale()
	default: // stopped, completed, withdrawn, closed
		st.stale()
	}
}

// stale answers a button that is not part of the message asked now: the
// session stays exactly as it was.
func (st *step) stale() {
	st.keep = true
	st.replies = st.replies[:0]
	st.where1(msgStaleButton)
}

// where says where the session stands: the current question, the
// consent, or what its status means.
func (st *step) where() { st.where1("") }

// where1 is where with a note put before it.
func (st *step) where1(note string) {
	s, v := &st.s, st.v
	if s.Confirm != "" {
		st.askConfirm(note)
		return
	}
	var msg string
	switch s.Status {
	case StatusConsent:
		st.reply(st.consentShort(joinNote(note, "")))
		return
	case StatusActive:
		qi := st.c.QuestionIndex(s.Question)
		if qi >= 0 {
			st.reply(st.questionReply(qi, note, false))
			return
		}
		msg = v.carryOn()
	case StatusPaused:
		msg = v.stillPaused()
	case StatusStopped:
		msg = v.stopped()
	case StatusCompleted:
		msg = v.finished(st.c.Anonymous)
	case StatusDeclined:
		msg = v.stillDeclined()
	case StatusWithdrawn:
		msg = msgWithdrawnAlready
	case StatusClosed:
		msg = v.closedOn(st.c)
	default:
		return
	}
	st.say(joinNote(note, msg))
}

// current returns the index of the question asked now. When it is gone
// (the file changed under a session) the session moves on to the next
// question that is there, and ok is false: the input was for a question
// that no longer exists.
func (st *step) current() (qi int, ok bool) {
	s := &st.s
	if qi := st.c.QuestionIndex(s.Question); qi >= 0 {
		return qi, true
	}
	from := -1
	for k := len(s.Asked) - 1; k >= 0; k-- {
		if j := st.c.QuestionIndex(s.Asked[k]); j >= 0 {
			from = j
			break
		}
	}
	st.forward(from)
	return -1, false
}

// askCurrent asks the current question again, without a new turn.
func (st *step) askCurrent(note string) {
	if qi, ok := st.current(); ok {
		st.reply(st.questionReply(qi, note, false))
	}
}

// resume carries on after /pause or /stop.
func (st *step) resume() {
	s := &st.s
	s.Status = StatusActive
	s.Finished = time.Time{}
	st.askCurrent("")
}

// stop ends the session for now; /resume carries on.
func (st *step) stop() {
	s := &st.s
	s.Status = StatusStopped
	s.Finished = st.now
	st.say(st.v.stoppedNow())
}

// setAnswer stores an answer, copying the answers map first.
func (st *step) setAnswer(id string, a Answer) {
	st.ownAnswers(1)
	st.s.Answers[id] = a
}

// deleteAnswer removes an answer, if there is one.
func (st *step) deleteAnswer(id string) {
	if _, ok := st.s.Answers[id]; !ok {
		return
	}
	st.ownAnswers(0)
	delete(st.s.Answers, id)
}

// ownAnswers makes s.Answers this step's own map, with room for more.
func (st *step) ownAnswers(more int) {
	if st.ownMap {
		return
	}
	m := make(map[string]Answer, len(st.s.Answers)+more)
	for k, a := range st.s.Answers {
		m[k] = a
	}
	st.s.Answers = m
	st.ownMap = true
}

// answered stores the answer to question qi and moves on.
func (st *step) answered(qi int, a Answer) {
	st.setAnswer(st.c.Questions[qi].ID, a)
	st.s.Selected = nil
	st.prune(qi)
	st.forward(qi)
}

// prune removes the answers of questions after qi whose `when` no longer
// holds: changing an answer can leave a branch behind.
func (st *step) prune(qi int) {
	qs := st.c.Questions
	for j := qi + 1; j < len(qs); j++ {
		q := &qs[j]
		if q.When == nil {
			continue
		}
		if _, ok := st.s.Answers[q.ID]; ok && !q.When.Holds(st.s.Answers) {
			st.deleteAnswer(q.ID)
		}
	}
}

// forward asks the first question after index from whose `when` holds,
// removing the answers of the questions it passes; after the last
// question the session is completed.
func (st *step) forward(from int) {
	qs := st.c.Questions
	for j := from + 1; j < len(qs); j++ {
		q := &qs[j]
		if q.When == nil || q.When.Holds(st.s.Answers) {
			st.askNew(j)
			return
		}
		st.deleteAnswer(q.ID)
	}
	st.complete()
}

// askNew makes question qi the current one, on a new turn, and asks it.
func (st *step) askNew(qi int) {
	s := &st.s
	q := &st.c.Questions[qi]
	asked := make([]string, len(s.Asked)+1)
	copy(asked, s.Asked)
	asked[len(s.Asked)] = q.ID
	s.Asked = asked
	st.setCurrent(qi)
	st.reply(st.questionReply(qi, "", false))
}

// setCurrent makes question qi the current one on a new turn; a multi
// question starts with the ticks of its answer, if it has one.
func (st *step) setCurrent(qi int) {
	s := &st.s
	q := &st.c.Questions[qi]
	s.Question = q.ID
	s.Turn++
	s.Selected = nil
	if q.Type == TypeMulti {
		s.Selected = selectedFrom(s.Answers, q.ID)
	}
}

// selectedFrom returns a copy of the values of a multi answer.
func selectedFrom(answers map[string]Answer, id string) []string {
	a, ok := answers[id]
	if !ok || len(a.Values) == 0 {
		return nil
	}
	return slices.Clone(a.Values)
}

// complete ends the session at the end of the questions.
func (st *step) complete() {
	s := &st.s
	s.Status = StatusCompleted
	s.Question = ""
	s.Selected = nil
	s.Finished = st.now
	st.say(st.closingText())
}

// skip handles /skip on the current question.
func (st *step) skip() {
	qi, ok := st.current()
	if !ok {
		return
	}
	q := &st.c.Questions[qi]
	if !q.Optional {
		st.reply(st.questionReply(qi, st.v.needsAnswer(), false))
		return
	}
	st.skipped(qi)
}

// skipped leaves optional question qi without an answer and moves on.
func (st *step) skipped(qi int) {
	st.deleteAnswer(st.c.Questions[qi].ID)
	st.s.Selected = nil
	st.prune(qi)
	st.forward(qi)
}

// back goes to the question asked before the current one.
func (st *step) back() {
	s := &st.s
	qi, ok := st.current()
	if !ok {
		return
	}
	p := len(s.Asked)
	for k := len(s.Asked) - 1; k >= 0; k-- {
		if s.Asked[k] == s.Question {
			p = k
			break
		}
	}
	for k := p - 1; k >= 0; k-- {
		j := st.c.QuestionIndex(s.Asked[k])
		if j < 0 {
			continue
		}
		s.Asked = slices.Clip(s.Asked[:k+1])
		st.setCurrent(j)
		st.reply(st.questionReply(j, "", false))
		return
	}
	st.reply(st.questionReply(qi, msgNothingBefore, false))
}

// withdraw asks to confirm a /withdraw.
func (st *step) withdraw() {
	s, v := &st.s, st.v
	switch s.Status {
	case StatusConsent:
		st.declined(msgNothingRecorded)
	case StatusDeclined:
		st.say(v.stillDeclined())
	case StatusWithdrawn:
		st.say(msgWithdrawnAlready)
	default:
		s.Confirm = confirmWithdraw
		s.Turn++
		st.askConfirm("")
	}
}

// confirming handles input while a yes/no confirmation is pending.
func (st *step) confirming() {
	s, in := &st.s, st.in
	switch {
	case in.Command == CmdWithdraw:
		st.askConfirm("")
	case in.Command == CmdHelp:
		st.say(st.v.help())
		st.askConfirm("")
	case in.Command != "":
		// Another command: the participant moved on.
		s.Confirm = ""
		s.Turn++
		st.command(in.Command)
	case in.Choice != "":
		p, ok := parsePress(in.Choice)
		switch {
		case ok && p.turn == s.Turn && p.kind == pressYes:
			st.edit(st.confirmText(), labelWithdrawYes, "")
			st.withdrawn()
		case ok && p.turn == s.Turn && p.kind == pressNo:
			st.edit(st.confirmText(), labelWithdrawNo, "")
			st.kept()
		default:
			st.stale()
		}
	default:
		switch yesNo(in.Text, true) {
		case yes:
			st.withdrawn()
		case no:
			st.kept()
		default:
			st.askConfirm(st.v.answerYesNo())
		}
	}
}

// withdrawn carries out a confirmed /withdraw.
func (st *step) withdrawn() {
	s := &st.s
	untraceable := st.c.Anonymous && s.Status == StatusCompleted
	s.Status = StatusWithdrawn
	s.Answers, s.Asked, s.Selected, s.Question, s.Confirm = nil, nil, nil, "", ""
	s.Finished = st.now
	if untraceable {
		st.say(msgWithdrawnAnonymous)
	} else {
		st.say(msgWithdrawn)
	}
}

// kept cancels a /withdraw and goes back to where the session was.
func (st *step) kept() {
	s := &st.s
	s.Confirm = ""
	s.Turn++
	switch s.Status {
	case StatusActive:
		st.askCurrent(msgKept)
	default:
		st.where1(msgKept)
	}
}

// myData shows the participant their answers.
func (st *step) myData() {
	s, v := &st.s, st.v
	switch s.Status {
	case StatusConsent:
		st.reply(st.consentShort(msgNothingYet))
	case StatusDeclined:
		st.say(v.stillDeclined())
	case StatusWithdrawn:
		st.say(msgWithdrawnAlready)
	case StatusCompleted:
		if st.c.Anonymous {
			st.say(msgAnonymousData)
			return
		}
		st.say(st.answersText("Your answers:"))
	case StatusActive:
		st.say(st.answersText("Your answers so far:"))
		st.askCurrent("")
	default:
		st.say(st.answersText("Your answers so far:"))
	}
}
