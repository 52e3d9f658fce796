// Package console is the terminal channel: a participant types at standard
// input and reads the bot's replies on standard output. It goes through the
// same inbox, runner and outbox as Telegram and Slack, so what works here works
// there, and input piped in is read line by line (tests script a participant
// this way).
package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/consultbot/consultbot/flows"
)

// Channel is the channel name in inputs, inbox and outbox.
const Channel = "console"

// ErrNoInput is returned by Run when standard input is closed or empty from
// the start: a service with no terminal should not idle in the terminal channel.
var ErrNoInput = errors.New("no input: the terminal channel reads from standard input, which is closed or empty; set TELEGRAM_BOT_TOKEN or SLACK_BOT_TOKEN to serve a chat platform instead")

// Conversation hands an input over; answers are stored and replies queued.
type Conversation interface {
	Handle(ctx context.Context, in flows.Input) error
}

// Store is the part of the store the terminal channel uses.
type Store interface {
	InboxPut(ctx context.Context, r flows.Received) (dup bool, err error)
	InboxPending(ctx context.Context, channel string, limit int) ([]flows.Received, error)
	InboxDone(ctx context.Context, id string) error
	Claim(ctx context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error)
	Sending(ctx context.Context, id, owner string, now time.Time) error
	Sent(ctx context.Context, id, ref string, now time.Time) error
}

// Config is what the terminal channel needs.
type Config struct {
	In       io.Reader
	Out      io.Writer
	Identity string // the participant: "console:<name>"
	Start    string // argument of the first start command (an invite code), if any
	Language string
	Now      func() time.Time // default time.Now
	Poll     time.Duration    // how often to look for messages that arrive unasked (reminders); default 1s
}

// Console runs one participant's conversation in the terminal.
type Console struct {
	cfg   Config
	conv  Conversation
	store Store
	owner string
	run   string // this run's id, so inbox ids never repeat across runs
	seq   int

	// choices of the last message that offered buttons outside a question
	// (consent, a confirmation, a list of consultations): a typed number picks one.
	picks []flows.Choice
}

// New returns a terminal channel.
func New(cfg Config, conv Conversation, store Store) *Console {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Identity == "" {
		cfg.Identity = "console:local"
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	return &Console{cfg: cfg, conv: conv, store: store, owner: "console-" + randomID(), run: randomID()}
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run finishes whatever an earlier run left in the inbox, starts (or resumes)
// the consultation, then reads lines until end of input or ctx ends.
func (c *Console) Run(ctx context.Context) error {
	pending, err := c.store.InboxPending(ctx, Channel, 1000)
	if err != nil {
		return fmt.Errorf("console: reading the inbox: %w", err)
	}
	for _, r := range pending {
		if err := c.process(ctx, r); err != nil {
			return err
		}
	}
	if err := c.receive(ctx, flows.Input{Command: flows.CmdStart, Arg: c.cfg.Start}); err != nil {
		return err
	}

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(c.cfg.In)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	poll := time.NewTicker(c.cfg.Poll)
	defer poll.Stop()
	read := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			// Reminders and other messages queued while the participant is away.
			if err := c.drain(ctx); err != nil {
				return err
			}
		case err := <-readErr:
			if err != nil {
				return fmt.Errorf("console: reading input: %w", err)
			}
			if read == 0 {
				return ErrNoInput
			}
			return nil
		case line := <-lines:
			read++
			in, ok := c.parse(line)
			if !ok {
				continue
			}
			if err := c.receive(ctx, in); err != nil {
				return err
			}
		}
	}
}

// parse turns a typed line into an input: a command word typed alone (with or
// without a slash), a number picking one of the last offered buttons outside a
// question, or an answer.
func (c *Console) parse(line string) (flows.Input, bool) {
	text := strings.TrimSpace(line)
	if text == "" {
		return flows.Input{}, false
	}
	word, arg, _ := strings.Cut(text, " ")
	word = strings.ToLower(strings.TrimPrefix(word, "/"))
	for _, cmd := range flows.Commands {
		if word == string(cmd) && (arg == "" || cmd == flows.CmdStart) {
			return flows.Input{Command: cmd, Arg: strings.TrimSpace(arg)}, true
		}
	}
	if n, err := strconv.Atoi(text); err == nil && n >= 1 && n <= len(c.picks) {
		return flows.Input{Choice: c.picks[n-1].Data}, true
	}
	return flows.Input{Text: text}, true
}

