package flows

import (
	"strconv"
	"strings"
)

// The engine's own phrases. They are English; the consultation's texts
// come in the session's language.
const (
	msgConsentQuestion    = "Do you agree to take part?"
	msgConsentFirst       = "Please answer yes or no first."
	msgNothingToPause     = "There's nothing to pause yet: nothing is recorded until you agree to take part."
	msgNothingYet         = "Nothing has been recorded yet."
	msgNothingRecorded    = "Nothing has been recorded, so there is nothing to delete. Thank you for your time."
	msgStaleButton        = "That button belongs to an earlier message."
	msgNothingBefore      = "This is the first question: there is nothing before it."
	msgKept               = "Nothing has been deleted: your answers are kept."
	msgConfirmWithdraw    = "Do you want to withdraw from this consultation? Your answers will be deleted, and this can't be undone."
	msgConfirmAnonymous   = "Do you want to withdraw from this consultation? Your finished answers were stored without any link to you, so they can't be traced back to you or deleted."
	msgWithdrawn          = "You have withdrawn from this consultation. Your answers are being deleted. Thank you for your time."
	msgWithdrawnAnonymous = "You have withdrawn from this consultation. Your finished answers were stored without any link to you, so they can't be traced back to you: there is nothing we can delete. Thank you for your time."
	msgWithdrawnAlready   = "You have withdrawn from this consultation, and your answers were deleted. Thank you for your time."
	msgAnonymousData      = "This consultation is anonymous: once you finished, your answers were stored without any link to you, so they can't be shown to you."
	msgAnonymousClosing   = "Your answers are now stored without any link to you."
	msgNoAnswers          = "You haven't answered any questions yet."
	msgDefaultClosing     = "Thank you for taking part."
	msgDateExample        = "2026-12-01"
)

// Button labels.
const (
	labelConsentYes  = "Yes, I agree"
	labelConsentNo   = "No, thank you"
	labelWithdrawYes = "Yes, withdraw"
	labelWithdrawNo  = "No, keep my answers"
	labelYes         = "Yes"
	labelNo          = "No"
	labelBack        = "Back"
	labelSkip        = "Skip"
	labelSkipped     = "Skipped"
	labelDone        = "Done"
	labelKeep        = "Keep my answer"
)

// Channel names, as in Input.Channel and Session.Channel.
const (
	channelTelegram = "telegram"
	channelSlack    = "slack"
	channelConsole  = "console"
)

// voice is how a channel lets a participant give commands.
type voice int

const (
	voiceSlash   voice = iota // Telegram, and any channel not known: /pause
	voiceSlack                // one slash command: /consult pause
	voiceConsole              // words typed alone: pause
)

// voiceOf returns the voice of a channel.
func voiceOf(channel string) voice {
	switch channel {
	case channelSlack:
		return voiceSlack
	case channelConsole:
		return voiceConsole
	}
	return voiceSlash
}

// typed reports whether the channel has no buttons: everything is typed.
func (v voice) typed() bool { return v == voiceConsole }

// cmd writes a command as the participant gives it.
func (v voice) cmd(c Command) string {
	switch v {
	case voiceSlack:
		return "/consult " + string(c)
	case voiceConsole:
		return string(c)
	}
	return "/" + string(c)
}

// send is the verb for giving something: "Send" or, in the terminal, "Type".
func (v voice) send() string {
	if v.typed() {
		return "Type"
	}
	return "Send"
}

// sendLower is send in lower case.
func (v voice) sendLower() string {
	if v.typed() {
		return "type"
	}
	return "send"
}

// Hint is the sentence added to the consent text that says how to pause,
// stop or withdraw on a channel: "/pause" on Telegram, "/consult pause" on
// Slack, "pause" in the terminal.
func Hint(channel string) string {
	v := voiceOf(channel)
	return "You can pause, stop or withdraw at any time: " + v.sendLower() + " " +
		v.cmd(CmdPause) + ", " + v.cmd(CmdStop) + " or " + v.cmd(CmdWithdraw) + "."
}

