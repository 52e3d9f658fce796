package slackbot

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/consultbot/consultbot/flows"
)

// The kinds of update, as the inbox keeps them.
const (
	kindEvent       = "event"       // Events API event_callback
	kindInteraction = "interaction" // block_actions payload
	kindCommand     = "command"     // slash command
)

// record is what the inbox keeps of an update: its kind and Slack's JSON
// (for a slash command received over HTTP, its form fields as a JSON object,
// as Socket Mode sends them).
type record struct {
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

// eventCallback is the outer envelope of an Events API event (and of the
// url_verification handshake).
type eventCallback struct {
	Type      string       `json:"type"`
	TeamID    string       `json:"team_id"`
	EventID   string       `json:"event_id"`
	Challenge string       `json:"challenge"`
	Event     messageEvent `json:"event"`
}

// messageEvent is the part of a message event the bot reads.
type messageEvent struct {
	Type        string `json:"type"`
	Subtype     string `json:"subtype"`
	ChannelType string `json:"channel_type"`
	Channel     string `json:"channel"`
	User        string `json:"user"`
	BotID       string `json:"bot_id"`
	Text        string `json:"text"`
	TS          string `json:"ts"`
}

// interaction is the part of a block_actions payload the bot reads.
type interaction struct {
	Type string `json:"type"`
	Team *struct {
		ID string `json:"id"`
	} `json:"team"`
	User struct {
		ID     string `json:"id"`
		TeamID string `json:"team_id"`
	} `json:"user"`
	TriggerID string `json:"trigger_id"`
	Container struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Message struct {
		TS     string `json:"ts"`
		Blocks []struct {
			Type     string `json:"type"`
			BlockID  string `json:"block_id"`
			Elements []struct {
				Type           string         `json:"type"`
				ActionID       string         `json:"action_id"`
				Options        []optionObject `json:"options"`
				InitialOptions []optionObject `json:"initial_options"`
			} `json:"elements"`
		} `json:"blocks"`
	} `json:"message"`
	State struct {
		Values map[string]map[string]struct {
			Type            string         `json:"type"`
			SelectedOptions []optionObject `json:"selected_options"`
		} `json:"values"`
	} `json:"state"`
	Actions []struct {
		Type            string         `json:"type"`
		ActionID        string         `json:"action_id"`
		BlockID         string         `json:"block_id"`
		Value           string         `json:"value"`
		ActionTS        string         `json:"action_ts"`
		SelectedOptions []optionObject `json:"selected_options"`
	} `json:"actions"`
}

type optionObject struct {
	Value string `json:"value"`
}

// command is a slash command's fields.
type command struct {
	TeamID      string `json:"team_id"`
	UserID      string `json:"user_id"`
	Command     string `json:"command"`
	Text        string `json:"text"`
	TriggerID   string `json:"trigger_id"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name"`
}

// errBadPayload marks an update that cannot be read: acknowledged (Slack
// would only send it again) and dropped.
var errBadPayload = errors.New("unreadable Slack payload")

// errIgnored marks a stored update that asks nothing of the bot.
var errIgnored = errors.New("nothing to do")

// inboxID returns the inbox id of an update, and keep false for an update
// the bot does not act on: it is acknowledged without being stored.
func inboxID(kind string, body []byte) (id string, keep bool, err error) {
	switch kind {
	case kindEvent:
		var e eventCallback
		if err := json.Unmarshal(body, &e); err != nil {
			return "", false, fmt.Errorf("%w: event: %v", errBadPayload, err)
		}
		if e.Type != "event_callback" || !e.Event.wanted() {
			return "", false, nil
		}
		if e.EventID == "" {
			return "", false, fmt.Errorf("%w: event without an event_id", errBadPayload)
		}
		return "slack:e:" + e.EventID, true, nil
	case kindInteraction:
		var in interaction
		if err := json.Unmarshal(body, &in); err != nil {
			return "", false, fmt.Errorf("%w: interaction: %v", errBadPayload, err)
		}
		if in.Type != "block_actions" || !in.pressed() {
			return "", false, nil
		}
		key := in.TriggerID
		if key == "" {
			key = in.Actions[0].ActionTS
		}
		if key == "" {
			return "", false, fmt.Errorf("%w: block_actions without a trigger_id or action_ts", errBadPayload)
		}
		return "slack:i:" + in.team() + ":" + key, true, nil
	case kindCommand:
		var c command
		if err := json.Unmarshal(body, &c); err != nil {
			return "", false, fmt.Errorf("%w: command: %v", errBadPayload, err)
		}
		if c.TriggerID == "" || c.UserID == "" {
			return "", false, fmt.Errorf("%w: slash command without a trigger_id or user_id", errBadPayload)
		}
		return "slack:c:" + c.TriggerID, true, nil
	}
	return "", false, fmt.Errorf("%w: unknown kind %q", errBadPayload, kind)
}

// wanted reports whether a message event is one a participant typed in a
// direct message with the bot: not the bot's own, not an edit, not a join.
func (m messageEvent) wanted() bool {
	return m.Type == "message" && m.ChannelType == "im" && m.Subtype == "" && m.BotID == "" && m.User != "" && m.Channel != ""
}

// pressed reports whether a block_actions payload holds a button press the
// bot rendered. Ticking a checkbox is not one: the ticks are read when a
// button under them is pressed.
func (in interaction) pressed() bool {
	if len(in.Actions) == 0 {
		return false
	}
	a := in.Actions[0]
	if a.Type != "button" {
		return false
	}
	_, _, ok := choiceData(a.Value)
	return ok
}

func (in interaction) team() string {
	if in.Team != nil && in.Team.ID != "" {
		return in.Team.ID
	}
	return in.User.TeamID
}

// update is a stored update translated: the inputs it makes, in order, and
// when Slack named no conversation to reply in, the user whose direct
// message it is.
type update struct {
	participant string
	inputs      []flows.Input
	dmUser      string // set ReplyTo to the DM with this user
}

// decode translates an inbox item into inputs. It returns errIgnored for an
// update that asks nothing, errBadPayload for one that cannot be read.
func decode(r flows.Received) (update, error) {
	var rec record
	if err := json.Unmarshal(r.Payload, &rec); err != nil {
		return update{}, fmt.Errorf("%w: %v", errBadPayload, err)
	}
	base := flows.Input{ID: r.ID, Channel: Channel}
	switch rec.Kind {
	case kindEvent:
		var e eventCallback
		if err := json.Unmarshal(rec.Body, &e); err != nil {
			return update{}, fmt.Errorf("%w: event: %v", errBadPayload, err)
		}
		if e.Type != "event_callback" || !e.Event.wanted() {
			return update{}, errIgnored
		}
		text := strings.TrimSpace(unescape(e.Event.Text))
		if text == "" {
			return update{}, errIgnored
		}
		in := base
		in.Participant = identity(e.TeamID, e.Event.User)
		in.Text = text
		in.ReplyTo = e.Event.Channel
		return update{participant: in.Participant, inputs: []flows.Input{in}}, nil

	case kindInteraction:
		var it interaction
		if err := json.Unmarshal(rec.Body, &it); err != nil {
			return update{}, fmt.Errorf("%w: interaction: %v", errBadPayload, err)
		}
		if it.Type != "block_actions" || len(it.Actions) == 0 {
			return update{}, errIgnored
		}
		a := it.Actions[0]
		if a.Type != "button" {
			return update{}, errIgnored
		}
		data, multiNav, ok := choiceData(a.Value)
		if !ok {
			return update{}, fmt.Errorf("%w: a button value the bot did not produce: %.40q", errBadPayload, a.Value)
		}
		channel := it.Container.ChannelID
		if channel == "" {
			channel = it.Channel.ID
		}
		ts := it.Container.MessageTS
		if ts == "" {
			ts = it.Message.TS
		}
		if channel == "" || it.User.ID == "" {
			return update{}, fmt.Errorf("%w: block_actions without a channel or user", errBadPayload)
		}
		base.Participant = identity(it.team(), it.User.ID)
		base.ReplyTo = channel
		if ts != "" {
			base.Ref = channel + ":" + ts
		}
		var inputs []flows.Input
		if multiNav {
			for i, toggled := range it.toggles() {
				in := base
				in.ID = r.ID + "/t" + strconv.Itoa(i+1)
				in.Choice = toggled
				inputs = append(inputs, in)
			}
		}
		in := base
		in.Choice = data
		inputs = append(inputs, in)
		return update{participant: base.Participant, inputs: inputs}, nil

	case kindCommand:
		var c command
		if err := json.Unmarshal(rec.Body, &c); err != nil {
			return update{}, fmt.Errorf("%w: command: %v", errBadPayload, err)
		}
		in := commandInput(c.Text)
		in.ID = r.ID
		in.Channel = Channel
		in.Participant = identity(c.TeamID, c.UserID)
		return update{participant: in.Participant, inputs: []flows.Input{in}, dmUser: c.UserID}, nil
	}
	return update{}, fmt.Errorf("%w: unknown kind %q", errBadPayload, rec.Kind)
}

// toggles returns the checkbox options whose tick the participant changed
// since the message was rendered: the message's initial options against the
// state Slack sends with the press. They are applied, in option order,
// before the button pressed under them.
func (it interaction) toggles() []string {
	var out []string
	for _, blk := range it.Message.Blocks {
		for _, el := range blk.Elements {
			if el.Type != "checkboxes" {
				continue
			}
			st, ok := it.State.Values[blk.BlockID][el.ActionID]
			if !ok {
				continue // no state: nothing changed
			}
			var was, now []string
			for _, o := range el.InitialOptions {
				was = append(was, o.Value)
			}
			for _, o := range st.SelectedOptions {
				now = append(now, o.Value)
			}
			for _, o := range el.Options {
				if slices.Contains(was, o.Value) == slices.Contains(now, o.Value) {
					continue
				}
				if data, _, ok := choiceData(o.Value); ok {
					out = append(out, data)
				}
			}
		}
	}
	return out
}

// commandInput translates the words after the slash command: nothing
// starts (or resumes) the only open consultation, a command word is that
// command with the rest as its argument, anything else is an invite code.
func commandInput(text string) flows.Input {
	text = strings.TrimSpace(text)
	if text == "" {
		return flows.Input{Command: flows.CmdStart}
	}
	word, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		word, rest = text[:i], text[i:]
	}
	word = strings.ToLower(strings.TrimPrefix(word, "/"))
	for _, c := range flows.Commands {
		if word == string(c) {
			return flows.Input{Command: c, Arg: strings.TrimSpace(rest)}
		}
	}
	return flows.Input{Command: flows.CmdStart, Arg: text}
}
