package flows

import (
	"sort"
	"time"
)

// Text is a piece of participant-facing text: either one string (stored under
// the empty key) or a map of language code to string ({en: ..., cy: ...}).
type Text map[string]string

// In returns the text in lang when the file has it, else in fallback (the
// file's language), else the plain string, else the first language in
// alphabetical order. A nil Text gives "".
func (t Text) In(lang, fallback string) string {
	if s, ok := t[lang]; ok && lang != "" {
		return s
	}
	if s, ok := t[fallback]; ok && fallback != "" {
		return s
	}
	if s, ok := t[""]; ok {
		return s
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return t[keys[0]]
}

// Plain returns a Text holding one string for every language.
func Plain(s string) Text { return Text{"": s} }

// QuestionType is the kind of answer a question takes.
type QuestionType string

// The question types of a consultation file.
const (
	TypeText   QuestionType = "text"
	TypeChoice QuestionType = "choice"
	TypeMulti  QuestionType = "multi"
	TypeScale  QuestionType = "scale"
	TypeYesNo  QuestionType = "yesno"
	TypeNumber QuestionType = "number"
	TypeDate   QuestionType = "date"
)

// Consultation is one parsed and checked consultation file.
type Consultation struct {
	ID         string
	Title      Text
	Language   string // the file's language; default "en"
	Open       bool   // anyone may start it; else invite codes only
	Anonymous  bool   // answers carry no link to the person once a session ends
	Timezone   string // IANA name, "" when the file gives none
	Location   *time.Location
	QuietHours QuietHours
	Consent    Consent
	Questions  []Question
	Closing    Text
	Reminders  []Reminder
	Schedules  []Schedule
	OpensAt    time.Time // zero: open from load
	ClosesAt   time.Time // zero: never closes

	File string // the file name it was read from
	Hash string // hex SHA-256 of the file text: the version answers refer to
}

// Consent is the informed-consent step shown before the first question.
type Consent struct {
	Version int
	Text    Text
}

// Question is one step of a consultation.
type Question struct {
	ID        string
	Type      QuestionType
	Text      Text
	Optional  bool       // /skip allowed
	When      *Condition // nil: always asked
	Min, Max  *float64   // scale (required, whole numbers), number (optional bounds), multi (picks)
	Labels    map[int]Text
	Options   []Option // choice and multi
	MaxLength int      // text: longest answer in characters; 0: the default limit
}

// Option is one choice of a choice or multi question. Answers store Value.
type Option struct {
	Value string
	Label Text
}

// Condition is a `when` expression: a disjunction (or) of conjunctions (and).
type Condition struct {
	Source string         // the expression as written
	Any    [][]Comparison // Any[i] holds when all of Any[i] hold
}

// Op is a comparison operator of a `when` expression.
type Op string

// The comparison operators.
const (
	OpEq    Op = "=="
	OpNe    Op = "!="
	OpLt    Op = "<"
	OpLe    Op = "<="
	OpGt    Op = ">"
	OpGe    Op = ">="
	OpHas   Op = "has"
	OpLacks Op = "lacks"
)

// Comparison is `<question id> <op> <literal>`.
type Comparison struct {
	Question string
	Op       Op
	Literal  string  // as written, unquoted
	Number   float64 // the literal as a number (scale, number) or a date as days since 1970-01-01
}

// ReminderKind tells the rule a reminder follows.
type ReminderKind string

// The reminder rules.
const (
	RemindAfter       ReminderKind = "after"        // after silence, at most Max times
	RemindCron        ReminderKind = "cron"         // on a cron schedule
	RemindBeforeClose ReminderKind = "before_close" // once, Before ahead of closes_at
)

// Reminder is one entry of a consultation's `reminders`.
type Reminder struct {
	Kind   ReminderKind
	After  time.Duration // RemindAfter
	Max    int           // RemindAfter; default 1
	Cron   string        // RemindCron, possibly with a CRON_TZ= prefix
	Before time.Duration // RemindBeforeClose
	Text   Text          // optional for after and before_close: a default is used
}

// Schedule is a scheduled announcement to a group chat or channel.
type Schedule struct {
	ID       string
	To       string        // channel address, e.g. "tg:-1001234" or "slack:C0123"
	Cron     string        // either Cron ...
	Every    time.Duration // ... or Every from Starting
	Starting time.Time
	Until    time.Time // zero: no end
	Text     Text
}

// QuietHours is a daily window, in local time, in which no reminder is sent.
// Start == End means no quiet hours.
type QuietHours struct {
	Start, End int // minutes since local midnight
}

// Off reports whether there are no quiet hours.
func (q QuietHours) Off() bool { return q.Start == q.End }

// DefaultQuietHours is 21:00-09:00.
var DefaultQuietHours = QuietHours{Start: 21 * 60, End: 9 * 60}

// Answer is one stored answer, typed by its question.
type Answer struct {
	Type   QuestionType `bson:"type" json:"type"`
	Text   string       `bson:"text,omitempty" json:"text,omitempty"`     // text; choice value; yesno "yes"/"no"; date "YYYY-MM-DD"
	Number float64      `bson:"number,omitempty" json:"number,omitempty"` // scale, number
	Values []string     `bson:"values,omitempty" json:"values,omitempty"` // multi: option values in option order
	At     time.Time    `bson:"at" json:"at"`
}

// Value returns the answer as it is exported: a number for scale and number,
// a list of values for multi, a string otherwise.
func (a Answer) Value() any {
	switch a.Type {
	case TypeScale, TypeNumber:
		return a.Number
	case TypeMulti:
		if a.Values == nil {
			return []string{}
		}
		return a.Values
	default:
		return a.Text
	}
}

// Status is where a session stands.
type Status string

// Session statuses.
const (
	StatusNew       Status = ""          // not started
	StatusConsent   Status = "consent"   // waiting for consent
	StatusActive    Status = "active"    // answering questions
	StatusPaused    Status = "paused"    // /pause; /resume continues
	StatusCompleted Status = "completed" // answered to the end
	StatusStopped   Status = "stopped"   // /stop; answers kept
	StatusDeclined  Status = "declined"  // said no to consent; nothing recorded
	StatusWithdrawn Status = "withdrawn" // /withdraw confirmed: the runner deletes the answers
	StatusClosed    Status = "closed"    // the consultation closed before the end
)

// Ended reports whether the session takes no more answers.
func (s Status) Ended() bool {
	switch s {
	case StatusCompleted, StatusStopped, StatusDeclined, StatusWithdrawn, StatusClosed:
		return true
	}
	return false
}

// Session is one participant's way through one consultation. The engine
// changes it only through Advance; storage keeps it in one document.
type Session struct {
	Participant    string            `bson:"participant" json:"participant"`   // pseudonymous participant id
	Consultation   string            `bson:"consultation" json:"consultation"` // consultation id
	Hash           string            `bson:"hash" json:"hash"`                 // consultation version started with
	Channel        string            `bson:"channel" json:"channel"`           // "telegram", "slack", "console"
	Language       string            `bson:"language,omitempty" json:"language,omitempty"`
	Status         Status            `bson:"status" json:"status"`
	Question       string            `bson:"question,omitempty" json:"question,omitempty"` // the question asked now
	Asked          []string          `bson:"asked,omitempty" json:"asked,omitempty"`       // questions asked, in order; the /back trail
	Answers        map[string]Answer `bson:"answers,omitempty" json:"answers,omitempty"`
	Selected       []string          `bson:"selected,omitempty" json:"selected,omitempty"` // multi: values ticked so far
	Confirm        string            `bson:"confirm,omitempty" json:"confirm,omitempty"`   // a pending yes/no, e.g. "withdraw"
	Turn           int               `bson:"turn" json:"turn"`                             // bumped each time a question is asked; buttons carry it
	ConsentVersion int               `bson:"consent_version,omitempty" json:"consent_version,omitempty"`
	Started        time.Time         `bson:"started" json:"started"`
	Updated        time.Time         `bson:"updated" json:"updated"`
	Finished       time.Time         `bson:"finished" json:"finished"`
}

// Command is a participant command, without its slash.
type Command string

// Participant commands.
const (
	CmdStart    Command = "start"
	CmdHelp     Command = "help"
	CmdSkip     Command = "skip"
	CmdBack     Command = "back"
	CmdPause    Command = "pause"
	CmdResume   Command = "resume"
	CmdStop     Command = "stop"
	CmdMyData   Command = "mydata"
	CmdWithdraw Command = "withdraw"
)

// Commands lists every participant command, in the order help shows them.
var Commands = []Command{CmdStart, CmdHelp, CmdSkip, CmdBack, CmdPause, CmdResume, CmdStop, CmdMyData, CmdWithdraw}

// Input is one thing a participant did: typed text, pressed a button
// (Choice holds the button's Data), or gave a command.
type Input struct {
	ID          string  // unique per channel: the inbox id, e.g. "tg:update:123"
	Participant string  // channel identity: "tg:<user id>", "slack:<team>:<user>", "console:<name>"
	Channel     string  // "telegram", "slack", "console"
	Language    string  // the participant's language when the platform tells it
	Text        string  // typed text
	Choice      string  // Choice.Data of a pressed button
	Command     Command // a command; Arg holds what followed it
	Arg         string
	ReplyTo     string // where replies go on this channel (chat id, DM channel)
	Ref         string // the message a pressed button belongs to, for edits
}

// Choice is a button offered with a reply.
type Choice struct {
	Label    string `bson:"label" json:"label"`
	Data     string `bson:"data" json:"data"`                             // at most 32 bytes; handed back as Input.Choice
	Selected bool   `bson:"selected,omitempty" json:"selected,omitempty"` // multi: ticked
	Nav      bool   `bson:"nav,omitempty" json:"nav,omitempty"`           // skip, back, done: not an answer option
}

// Reply is a neutral message for a channel to render.
type Reply struct {
	Text     string   `bson:"text" json:"text"`
	Choices  []Choice `bson:"choices,omitempty" json:"choices,omitempty"`
	Multi    bool     `bson:"multi,omitempty" json:"multi,omitempty"`       // several choices may be ticked, then Done
	Question string   `bson:"question,omitempty" json:"question,omitempty"` // the question this asks, if any
	Edit     bool     `bson:"edit,omitempty" json:"edit,omitempty"`         // replaces the message whose button was pressed
}

// Received is a platform update as stored in the inbox, before it is processed.
type Received struct {
	ID      string // unique per channel, e.g. "tg:u:123456"
	Channel string
	Payload []byte
	At      time.Time
}

// Outgoing is a message in the outbox: queued first, sent second, marked third.
type Outgoing struct {
	ID          string    `bson:"_id" json:"id"` // deterministic, so a retried enqueue is a no-op
	Channel     string    `bson:"channel" json:"channel"`
	Participant string    `bson:"participant,omitempty" json:"participant,omitempty"` // channel identity of a person, "" for a group
	To          string    `bson:"to" json:"to"`                                       // channel address: chat id, DM or channel id
	Reply       Reply     `bson:"reply" json:"reply"`
	EditRef     string    `bson:"edit_ref,omitempty" json:"edit_ref,omitempty"` // edit this message instead of sending a new one
	Session     string    `bson:"session,omitempty" json:"session,omitempty"`   // the session this message belongs to, if any
	Attempts    int       `bson:"attempts" json:"attempts"`
	NotBefore   time.Time `bson:"not_before" json:"not_before"`
	Created     time.Time `bson:"created" json:"created"`
}