func (v voice) help() string {
	var b strings.Builder
	b.WriteString("Here is what you can ")
	b.WriteString(v.sendLower())
	b.WriteString(" at any time:")
	for _, l := range []struct {
		c    Command
		what string
	}{
		{CmdStart, "begin, or carry on where you left off"},
		{CmdSkip, "skip a question that is optional"},
		{CmdBack, "go back to the previous question"},
		{CmdPause, "take a break"},
		{CmdResume, "carry on after a pause or a stop"},
		{CmdStop, "stop here; your answers so far are kept"},
		{CmdMyData, "see your answers"},
		{CmdWithdraw, "withdraw and delete your answers"},
		{CmdHelp, "this list"},
	} {
		b.WriteString("\n")
		b.WriteString(v.cmd(l.c))
		b.WriteString(" — ")
		b.WriteString(l.what)
	}
	return b.String()
}

func (v voice) declined() string {
	return "That's fine — thank you for considering it. Nothing has been recorded. If you change your mind, " +
		v.sendLower() + " " + v.cmd(CmdStart) + "."
}

func (v voice) stillDeclined() string {
	return "You said no to taking part, so nothing has been recorded. If you change your mind, " +
		v.sendLower() + " " + v.cmd(CmdStart) + "."
}

func (v voice) paused() string {
	return "Paused. " + v.send() + " " + v.cmd(CmdResume) + " when you're ready."
}

func (v voice) stillPaused() string {
	return "You've paused this consultation. " + v.send() + " " + v.cmd(CmdResume) + " when you're ready to carry on."
}

func (v voice) stoppedNow() string {
	return "You've stopped. Your answers so far are kept. " + v.send() + " " + v.cmd(CmdResume) +
		" to carry on where you left off, or " + v.cmd(CmdWithdraw) + " to delete your answers."
}

func (v voice) stopped() string {
	return "You stopped this consultation; your answers so far are kept. " + v.send() + " " + v.cmd(CmdResume) +
		" to carry on where you left off, or " + v.cmd(CmdWithdraw) + " to delete your answers."
}

func (v voice) finished(anonymous bool) string {
	if anonymous {
		return "You've finished this consultation — thank you."
	}
	return "You've finished this consultation — thank you. " + v.send() + " " + v.cmd(CmdMyData) + " to see your answers."
}

func (v voice) carryOn() string {
	return v.send() + " " + v.cmd(CmdResume) + " to carry on."
}

func (v voice) answerYesNo() string {
	if v.typed() {
		return "Please type yes or no."
	}
	return "Please answer yes or no, or tap a button."
}

func (v voice) needsAnswer() string {
	return "This question needs an answer — it can't be skipped. If you'd like a break, " +
		v.sendLower() + " " + v.cmd(CmdPause) + "."
}

func (v voice) opensOn(c *Consultation) string {
	return "This consultation opens on " + ReadableTime(c.OpensAt, c.Location) + ". Please come back then."
}

func (v voice) closedOn(c *Consultation) string {
	return "This consultation closed on " + ReadableTime(c.ClosesAt, c.Location) + "; thank you."
}

// joinNote puts a note before a text, as a paragraph of its own.
func joinNote(note, text string) string {
	switch {
	case note == "":
		return text
	case text == "":
		return note
	}
	return note + "\n\n" + text
}

// local returns a text of the consultation in the session's language.
func (st *step) local(t Text) string { return t.In(st.lang, st.c.Language) }

// pipe returns a text of the consultation in the session's language, with
// its placeholders filled in.
func (st *step) pipe(t Text) string {
	return Pipe(st.local(t), st.s.Answers, st.c, st.lang)
}

// consentText is the consent step as a message: the title, the consent
// text, how to pause, stop or withdraw, and the question.
func (st *step) consentText() string {
	c := st.c
	var b strings.Builder
	if title := st.local(c.Title); title != "" {
		b.WriteString(title)
		b.WriteString("\n\n")
	}
	if t := strings.TrimSpace(st.pipe(c.Consent.Text)); t != "" {
		b.WriteString(t)
		b.WriteString("\n\n")
	}
	b.WriteString(Hint(st.v.channel()))
	b.WriteString("\n\n")
	b.WriteString(msgConsentQuestion)
	return b.String()
}

// channel returns a channel name with this voice.
func (v voice) channel() string {
	switch v {
	case voiceSlack:
		return channelSlack
	case voiceConsole:
		return channelConsole
	}
	return channelTelegram
}

// consentReply asks for consent in full, with a note before it.
func (st *step) consentReply(note string) Reply {
	return Reply{Text: joinNote(note, st.consentText()), Choices: st.yesNoChoices(labelConsentYes, labelConsentNo)}
}