// receive stores an input in the inbox, hands it to the conversation, and
// prints the replies it queued.
func (c *Console) receive(ctx context.Context, in flows.Input) error {
	c.seq++
	in.ID = fmt.Sprintf("console:%s:%d", c.run, c.seq)
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("console: encoding input: %w", err)
	}
	r := flows.Received{ID: in.ID, Channel: Channel, Payload: payload, At: c.cfg.Now()}
	if _, err := c.store.InboxPut(ctx, r); err != nil {
		return fmt.Errorf("console: storing input: %w", err)
	}
	return c.process(ctx, r)
}

func (c *Console) process(ctx context.Context, r flows.Received) error {
	var in flows.Input
	if err := json.Unmarshal(r.Payload, &in); err != nil {
		return fmt.Errorf("console: inbox item %s: %w", r.ID, err)
	}
	in.ID = r.ID
	in.Participant = c.cfg.Identity
	in.Channel = Channel
	in.ReplyTo = c.cfg.Identity
	if in.Language == "" {
		in.Language = c.cfg.Language
	}
	if err := c.conv.Handle(ctx, in); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := c.store.InboxDone(ctx, r.ID); err != nil {
		return fmt.Errorf("console: inbox item %s: %w", r.ID, err)
	}
	return c.drain(ctx)
}

// drain prints every queued console message addressed to this participant.
func (c *Console) drain(ctx context.Context) error {
	for {
		now := c.cfg.Now()
		msgs, err := c.store.Claim(ctx, Channel, c.owner, 50, time.Minute, now)
		if err != nil {
			return fmt.Errorf("console: reading the outbox: %w", err)
		}
		if len(msgs) == 0 {
			return nil
		}
		for _, m := range msgs {
			if err := c.store.Sending(ctx, m.ID, c.owner, now); err != nil {
				return fmt.Errorf("console: outbox item %s: %w", m.ID, err)
			}
			if _, err := io.WriteString(c.cfg.Out, c.render(m.Reply)); err != nil {
				return fmt.Errorf("console: writing: %w", err)
			}
			if err := c.store.Sent(ctx, m.ID, "", now); err != nil {
				return fmt.Errorf("console: outbox item %s: %w", m.ID, err)
			}
		}
	}
}

// render shows a reply as plain text: choices as numbered lines (ticks for a
// multi question), a scale on one line; skip, back and done are typed words.
func (c *Console) render(r flows.Reply) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(r.Text, "\n"))
	b.WriteString("\n")
	var opts []flows.Choice
	for _, ch := range r.Choices {
		if !ch.Nav {
			opts = append(opts, ch)
		}
	}
	if r.Edit {
		// A pressed button's message, shown again with what was chosen.
		return b.String() + "\n"
	}
	if r.Question == "" && len(opts) > 0 {
		c.picks = opts
	} else if len(opts) > 0 {
		c.picks = nil
	}
	switch {
	case len(opts) == 0:
	case allNumbered(opts) && !r.Multi:
		labels := make([]string, len(opts))
		for i, o := range opts {
			labels[i] = o.Label
		}
		b.WriteString("  " + strings.Join(labels, " · ") + "\n")
	default:
		for i, o := range opts {
			tick := ""
			if r.Multi {
				tick = "[ ] "
				if o.Selected {
					tick = "[x] "
				}
			}
			fmt.Fprintf(&b, "  %s%d) %s\n", tick, i+1, o.Label)
		}
		if r.Multi {
			b.WriteString("  (type the numbers of all that apply, e.g. 1, 3)\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// allNumbered reports whether every label starts with a digit or a minus
// sign, as a scale's do: numbering them again would confuse.
func allNumbered(opts []flows.Choice) bool {
	for _, o := range opts {
		r := []rune(o.Label)
		if len(r) == 0 || !(unicode.IsDigit(r[0]) || r[0] == '-') {
			return false
		}
	}
	return true
}
