package slackbot

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/consultbot/consultbot/flows"
)

// Block Kit limits (api.slack.com/reference/block-kit). Whatever a
// consultation file holds, a rendered message stays within them.
const (
	maxBlocks          = 50   // blocks in one message
	maxActionElements  = 25   // elements in one actions block
	maxButtonText      = 75   // characters of a button's or an option's text
	maxValue           = 2000 // characters of a button's value
	maxOptionValue     = 150  // characters of an option's value
	maxID              = 255  // characters of an action_id or block_id
	maxSectionText     = 3000 // characters of a section's text
	maxCheckboxOptions = 10   // options in one checkboxes element
	maxFallbackText    = 3000 // characters of the notification text we send
)

// Values of the buttons and checkboxes we render start with one of these, so
// a value we did not produce is refused. The rest is the engine's Choice.Data.
const (
	valuePrefix    = "cb1|"  // a button or checkbox option
	multiNavPrefix = "cb1m|" // a button under checkboxes: the ticks are applied first
)

// render turns a reply into a notification text and Block Kit blocks: the
// text in sections, answer options as buttons (checkboxes for a multi
// question), and skip, back and done as buttons of their own.
func render(r flows.Reply) (string, []slack.Block) {
	var opts, nav []flows.Choice
	for _, c := range r.Choices {
		if c.Nav {
			nav = append(nav, c)
		} else {
			opts = append(opts, c)
		}
	}
	qid := idPart(r.Question)

	// Option blocks: buttons, or checkboxes for a multi question.
	var optBlocks []slack.Block
	var counts []int // options in each of optBlocks
	if r.Multi {
		// Vary the block ids with what is ticked, so Slack shows the
		// initial options of an edited message rather than the old state.
		var sel strings.Builder
		for _, o := range opts {
			if o.Selected {
				sel.WriteString(o.Data)
				sel.WriteByte(0)
			}
		}
		sum := sha256.Sum256([]byte(sel.String()))
		tag := hex.EncodeToString(sum[:3])
		for i := 0; i < len(opts); i += maxCheckboxOptions {
			group := opts[i:min(i+maxCheckboxOptions, len(opts))]
			k := strconv.Itoa(i / maxCheckboxOptions)
			el := slack.NewCheckboxGroupsBlockElement("m" + k)
			for _, o := range group {
				opt := slack.NewOptionBlockObject(valuePrefix+o.Data, plain(o.Label), nil)
				el.Options = append(el.Options, opt)
				if o.Selected {
					el.InitialOptions = append(el.InitialOptions, opt)
				}
			}
			optBlocks = append(optBlocks, slack.NewActionBlock(blockID(qid, "m"+k+"-"+tag), el))
			counts = append(counts, len(group))
		}
	} else {
		for i := 0; i < len(opts); i += maxActionElements {
			group := opts[i:min(i+maxActionElements, len(opts))]
			els := make([]slack.BlockElement, 0, len(group))
			for j, o := range group {
				label := o.Label
				if o.Selected {
					label = "✓ " + label
				}
				btn := slack.NewButtonBlockElement("b"+strconv.Itoa(i+j), valuePrefix+o.Data, plain(label))
				if o.Selected {
					btn.Style = slack.StylePrimary
				}
				els = append(els, btn)
			}
			optBlocks = append(optBlocks, slack.NewActionBlock(blockID(qid, "o"+strconv.Itoa(i/maxActionElements)), els...))
			counts = append(counts, len(group))
		}
	}

	var navBlock slack.Block
	if len(nav) > 0 {
		if len(nav) > maxActionElements {
			nav = nav[:maxActionElements]
		}
		els := make([]slack.BlockElement, 0, len(nav))
		prefix := valuePrefix
		if r.Multi {
			prefix = multiNavPrefix
		}
		for i, c := range nav {
			btn := slack.NewButtonBlockElement("n"+strconv.Itoa(i), prefix+c.Data, plain(c.Label))
			if r.Multi && i == len(nav)-1 {
				btn.Style = slack.StylePrimary
			}
			els = append(els, btn)
		}
		navBlock = slack.NewActionBlock(blockID(qid, "n"), els...)
	}

	text := strings.TrimRight(r.Text, "\n")
	chunks := splitText(escape(text), maxSectionText)

	// Share the block budget: buttons first (they are the answer), then the
	// text, truncated when a file holds more than a message can.
	budget := maxBlocks
	if navBlock != nil {
		budget--
	}
	var note slack.Block
	if need := 1 + len(optBlocks); len(chunks) > 0 && need > budget || len(chunks) == 0 && len(optBlocks) > budget {
		keep := budget - 2 // one text block, one note
		if len(chunks) == 0 {
			keep = budget - 1
		}
		optBlocks = optBlocks[:keep]
		shown := 0
		for _, n := range counts[:keep] {
			shown += n
		}
		note = slack.NewContextBlock(blockID(qid, "more"), slack.NewTextBlockObject(slack.PlainTextType,
			"Only the first "+strconv.Itoa(shown)+" of "+strconv.Itoa(len(opts))+" options fit here: type your answer to choose another.", false, false))
		budget--
	}
	if room := budget - len(optBlocks); len(chunks) > room {
		chunks = chunks[:room]
		last := []rune(chunks[room-1])
		if len(last) >= maxSectionText {
			last = last[:maxSectionText-1]
		}
		chunks[room-1] = string(last) + "…"
	}

	blocks := make([]slack.Block, 0, len(chunks)+len(optBlocks)+2)
	for i, c := range chunks {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, c, false, false), nil, nil,
			slack.SectionBlockOptionBlockID(blockID(qid, "t"+strconv.Itoa(i)))))
	}
	blocks = append(blocks, optBlocks...)
	if note != nil {
		blocks = append(blocks, note)
	}
	if navBlock != nil {
		blocks = append(blocks, navBlock)
	}

	fallback := truncate(escape(text), maxFallbackText)
	if fallback == "" {
		fallback = "…"
	}
	return fallback, blocks
}

