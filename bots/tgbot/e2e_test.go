package tgbot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// End-to-end tests: the fake Bot API, the bot, the real runner and the real
// store (embedded FerretDB), and the consultations in examples/.

var _ Store = (*storage.Store)(nil)
var _ Conversation = (*storage.Runner)(nil)

// moduleRoot is the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package")
		}
		dir = parent
	}
}

// world is a bot on the fake Telegram with the real store and runner.
type world struct {
	f      *fakeTG
	st     *storage.Store
	runner *storage.Runner
	cons   map[string]*flows.Consultation
	bot    *Bot
	cfg    Config
}

// newWorld opens a fresh store, loads the example consultations
// and starts a bot; mod may change the bot's configuration first. Chats
// take 20 messages a second here (the fake agrees), so that a whole
// consultation does not take a minute.
func newWorld(t testing.TB, mod func(*Config)) *world {
	t.Helper()
	ctx := context.Background()
	cs, err := flows.LoadDir(filepath.Join(moduleRoot(t), "examples"))
	if err != nil {
		t.Fatalf("loading the examples: %v", err)
	}
	st := openStore(t, storage.Config{Logger: testLogger(t)})
	w := &world{st: st, cons: map[string]*flows.Consultation{}}
	for _, c := range cs {
		src, err := os.ReadFile(c.File)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveConsultation(ctx, c, src); err != nil {
			t.Fatalf("saving %s: %v", c.ID, err)
		}
		w.cons[c.ID] = c
	}
	w.runner = storage.NewRunner(st, cs, storage.RunnerOptions{Logger: testLogger(t)})
	w.f = newFake(t)
	w.f.chatPerSec = 20
	w.cfg = testConfig(t, w.f)
	w.cfg.ChatRate = 20
	if mod != nil {
		mod(&w.cfg)
	}
	w.bot = startBot(t, w.cfg, w.runner, st)
	return w
}

// placeholder matches {{...}} in a question's text.
var placeholder = regexp.MustCompile(`\{\{[^}]*\}\}`)

// key is the longest piece of a question's text without placeholders: a
// message that asks the question contains it.
func key(c *flows.Consultation, q flows.Question) string {
	best := ""
	for _, p := range placeholder.Split(q.Text.In("en", c.Language), -1) {
		if p = strings.TrimSpace(p); len(p) > len(best) {
			best = p
		}
	}
	return best
}

// participant plays one person taking a consultation through Telegram.
type participant struct {
	t      testing.TB
	w      *world
	c      *flows.Consultation
	user   int64
	typing bool           // type every answer, rather than press buttons
	want   map[string]any // what the store should hold: question id -> value
	seen   int            // the last message of the bot acted on
	asked  int            // index of the last question asked
}

const consentQuestion = "Do you agree to take part?"

// prompt waits for the bot's next message that asks something: the consent,
// a question (returned), or the closing (done).
func (p *participant) prompt() (msg fakeMsg, q *flows.Question, done bool) {
	p.t.Helper()
	closing := strings.TrimSpace(strings.SplitN(p.c.Closing.In("en", p.c.Language), "\n", 2)[0])
	waitFor(p.t, fmt.Sprintf("the bot's next prompt after message %d", p.seen), func() bool {
		m, ok := p.w.f.last(p.user)
		if !ok || m.ID <= p.seen {
			return false
		}
		msg, q, done = m, nil, false
		if strings.Contains(m.Text, closing) {
			done = true
			return true
		}
		if strings.Contains(m.Text, consentQuestion) {
			return true
		}
		// The first question after the last one asked whose text the
		// message holds (several questions may share a text).
		for i := p.asked + 1; i < len(p.c.Questions) && q == nil; i++ {
			if strings.Contains(m.Text, key(p.c, p.c.Questions[i])) {
				q = &p.c.Questions[i]
			}
		}
		return q != nil
	})
	p.seen = msg.ID
	if q != nil {
		p.asked = slices.IndexFunc(p.c.Questions, func(x flows.Question) bool { return x.ID == q.ID })
	}
	return msg, q, done
}