// consentShort asks for consent again in a few words, with a note before it.
func (st *step) consentShort(note string) Reply {
	return Reply{Text: joinNote(note, msgConsentQuestion), Choices: st.yesNoChoices(labelConsentYes, labelConsentNo)}
}

// yesNoChoices are the buttons of a consent or a confirmation.
func (st *step) yesNoChoices(yesLabel, noLabel string) []Choice {
	turn := strconv.Itoa(st.s.Turn)
	return []Choice{
		{Label: yesLabel, Data: string(pressYes) + turn},
		{Label: noLabel, Data: string(pressNo) + turn},
	}
}

// confirmText is the question of a pending /withdraw.
func (st *step) confirmText() string {
	if st.c.Anonymous && st.s.Status == StatusCompleted {
		return msgConfirmAnonymous
	}
	return msgConfirmWithdraw
}

// askConfirm asks a pending /withdraw, with a note before it.
func (st *step) askConfirm(note string) {
	st.reply(Reply{Text: joinNote(note, st.confirmText()), Choices: st.yesNoChoices(labelWithdrawYes, labelWithdrawNo)})
}

// edit adds the reply that replaces the message whose button was pressed:
// its text and what was chosen, without buttons; question is the id of the
// question it asked, if any. A channel that cannot
// tell which message was pressed (no Input.Ref) gets none.
func (st *step) edit(text, chosen, question string) {
	if st.in.Ref == "" {
		return
	}
	st.reply(Reply{Text: text + "\n✓ " + chosen, Edit: true, Question: question})
}

// closingText is the message at the end of the questions.
func (st *step) closingText() string {
	closing := strings.TrimSpace(st.pipe(st.c.Closing))
	if closing == "" {
		closing = msgDefaultClosing
	}
	if st.c.Anonymous {
		return closing + "\n\n" + msgAnonymousClosing
	}
	return closing + "\n\n" + st.v.send() + " " + st.v.cmd(CmdMyData) + " to see a copy of your answers."
}

// answersText lists the answers of the session, in the order of the file.
func (st *step) answersText(heading string) string {
	c := st.c
	var b strings.Builder
	b.WriteString(heading)
	n := 0
	for i := range c.Questions {
		q := &c.Questions[i]
		a, ok := st.s.Answers[q.ID]
		if !ok {
			continue
		}
		n++
		b.WriteString("\n\n")
		b.WriteString(strings.TrimSpace(st.pipe(q.Text)))
		b.WriteString("\n→ ")
		b.WriteString(c.FormatAnswer(q, a, st.lang))
	}
	if n == 0 {
		return msgNoAnswers
	}
	return b.String()
}

// FormatAnswer writes an answer as a person reads it: an option's label
// rather than its value, a scale point with its label, a date written out
// ("Tuesday 1 December 2026"). lang picks the language of labels ("" for the
// file's). q may be nil when the question is not known.
func (c *Consultation) FormatAnswer(q *Question, a Answer, lang string) string {
	fallback := "en"
	if c != nil && c.Language != "" {
		fallback = c.Language
	}
	if lang == "" {
		lang = fallback
	}
	if a.Type == TypeYesNo {
		switch a.Text {
		case "yes":
			return labelYes
		case "no":
			return labelNo
		}
	}
	return readableAnswer(a, q, lang, fallback)
}

// questionReply asks question qi: its text in the session's language with
// placeholders filled in, a line on how to answer where it helps, the
// answer given before (after /back), and its buttons. note goes before it.
func (st *step) questionReply(qi int, note string, edit bool) Reply {
	return st.buildQuestion(qi, note, edit, true)
}

// buildQuestion is questionReply; withHow false leaves out the line on how
// to answer, for when the note already says it.
func (st *step) buildQuestion(qi int, note string, edit, withHow bool) Reply {
	c, s := st.c, &st.s
	q := &c.Questions[qi]
	text := st.pipe(q.Text)
	var how string
	if withHow {
		how = st.howTo(q)
	}
	var was string
	if a, ok := s.Answers[q.ID]; ok {
		was = st.answerWas(q, a)
	}
	if note != "" || how != "" || was != "" {
		var b strings.Builder
		b.Grow(len(note) + len(text) + len(how) + len(was) + 4)
		if note != "" {
			b.WriteString(note)
			b.WriteString("\n\n")
		}
		b.WriteString(text)
		if how != "" {
			b.WriteString("\n")
			b.WriteString(how)
		}
		if was != "" {
			b.WriteString("\n")
			b.WriteString(was)
		}
		text = b.String()
	}
	return Reply{Text: text, Choices: st.choices(qi), Multi: q.Type == TypeMulti, Question: q.ID, Edit: edit}
}

