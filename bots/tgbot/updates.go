package tgbot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"

	"github.com/consultbot/consultbot/flows"
)

// inboxPrefix starts the inbox id of an update: "tg:u:<update_id>".
const inboxPrefix = "tg:u:"

// inboxID is the inbox id of an update.
func inboxID(updateID int64) string { return inboxPrefix + strconv.FormatInt(updateID, 10) }

// updateID reads the update_id of a raw update.
func updateID(raw []byte) (int64, error) {
	var head struct {
		UpdateID *int64 `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return 0, fmt.Errorf("reading an update: %w", err)
	}
	if head.UpdateID == nil {
		return 0, errors.New("reading an update: no update_id")
	}
	return *head.UpdateID, nil
}

// update is the part of a Telegram update the bot reads.
type update struct {
	ID            int64                     `json:"update_id"`
	Message       *models.Message           `json:"message,omitempty"`
	CallbackQuery *models.CallbackQuery     `json:"callback_query,omitempty"`
	MyChatMember  *models.ChatMemberUpdated `json:"my_chat_member,omitempty"`
}

// event is what one stored update asks of the bot.
type event struct {
	key         string       // updates with one key are handled in order: the person
	input       *flows.Input // for the conversation, if any
	callback    string       // callback query to answer once handled ...
	callbackTxt string       // ... with this text (may be "")
	notice      *flows.Reply // a reply of the channel's own, queued to the chat noticeTo
	noticeTo    string
	noticeWho   string // the person the notice is for, "" in a group
	blocked     string // identity of a person who blocked the bot
}

// The channel's own replies.
const (
	msgOnlyText   = "Sorry, I can only read typed text and button presses. Please type your answer, or send /help."
	msgBadButton  = "That button is not active any more. Please use the buttons on my latest message."
	msgPrivate    = "I run consultations in private chats, so that answers stay between you and the team. Open a private chat with me: %s"
	msgPrivateBtn = "Consultations run in a private chat with me: open %s"
	msgNoButton   = "That button does not work here."
)

// errIgnored marks an update that asks nothing of the bot.
var errIgnored = errors.New("nothing to do")

// decoder turns stored updates into events.
type decoder struct {
	sig      signer
	username string // the bot's, without @; "" when unknown
}

func identity(userID int64) string { return "tg:" + strconv.FormatInt(userID, 10) }

func chatRef(chat int64, message int) string {
	return strconv.FormatInt(chat, 10) + ":" + strconv.Itoa(message)
}

// botLink is the link to a private chat with the bot, starting it with
// code when given.
func (d decoder) botLink(code string) string {
	if d.username == "" {
		return "a private chat with this bot"
	}
	if code != "" {
		return InviteLink(d.username, code)
	}
	return "https://t.me/" + d.username
}

// decode reads a stored update. It returns errIgnored for updates that ask
// nothing of the bot (edits, channel posts, chatter in groups).
func (d decoder) decode(r flows.Received) (event, error) {
	var u update
	if err := json.Unmarshal(r.Payload, &u); err != nil {
		return event{}, fmt.Errorf("update %s: %w", r.ID, err)
	}
	switch {
	case u.Message != nil:
		return d.message(r.ID, u.Message)
	case u.CallbackQuery != nil:
		return d.callback(r.ID, u.CallbackQuery)
	case u.MyChatMember != nil:
		m := u.MyChatMember
		if m.Chat.Type == models.ChatTypePrivate && m.NewChatMember.Type == models.ChatMemberTypeBanned {
			who := identity(m.From.ID)
			return event{key: who, blocked: who}, nil
		}
	}
	return event{}, errIgnored
}

func (d decoder) message(id string, m *models.Message) (event, error) {
	if m.From == nil || m.From.IsBot {
		return event{}, errIgnored
	}
	who := identity(m.From.ID)
	chat := strconv.FormatInt(m.Chat.ID, 10)
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	if m.Chat.Type != models.ChatTypePrivate {
		return d.group(id, m, text)
	}
	ev := event{key: who}
	in := flows.Input{
		ID:          id,
		Participant: who,
		Channel:     Channel,
		Language:    m.From.LanguageCode,
		ReplyTo:     chat,
	}
	if strings.TrimSpace(text) == "" {
		ev.notice, ev.noticeTo, ev.noticeWho = &flows.Reply{Text: msgOnlyText}, chat, who
		return ev, nil
	}
	if cmd, arg, ok := command(text); ok {
		in.Command, in.Arg = cmd, arg
	} else {
		in.Text = text
	}
	ev.input = &in
	return ev, nil
}

// group answers a command or a mention in a group with a pointer to a
// private chat; other chatter there is not the bot's business.
func (d decoder) group(id string, m *models.Message, text string) (event, error) {
	if m.Chat.Type == models.ChatTypeChannel {
		return event{}, errIgnored
	}
	addressed, code := false, ""
	if strings.HasPrefix(text, "/") {
		name, arg, _ := strings.Cut(strings.TrimPrefix(text, "/"), " ")
		name, at, hasAt := strings.Cut(name, "@")
		addressed = !hasAt || (d.username != "" && strings.EqualFold(at, d.username))
		if strings.EqualFold(name, string(flows.CmdStart)) {
			code = strings.TrimSpace(arg)
		}
	} else if d.username != "" && strings.Contains(strings.ToLower(text), "@"+strings.ToLower(d.username)) {
		addressed = true
	}
	if !addressed {
		return event{}, errIgnored
	}
	chat := strconv.FormatInt(m.Chat.ID, 10)
	return event{
		key:      "chat:" + chat,
		notice:   &flows.Reply{Text: fmt.Sprintf(msgPrivate, d.botLink(code))},
		noticeTo: chat,
	}, nil
}

func (d decoder) callback(id string, q *models.CallbackQuery) (event, error) {
	who := identity(q.From.ID)
	ev := event{key: who, callback: q.ID}
	var chat models.Chat
	var msg int
	switch {
	case q.Message.Message != nil:
		chat, msg = q.Message.Message.Chat, q.Message.Message.ID
	case q.Message.InaccessibleMessage != nil:
		chat, msg = q.Message.InaccessibleMessage.Chat, q.Message.InaccessibleMessage.MessageID
	default:
		ev.callbackTxt = msgNoButton
		return ev, nil
	}
	if chat.Type != models.ChatTypePrivate {
		ev.callbackTxt = truncate(fmt.Sprintf(msgPrivateBtn, d.botLink("")), maxCallbackTx)
		return ev, nil
	}
	data, ok := d.sig.open(chat.ID, q.Data)
	if !ok {
		ev.callbackTxt = msgBadButton
		return ev, nil
	}
	ev.input = &flows.Input{
		ID:          id,
		Participant: who,
		Channel:     Channel,
		Language:    q.From.LanguageCode,
		Choice:      data,
		ReplyTo:     strconv.FormatInt(chat.ID, 10),
		Ref:         chatRef(chat.ID, msg),
	}
	return ev, nil
}

// command reads a participant command: "/name[@bot] [argument]". A known
// name gives that command; any other gives help, which lists them. Text that
// is not a command (not a slash and a name) gives ok false.
func command(text string) (flows.Command, string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), "/")
	if !ok {
		return "", "", false
	}
	word, arg, _ := strings.Cut(rest, " ")
	if i := strings.IndexAny(word, "\n\t"); i >= 0 {
		arg = word[i:] + " " + arg
		word = word[:i]
	}
	name, _, _ := strings.Cut(word, "@")
	name = strings.ToLower(name)
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return "", "", false
	}
	arg = strings.TrimSpace(arg)
	for _, c := range flows.Commands {
		if string(c) == name {
			return c, arg, true
		}
	}
	return flows.CmdHelp, "", true
}