// press presses the button labelled label (ticks aside) on msg.
func (p *participant) press(msg fakeMsg, label string) {
	p.t.Helper()
	_, query := p.w.f.press(p.user, msg, label)
	waitFor(p.t, "the callback answered", func() bool { _, ok := p.w.f.answer(query); return ok })
}

// pressPrefix presses the first button whose label starts with prefix.
func (p *participant) pressPrefix(msg fakeMsg, prefix string) {
	p.t.Helper()
	for _, l := range msg.labels() {
		if strings.HasPrefix(l, prefix) {
			p.press(msg, l)
			return
		}
	}
	p.t.Fatalf("no button starting %q on %q; buttons %q", prefix, msg.Text, msg.labels())
}

func (p *participant) say(text string) { p.w.f.say(p.user, text) }

// join starts the consultation: by invite code when it is invite-only; an
// open one by /start and its button, or by /start <id> when typing.
func (p *participant) join() {
	p.t.Helper()
	switch {
	case !p.c.Open:
		codes, err := p.w.st.CreateInvites(context.Background(), p.c.ID, 1, time.Now())
		if err != nil {
			p.t.Fatal(err)
		}
		p.say("/start " + codes[0])
	case p.typing:
		p.say("/start " + p.c.ID)
	default:
		p.say("/start")
		m := lastWith(p.t, p.w.f, p.user, "the list of consultations", func(m fakeMsg) bool { return len(m.Buttons) > 0 })
		p.seen = m.ID
		p.press(m, p.c.Title.In("en", p.c.Language))
	}
}

// answer answers question q asked by msg, and notes what the store should hold.
func (p *participant) answer(msg fakeMsg, q *flows.Question) {
	p.t.Helper()
	switch q.Type {
	case flows.TypeChoice:
		i := min(1, len(q.Options)-1) // the second option: it takes the branches
		p.want[q.ID] = q.Options[i].Value
		if p.typing {
			p.say(strconv.Itoa(i + 1))
		} else {
			p.press(msg, q.Options[i].Label.In("en", p.c.Language))
		}
	case flows.TypeScale:
		low := int(*q.Min) + 1
		p.want[q.ID] = float64(low)
		if p.typing {
			p.say(strconv.Itoa(low))
		} else {
			p.pressPrefix(msg, strconv.Itoa(low))
		}
	case flows.TypeYesNo:
		p.want[q.ID] = "yes"
		if p.typing {
			p.say("yes")
		} else {
			p.press(msg, "Yes")
		}
	case flows.TypeMulti:
		first, last := q.Options[0], q.Options[len(q.Options)-1]
		p.want[q.ID] = []string{first.Value, last.Value}
		if p.typing {
			p.say("1, " + strconv.Itoa(len(q.Options)))
			return
		}
		for _, o := range []flows.Option{first, last} {
			label := o.Label.In("en", p.c.Language)
			p.press(msg, label)
			msg = lastWith(p.t, p.w.f, p.user, "the tick on "+label, func(m fakeMsg) bool {
				return m.ID == msg.ID && slices.Contains(m.labels(), tick+label)
			})
		}
		p.press(msg, "Done")
	case flows.TypeNumber:
		p.want[q.ID] = 12.0
		p.say("12")
	case flows.TypeDate:
		p.want[q.ID] = "2027-01-15"
		p.say("2027-01-15")
	default:
		text := "In my words: " + q.ID
		p.want[q.ID] = text
		p.say(text)
	}
}

// complete takes the consultation from joining to the closing message.
func (p *participant) complete() {
	p.t.Helper()
	p.join()
	for range 100 {
		msg, q, done := p.prompt()
		switch {
		case done:
			return
		case q == nil: // the consent
			if p.typing {
				p.say("yes")
			} else {
				p.press(msg, "Yes, I agree")
			}
		default:
			p.answer(msg, q)
		}
	}
	p.t.Fatal("no closing after 100 prompts")
}