// answerWas reminds of the answer a question had, when it is asked again.
func (st *step) answerWas(q *Question, a Answer) string {
	shown := st.c.FormatAnswer(q, a, st.lang)
	if q.Type == TypeText {
		shown = "“" + shown + "”"
	} else {
		shown += "."
	}
	switch {
	case st.v.typed():
		return "Your answer was: " + shown + " Answer again to keep it or to change it."
	case q.Type == TypeMulti:
		return "Your answer was: " + shown + " Tap " + labelDone + " to keep it, or change the ticks first."
	}
	return "Your answer was: " + shown + " Tap " + labelKeep + ", or give a new answer."
}

// howTo is a short line on how to answer a question, where it helps.
func (st *step) howTo(q *Question) string {
	v := st.v
	var how string
	switch q.Type {
	case TypeNumber:
		if q.Min != nil || q.Max != nil {
			how = v.send() + " " + numberRange(q) + "."
		}
	case TypeDate:
		how = v.send() + " a date like " + msgDateExample + "."
	case TypeChoice:
		if v.typed() {
			how = "Type the number or the name of your answer."
		}
	case TypeScale:
		if v.typed() && q.Min != nil && q.Max != nil {
			how = "Type a number from " + fmtNum(*q.Min) + " to " + fmtNum(*q.Max) + "."
		}
	case TypeYesNo:
		if v.typed() {
			how = "Type yes or no."
		}
	case TypeMulti:
		picks := pickRange(q)
		switch {
		case v.typed():
			how = picks
		case picks != "":
			how = "Tick all that apply, then tap " + labelDone + ". " + picks
		default:
			how = "Tick all that apply, then tap " + labelDone + "."
		}
	}
	if q.Optional && v.typed() {
		skip := "This one is optional: type " + v.cmd(CmdSkip) + " to leave it out."
		if how == "" {
			return skip
		}
		return how + " " + skip
	}
	return how
}

// numberRange says which numbers a number question takes: "a number from 1
// to 10", "a number of at least 0".
func numberRange(q *Question) string {
	switch {
	case q.Min != nil && q.Max != nil:
		return "a number from " + fmtNum(*q.Min) + " to " + fmtNum(*q.Max)
	case q.Min != nil:
		return "a number of at least " + fmtNum(*q.Min)
	case q.Max != nil:
		return "a number no larger than " + fmtNum(*q.Max)
	}
	return "a number, like 12 or 3.5"
}

// pickRange says how many options a multi question takes, when it says.
func pickRange(q *Question) string {
	lo, hi := minPicks(q), 0
	if q.Max != nil {
		hi = int(*q.Max)
	}
	switch {
	case hi > 0 && lo == hi:
		return "Pick " + strconv.Itoa(lo) + "."
	case hi > 0 && lo > 1:
		return "Pick from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + "."
	case hi > 0:
		return "Pick up to " + strconv.Itoa(hi) + "."
	case lo > 1:
		return "Pick at least " + strconv.Itoa(lo) + "."
	}
	return ""
}

// minPicks is the fewest options a multi question takes: its min, else 1.
func minPicks(q *Question) int {
	if q.Min != nil {
		return int(*q.Min)
	}
	return 1
}