// plain is a plain_text object for a button or an option, within the
// 75-character limit and never empty.
func plain(s string) *slack.TextBlockObject {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		s = "·"
	}
	return slack.NewTextBlockObject(slack.PlainTextType, truncate(s, maxButtonText), true, false)
}

// truncate shortens s to at most n characters, ending with an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// escape makes text safe for Slack's mrkdwn: &, < and > are control
// characters there.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// unescape undoes what Slack does to text a person typed.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// splitText cuts s into pieces of at most n characters, at a line break or a
// space when there is one in the second half of a piece. Empty text gives none.
func splitText(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		if len(r) <= n {
			out = append(out, string(r))
			break
		}
		cut := n
		for i := n; i > n/2; i-- {
			if r[i-1] == '\n' || r[i-1] == ' ' {
				cut = i
				break
			}
		}
		piece := strings.TrimRight(string(r[:cut]), " \n")
		if piece != "" {
			out = append(out, piece)
		}
		r = r[cut:]
	}
	return out
}

// idPart is a question id fit for a block id: a question id is letters,
// digits, - and _, but a long one is cut.
func idPart(q string) string {
	if len(q) > 200 {
		q = q[:200]
	}
	return q
}

// blockID is "<question>:<part>" (or the part alone for a message that asks
// no question), within the 255-character limit.
func blockID(qid, part string) string {
	id := part
	if qid != "" {
		id = qid + ":" + part
	}
	if len(id) > maxID {
		id = id[:maxID]
	}
	return id
}

// choiceData returns the engine's Choice.Data carried by a value we rendered,
// and whether it is a button under checkboxes. ok is false for a value we did
// not produce.
func choiceData(v string) (data string, multiNav, ok bool) {
	if d, found := strings.CutPrefix(v, multiNavPrefix); found {
		return d, true, validData(d)
	}
	if d, found := strings.CutPrefix(v, valuePrefix); found {
		return d, false, validData(d)
	}
	return "", false, false
}

// validData reports whether d could be an engine Choice.Data: 1 to 32 bytes
// of printable text.
func validData(d string) bool {
	if d == "" || len(d) > 32 || !utf8.ValidString(d) {
		return false
	}
	for _, r := range d {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
