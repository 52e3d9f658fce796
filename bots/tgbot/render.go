package tgbot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/consultbot/consultbot/flows"
)

// Telegram's limits on what the bot sends.
const (
	maxText       = 4096 // message text, in UTF-16 code units (Telegram's "characters")
	maxButtons    = 100  // buttons on one inline keyboard
	maxCallback   = 64   // callback_data, in bytes
	maxCallbackTx = 200  // answerCallbackQuery text
)

// callback_data is dataPrefix + the conversation's Choice.Data + "|" + a MAC
// of the chat and the data, so a button works only in the chat it was sent
// to and only if this bot made it.
const (
	dataPrefix = "c|"
	macBytes   = 6
	macLen     = 8 // base64 of macBytes
	maxData    = maxCallback - len(dataPrefix) - 1 - macLen
)

// errRender means a reply cannot be shown on Telegram as it is: sending it
// again would not help.
var errRender = errors.New("cannot render")

func (s signer) mac(chat int64, data string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strconv.FormatInt(chat, 10)))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:macBytes])
}

// sign returns the callback_data of a button carrying data in chat.
func (s signer) sign(chat int64, data string) (string, error) {
	if data == "" || len(data) > maxData || !utf8.ValidString(data) {
		return "", fmt.Errorf("%w: button data %q: want 1-%d bytes of UTF-8", errRender, data, maxData)
	}
	return dataPrefix + data + "|" + s.mac(chat, data), nil
}

// open returns the data of a callback_data this bot signed for chat; ok is
// false for anything else (forged, mangled, or made for another chat).
func (s signer) open(chat int64, cb string) (data string, ok bool) {
	rest, found := strings.CutPrefix(cb, dataPrefix)
	if !found || len(rest) < macLen+2 {
		return "", false
	}
	data, mac := rest[:len(rest)-macLen-1], rest[len(rest)-macLen:]
	if rest[len(rest)-macLen-1] != '|' || data == "" {
		return "", false
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(chat, data))) {
		return "", false
	}
	return data, true
}

// inlineKeyboard is an InlineKeyboardMarkup of callback buttons. (The
// library's InlineKeyboardButton always sends an empty copy_text object
// beside callback_data, which the Bot API defines as a second button kind.)
type inlineKeyboard struct {
	InlineKeyboard [][]button `json:"inline_keyboard"`
}

type button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// rendered is a reply as Telegram messages: the texts of one or more
// messages, the keyboard going on the last.
type rendered struct {
	parts  []string
	markup *inlineKeyboard // nil: no buttons
}

// tick marks a ticked choice of a multi question.
const tick = "✓ "

// noText stands in for a reply that has buttons but no text: Telegram
// needs text.
const noText = "Please choose:"

// render turns a reply into Telegram messages for chat. An edit is one
// message: its text is cut to Telegram's limit rather than split, and an
// edit with no text changes the keyboard only (parts is empty).
func render(s signer, chat int64, r flows.Reply, edit bool) (rendered, error) {
	var out rendered
	if len(r.Choices) > 0 {
		kb, err := keyboard(s, chat, r.Choices)
		if err != nil {
			return rendered{}, err
		}
		out.markup = kb
	}
	text := strings.TrimSpace(r.Text)
	switch {
	case text == "" && edit:
		if out.markup == nil {
			out.markup = &inlineKeyboard{InlineKeyboard: [][]button{}}
		}
		return out, nil
	case text == "" && out.markup == nil:
		return rendered{}, fmt.Errorf("%w: a reply with neither text nor buttons", errRender)
	case text == "":
		text = noText
	}
	if edit {
		out.parts = []string{truncate(text, maxText)}
	} else {
		out.parts = splitText(text, maxText)
	}
	return out, nil
}

// keyboard lays choices out: answer options one per row, unless they are
// few and short (a scale, yes/no), which go on one row; navigation (skip,
// back, done) on a last row.
func keyboard(s signer, chat int64, choices []flows.Choice) (*inlineKeyboard, error) {
	if len(choices) > maxButtons {
		return nil, fmt.Errorf("%w: %d buttons, Telegram takes at most %d", errRender, len(choices), maxButtons)
	}
	var answers, nav []button
	short, width := true, 0
	for _, c := range choices {
		cb, err := s.sign(chat, c.Data)
		if err != nil {
			return nil, err
		}
		label := strings.TrimSpace(c.Label)
		if label == "" {
			label = c.Data
		}
		if c.Selected {
			label = tick + label
		}
		bt := button{Text: label, CallbackData: cb}
		if c.Nav {
			nav = append(nav, bt)
			continue
		}
		answers = append(answers, bt)
		n := utf8.RuneCountInString(label)
		width += n
		if n > 3 {
			short = false
		}
	}
	kb := &inlineKeyboard{InlineKeyboard: [][]button{}}
	switch {
	case len(answers) == 0:
	case len(answers) <= 11 && short, len(answers) <= 3 && width <= 24:
		kb.InlineKeyboard = append(kb.InlineKeyboard, answers)
	default:
		for _, a := range answers {
			kb.InlineKeyboard = append(kb.InlineKeyboard, []button{a})
		}
	}
	for len(nav) > 0 {
		n := min(len(nav), 3)
		kb.InlineKeyboard = append(kb.InlineKeyboard, nav[:n])
		nav = nav[n:]
	}
	return kb, nil
}

// textLen is a text's length as Telegram counts it: UTF-16 code units.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// prefixLen returns the byte length of the longest prefix of s that is at
// most limit UTF-16 code units long.
func prefixLen(s string, limit int) int {
	n := 0
	for i, r := range s {
		n += utf16.RuneLen(r)
		if n > limit {
			return i
		}
	}
	return len(s)
}

// truncate cuts s to at most limit UTF-16 code units, ending with "…" when cut.
func truncate(s string, limit int) string {
	if textLen(s) <= limit {
		return s
	}
	return strings.TrimRightFunc(s[:prefixLen(s, limit-1)], unicode.IsSpace) + "…"
}

// splitText splits s into parts of at most limit UTF-16 code units: at a
// paragraph break when one falls within the limit, else at a line break,
// else at a space, else anywhere between two characters. Parts hold
// something other than white space.
func splitText(s string, limit int) []string {
	var parts []string
	add := func(p string) {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	for textLen(s) > limit {
		head := s[:prefixLen(s, limit)]
		cut := -1
		for _, sep := range []string{"\n\n", "\n", " "} {
			if i := strings.LastIndex(head, sep); i > 0 && strings.TrimSpace(head[:i]) != "" {
				cut = i
				break
			}
		}
		if cut < 0 {
			cut = len(head)
		}
		add(s[:cut])
		s = s[cut:]
	}
	add(s)
	return parts
}