// choices are the buttons of question qi: the answers, then back, skip,
// keep (a question asked again that has an answer) and done. Their data carry the turn, so a button of an earlier message is
// told apart; all data share one string, and so do a scale's labels.
func (st *step) choices(qi int) []Choice {
	c, s := st.c, &st.s
	q := &c.Questions[qi]
	var n int
	switch q.Type {
	case TypeChoice, TypeMulti:
		n = len(q.Options)
	case TypeScale:
		if q.Min != nil && q.Max != nil {
			n = int(*q.Max-*q.Min) + 1
		}
	case TypeYesNo:
		n = 2
	}
	back := st.hasBefore()
	_, keep := s.Answers[q.ID]
	keep = keep && q.Type != TypeMulti
	nav := 0
	if back {
		nav++
	}
	if q.Optional {
		nav++
	}
	if keep {
		nav++
	}
	if q.Type == TypeMulti {
		nav++
	}
	if n+nav == 0 {
		return nil
	}
	var turnBuf [20]byte
	turn := strconv.AppendInt(turnBuf[:0], int64(s.Turn), 10)
	var data strings.Builder
	data.Grow((n + nav) * (len(turn) + 4))
	ends := make([]int, 0, 64)[:0]
	add := func(kind byte, i int) {
		data.WriteByte(kind)
		data.Write(turn)
		if i >= 0 {
			data.WriteByte('.')
			var ib [20]byte
			data.Write(strconv.AppendInt(ib[:0], int64(i), 10))
		}
		ends = append(ends, data.Len())
	}
	out := make([]Choice, 0, n+nav)
	switch q.Type {
	case TypeChoice:
		for i := range q.Options {
			add(pressAnswer, i)
			out = append(out, Choice{Label: st.local(q.Options[i].Label)})
		}
	case TypeMulti:
		for i := range q.Options {
			add(pressToggle, i)
			out = append(out, Choice{Label: st.local(q.Options[i].Label), Selected: ticked(s.Selected, q.Options[i].Value)})
		}
	case TypeYesNo:
		add(pressAnswer, 0)
		out = append(out, Choice{Label: labelYes})
		add(pressAnswer, 1)
		out = append(out, Choice{Label: labelNo})
	case TypeScale:
		labels := st.scaleLabels(q)
		for i := 0; i < n; i++ {
			add(pressAnswer, i)
			out = append(out, Choice{Label: labels[i]})
		}
	}
	if back {
		add(pressBack, -1)
		out = append(out, Choice{Label: labelBack, Nav: true})
	}
	if q.Optional {
		add(pressSkip, -1)
		out = append(out, Choice{Label: labelSkip, Nav: true})
	}
	if keep {
		add(pressKeep, -1)
		out = append(out, Choice{Label: labelKeep, Nav: true})
	}
	if q.Type == TypeMulti {
		add(pressDone, -1)
		out = append(out, Choice{Label: labelDone, Nav: true})
	}
	all := data.String()
	start := 0
	for i := range out {
		out[i].Data = all[start:ends[i]]
		start = ends[i]
	}
	return out
}

// scaleLabels are the labels of a scale's buttons: "1 — Very unclear"
// where the file labels a point, else the number.
func (st *step) scaleLabels(q *Question) []string {
	lo, hi := int(*q.Min), int(*q.Max)
	out := make([]string, 0, hi-lo+1)
	if len(q.Labels) == 0 {
		for p := lo; p <= hi; p++ {
			out = append(out, strconv.Itoa(p))
		}
		return out
	}
	var b strings.Builder
	size := 0
	for p := lo; p <= hi; p++ {
		size += 4
		if l, ok := q.Labels[p]; ok {
			size += len(st.local(l)) + 5
		}
	}
	b.Grow(size)
	var endsBuf [maxScaleSteps]int
	ends := endsBuf[:0]
	for p := lo; p <= hi; p++ {
		var nb [20]byte
		b.Write(strconv.AppendInt(nb[:0], int64(p), 10))
		if l, ok := q.Labels[p]; ok {
			if t := st.local(l); t != "" {
				b.WriteString(" — ")
				b.WriteString(t)
			}
		}
		ends = append(ends, b.Len())
	}
	all := b.String()
	start := 0
	for _, e := range ends {
		out = append(out, all[start:e])
		start = e
	}
	return out
}

// scaleLabel is the label of one point of a scale, as on its button.
func (st *step) scaleLabel(q *Question, point int) string {
	if l, ok := q.Labels[point]; ok {
		if t := st.local(l); t != "" {
			return strconv.Itoa(point) + " — " + t
		}
	}
	return strconv.Itoa(point)
}

// ticked reports whether a multi option's value is among the selected.
func ticked(selected []string, value string) bool {
	for _, v := range selected {
		if v == value {
			return true
		}
	}
	return false
}

// hasBefore reports whether there is a question to go back to.
func (st *step) hasBefore() bool {
	s := &st.s
	for k := len(s.Asked) - 1; k >= 0; k-- {
		if s.Asked[k] == s.Question {
			return k > 0
		}
	}
	return len(s.Asked) > 0
}