// check compares the stored response with the answers given.
func (p *participant) check() {
	p.t.Helper()
	rs, err := p.w.st.Responses(context.Background(), p.c.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(rs) != 1 {
		p.t.Fatalf("got %d responses, want 1", len(rs))
	}
	r := rs[0]
	if r.Status != "completed" {
		p.t.Errorf("status: got %s, want completed", r.Status)
	}
	got := map[string]any{}
	for id, a := range r.Answers {
		got[id] = a.Value()
	}
	if !reflect.DeepEqual(got, p.want) {
		p.t.Errorf("stored answers:\n got %v\nwant %v", got, p.want)
	}
}

func TestExamplesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	for _, mode := range []string{"buttons", "typing"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, nil)
			ids := make([]string, 0, len(w.cons))
			for id := range w.cons {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for i, id := range ids {
				t.Run(id, func(t *testing.T) {
					p := &participant{t: t, w: w, c: w.cons[id], user: int64(5000 + i), typing: mode == "typing", want: map[string]any{}, asked: -1}
					p.complete()
					p.check()
				})
			}
			if n := w.f.violations(); n != 0 {
				t.Errorf("got %d rate-limit violations, want 0", n)
			}
		})
	}
}

// consentOf starts a participant on draft-questions and returns the consent
// message.
func consentOf(t testing.TB, w *world, user int64) fakeMsg {
	t.Helper()
	w.f.say(user, "/start draft-questions")
	return lastWith(t, w.f, user, "the consent", hasText(consentQuestion))
}

func TestStoreRedeliveredUpdateOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	w := newWorld(t, nil)
	u := w.f.message(42, 42, "/start draft-questions")
	w.f.push(u)
	lastWith(t, w.f, 42, "the consent", hasText(consentQuestion))
	raw, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	w.f.redeliver(raw)
	w.f.say(42, "/help")
	lastWith(t, w.f, 42, "the help", hasText("/pause"))
	n := 0
	for _, m := range w.f.sent(42) {
		if strings.Contains(m.Text, consentQuestion) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the consent was sent %d times, want once", n)
	}
}

func TestStoreForgedAndStaleButtons(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	w := newWorld(t, nil)
	consent := consentOf(t, w, 42)
	w.f.press(42, consent, "Yes, I agree")
	role := lastWith(t, w.f, 42, "the first question", hasText("which of these best describes you"))
	w.f.press(42, role, "Peer mentor")
	lastWith(t, w.f, 42, "the second question", hasText("Draft question 1"))
	before := len(w.f.sent(42))

	// A stale button: the role question's, pressed again from the old keyboard.
	_, stale := w.f.press(42, role, "Professional or volunteer")
	lastWith(t, w.f, 42, "the explanation", hasText("That button belongs to an earlier message"))
	// A forged one: the engine's own data, without this bot's signature.
	_, forged := w.f.pressData(42, role, "a3.2")
	waitFor(t, "the forged callback answered", func() bool { _, ok := w.f.answer(forged); return ok })
	if txt, _ := w.f.answer(forged); txt != msgBadButton {
		t.Errorf("forged: got answer %q, want %q", txt, msgBadButton)
	}
	if _, ok := w.f.answer(stale); !ok {
		t.Error("the stale callback was not answered")
	}
	w.f.say(42, "/mydata")
	mine := lastWith(t, w.f, 42, "the answers", hasText("→"))
	if !strings.Contains(mine.Text, "Peer mentor") || strings.Contains(mine.Text, "Professional") {
		t.Errorf("answers: got %q, want the role still Peer mentor", mine.Text)
	}
	rs, err := w.st.Responses(context.Background(), "draft-questions")
	if err != nil || len(rs) != 1 {
		t.Fatalf("got %v, %v; want one response", rs, err)
	}
	if got := rs[0].Answers["role"].Text; got != "peer" || len(rs[0].Answers) != 1 {
		t.Errorf("stored: got %v, want only role = peer", rs[0].Answers)
	}
	// stale explanation + mydata; the forged press sent nothing
	if got := len(w.f.sent(42)); got != before+2 {
		t.Errorf("got %d messages, want %d", got, before+2)
	}
}

func TestStoreBlockedParticipant(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	w := newWorld(t, nil)
	consentOf(t, w, 42)
	w.f.block(42)
	ctx := context.Background()
	var msgs []flows.Outgoing
	for i := range 3 {
		msgs = append(msgs, flows.Outgoing{ID: fmt.Sprintf("reminder-%d", i), Channel: Channel, Participant: "tg:42", To: "42", Reply: flows.Reply{Text: "Hello again"}})
	}
	if err := w.st.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the participant marked unreachable", func() bool {
		p, err := w.st.Participant(ctx, "tg:42")
		return err == nil && slices.Contains(p.Unreachable, "tg:42")
	})
	waitFor(t, "the reminders settled", func() bool {
		n, err := w.st.OutboxCounts(ctx, Channel)
		return err == nil && n[storage.OutFailed] == 3 && n[storage.OutPending]+n[storage.OutClaimed]+n[storage.OutSending] == 0
	})
	sends := 0
	for _, c := range w.f.callsOf("sendMessage") {
		if c.Chat == 42 && c.Status == http.StatusForbidden {
			sends++
		}
	}
	if sends != 1 {
		t.Errorf("got %d sends refused, want 1: nothing more after the first refusal", sends)
	}
}

func TestStoreRetryAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	w := newWorld(t, nil)
	w.f.failNext(failRule{method: "sendMessage", chat: 42, code: http.StatusTooManyRequests, desc: "Too Many Requests: retry after 1", retryAfter: 1})
	consentOf(t, w, 42)
	calls := w.f.callsOf("sendMessage")
	if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests {
		t.Fatalf("got %+v, want a 429 then the consent", calls)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("the retry came %v after the 429, inside its 1s retry_after", gap)
	}
	if n := len(w.f.sent(42)); n != 1 {
		t.Errorf("got %d messages, want the consent once", n)
	}
}

func TestStoreWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts an embedded store")
	}
	w := newWorld(t, func(c *Config) {
		c.WebhookURL = "https://bot.example.org/tg"
		c.WebhookSecret = "right-secret"
	})
	srv := httptest.NewServer(w.bot.WebhookHandler())
	defer srv.Close()
	post := func(secret string, u map[string]any) int {
		w.f.mu.Lock()
		w.f.nextUpdate++
		u["update_id"] = w.f.nextUpdate
		w.f.mu.Unlock()
		raw, _ := json.Marshal(u)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("wrong-secret", w.f.message(42, 42, "/start draft-questions")); got != http.StatusUnauthorized {
		t.Errorf("wrong secret: got %d, want 401", got)
	}
	if got := post("", w.f.message(42, 42, "/start draft-questions")); got != http.StatusUnauthorized {
		t.Errorf("no secret: got %d, want 401", got)
	}
	pending, err := w.st.InboxPending(context.Background(), Channel, 10)
	if err != nil || len(pending) != 0 {
		t.Errorf("inbox after refused calls: got %d, %v; want empty", len(pending), err)
	}
	if got := post("right-secret", w.f.message(42, 42, "/start draft-questions")); got != http.StatusOK {
		t.Errorf("right secret: got %d, want 200", got)
	}
	lastWith(t, w.f, 42, "the consent", hasText(consentQuestion))
	if n := len(w.f.sent(42)); n != 1 {
		t.Errorf("got %d messages, want the consent only", n)
	}
}
