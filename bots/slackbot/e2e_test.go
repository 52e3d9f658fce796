package slackbot

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// moduleRoot is the folder holding go.mod.
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

// world is the real thing around the Slack channel: the embedded store, the
// runner with the example consultations, the fake Slack, and the bot with
// both Socket Mode and the HTTP endpoints on.
type world struct {
	ctx    context.Context
	store  *storage.Store
	runner *storage.Runner
	cons   map[string]*flows.Consultation
	f      *fakeSlack
	bot    *Bot
	http   *httptest.Server

	mu      sync.Mutex
	checked time.Time // when settled last asked the store
	wasIdle bool
}

func newWorld(t testing.TB, mods ...func(*Config)) *world {
	t.Helper()
	ctx := context.Background()
	consultations, err := flows.LoadDir(filepath.Join(moduleRoot(t), "examples"))
	if err != nil {
		t.Fatalf("loading the examples: %v", err)
	}
	st := openStore(t, storage.Config{})
	w := &world{ctx: ctx, store: st, cons: map[string]*flows.Consultation{}, f: newFakeSlack(t)}
	for _, c := range consultations {
		src, err := os.ReadFile(c.File)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveConsultation(ctx, c, src); err != nil {
			t.Fatal(err)
		}
		w.cons[c.ID] = c
	}
	w.runner = storage.NewRunner(st, consultations, storage.RunnerOptions{})
	w.bot = startBot(t, w.f, w.runner, st, true, mods...)
	w.http = httptest.NewServer(w.bot.EventsHandler())
	t.Cleanup(w.http.Close)
	waitFor(t, "a socket mode connection", w.f.connected)
	return w
}

// settled reports whether the bot has nothing left to do: the inbox is
// empty and nothing waits in the outbox. Participants waiting side by side
// share one look at the store every 10 ms, so as not to load it.
func (w *world) settled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.checked) < 10*time.Millisecond {
		return w.wasIdle
	}
	w.wasIdle = w.idle()
	w.checked = time.Now()
	return w.wasIdle
}

func (w *world) idle() bool {
	pending, err := w.store.InboxPending(w.ctx, Channel, 1)
	if err != nil || len(pending) > 0 {
		return false
	}
	counts, err := w.store.OutboxCounts(w.ctx, Channel)
	if err != nil {
		return false
	}
	if counts[storage.OutPending]+counts[storage.OutClaimed]+counts[storage.OutSending] > 0 {
		return false
	}
	pending, err = w.store.InboxPending(w.ctx, Channel, 1)
	return err == nil && len(pending) == 0
}

// via is how a participant's actions reach the bot.
type via interface {
	event(t testing.TB, w *world, body map[string]any)
	interaction(t testing.TB, w *world, payload map[string]any)
	command(t testing.TB, w *world, fields map[string]string)
}

// socket sends envelopes over Socket Mode and waits for their acknowledgement.
type socket struct{}

func (socket) send(t testing.TB, w *world, typ string, payload any) {
	env := w.f.envelope(typ, payload)
	waitFor(t, "envelope "+env+" acknowledged", func() bool { return w.f.ackCount(env) > 0 })
}
func (s socket) event(t testing.TB, w *world, body map[string]any) {
	s.send(t, w, "events_api", body)
}
func (s socket) interaction(t testing.TB, w *world, p map[string]any) {
	s.send(t, w, "interactive", p)
}
func (s socket) command(t testing.TB, w *world, fields map[string]string) {
	s.send(t, w, "slash_commands", fields)
}

// overHTTP posts signed requests to the bot's endpoints.
type overHTTP struct{}

func (overHTTP) post(t testing.TB, w *world, path, contentType string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, w.http.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range sign(testSecret, time.Now(), body) {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: got status %d, want 200", path, resp.StatusCode)
	}
}
func (h overHTTP) event(t testing.TB, w *world, body map[string]any) {
	h.post(t, w, "/slack/events", "application/json", jsonBody(t, body))
}
func (h overHTTP) interaction(t testing.TB, w *world, p map[string]any) {
	h.post(t, w, "/slack/interactions", "application/x-www-form-urlencoded", formBody(map[string]string{"payload": string(jsonBody(t, p))}))
}
func (h overHTTP) command(t testing.TB, w *world, fields map[string]string) {
	h.post(t, w, "/slack/commands", "application/x-www-form-urlencoded", formBody(fields))
}

// participant is a person in Slack, answering one consultation.
type participant struct {
	t       testing.TB
	w       *world
	user    string
	via     via
	buttons bool // press buttons where there are some; else type everything
	c       *flows.Consultation
	events  int
	given   map[string]string // question id -> what we answered, as exported text
	skipped []string
	asked   int // questions met so far
	words   int // command words given as answers so far
}

// commandWords are given as typed answers to text questions.
func commandWords() []string { return []string{"withdraw", "stop", "pause"} }

func (p *participant) dm() string { return "D" + p.user }

// act does something, then waits until the bot has answered it.
func (p *participant) act(what string, do func()) {
	p.t.Helper()
	before := p.activity()
	do()
	waitFor(p.t, "the bot to answer "+what, func() bool { return p.activity() != before && p.w.settled() })
}

// activity counts what happened in the DM: messages and their updates.
func (p *participant) activity() int {
	n := 0
	for _, m := range p.w.f.posted(p.dm()) {
		n += 1 + m.Updates
	}
	return n
}

func (p *participant) say(text string) {
	p.act(fmt.Sprintf("%q", text), func() {
		p.events++
		p.via.event(p.t, p.w, p.w.f.dmEvent(fmt.Sprintf("Ev-%s-%d", p.user, p.events), p.user, text))
	})
}

func (p *participant) slash(text string) {
	p.act("/consult "+text, func() { p.via.command(p.t, p.w, p.w.f.slash(p.user, text, p.dm())) })
}

func (p *participant) press(m *fakeMessage, value string, ticked []string) {
	p.act("a press on "+value, func() { p.via.interaction(p.t, p.w, p.w.f.press(p.user, m, value, ticked)) })
}

// last is the latest message in the DM.
func (p *participant) last() *fakeMessage {
	msgs := p.w.f.posted(p.dm())
	if len(msgs) == 0 {
		p.t.Fatalf("%s: no message in the DM", p.user)
	}
	return msgs[len(msgs)-1]
}

// questionOf returns the question a message asks, from its block ids.
func questionOf(m *fakeMessage) string {
	for _, b := range m.Blocks {
		if q, _, ok := strings.Cut(b.BlockID, ":"); ok {
			return q
		}
	}
	return ""
}

func buttonByLabel(m *fakeMessage, label string) (fakeElement, bool) {
	for _, b := range m.buttons() {
		if strings.TrimPrefix(b.Text.Text, "✓ ") == label {
			return b, true
		}
	}
	return fakeElement{}, false
}

// finish answers until the consultation's closing message arrives.
func (p *participant) finish() {
	t := p.t
	t.Helper()
	closing := strings.TrimSpace(p.c.Closing.In("", p.c.Language))
	closingStart, _, _ := strings.Cut(closing, "\n")
	for step := 0; step < 60; step++ {
		m := p.last()
		if strings.Contains(unescape(m.text()), closingStart) {
			return
		}
		qid := questionOf(m)
		if qid == "" {
			p.prompt(m)
			continue
		}
		i := p.c.QuestionIndex(qid)
		if i < 0 {
			t.Fatalf("%s: message asks %q, which %s does not have", p.user, qid, p.c.ID)
		}
		p.answer(m, p.c.Questions[i])
	}
	t.Fatalf("%s: did not reach the end of %s; last message %q", p.user, p.c.ID, p.last().text())
}

// prompt answers a message that is not a question: the consent, or the
// runner's list of consultations.
func (p *participant) prompt(m *fakeMessage) {
	t := p.t
	t.Helper()
	if b, ok := buttonByLabel(m, p.c.Title.In("", p.c.Language)); ok {
		p.press(m, b.Value, nil) // the list of consultations: always a button
		return
	}
	btns := m.buttons()
	if len(btns) == 0 {
		t.Fatalf("%s: stuck at %q: no question, no buttons", p.user, m.text())
	}
	if p.buttons {
		p.press(m, btns[0].Value, nil) // the consent's yes comes first
		return
	}
	p.say(btns[0].Text.Text)
}

// answer answers question q asked by message m.
func (p *participant) answer(m *fakeMessage, q flows.Question) {
	t := p.t
	t.Helper()
	lang := p.c.Language
	label := func(o flows.Option) string { return o.Label.In("", lang) }
	p.asked++
	if p.asked == 2 && !p.buttons {
		// A break: the commands are words after the slash command, and
		// resuming asks the question again.
		p.slash("pause")
		p.slash("resume")
		if questionOf(p.last()) != q.ID {
			t.Fatalf("%s: after /consult resume got %q, want %s asked again", p.user, p.last().text(), q.ID)
		}
		m = p.last()
	}
	if q.Optional && (q.Type == flows.TypeText || q.Type == flows.TypeDate) {
		if b, ok := buttonByLabel(m, "Skip"); ok && p.buttons {
			p.skipped = append(p.skipped, q.ID)
			p.press(m, b.Value, nil)
			return
		}
		if !p.buttons && p.asked%2 == 1 {
			p.skipped = append(p.skipped, q.ID)
			p.slash("skip")
			return
		}
	}
	switch q.Type {
	case flows.TypeChoice:
		o := q.Options[1%len(q.Options)]
		p.given[q.ID] = o.Value
		if p.buttons {
			b, ok := buttonByLabel(m, label(o))
			if !ok {
				t.Fatalf("%s: no button %q for %s", p.user, label(o), q.ID)
			}
			p.press(m, b.Value, nil)
			p.answered(m, label(o))
			return
		}
		p.say(strings.ToUpper(label(o)))
	case flows.TypeScale:
		v := int(*q.Min) + 1
		p.given[q.ID] = strconv.Itoa(v)
		if p.buttons {
			for _, b := range m.buttons() {
				if strings.HasPrefix(b.Text.Text, strconv.Itoa(v)) {
					p.press(m, b.Value, nil)
					p.answered(m, strconv.Itoa(v))
					return
				}
			}
			t.Fatalf("%s: no button %d for %s in %+v", p.user, v, q.ID, m.buttons())
		}
		p.say(strconv.Itoa(v))
	case flows.TypeYesNo:
		p.given[q.ID] = "yes"
		if p.buttons {
			b, ok := buttonByLabel(m, "Yes")
			if !ok {
				t.Fatalf("%s: no Yes button for %s", p.user, q.ID)
			}
			p.press(m, b.Value, nil)
			p.answered(m, "Yes")
			return
		}
		p.say("Yes")
	case flows.TypeMulti:
		picks := []flows.Option{q.Options[0], q.Options[len(q.Options)-1]}
		var values, labels []string
		for _, o := range picks {
			values = append(values, o.Value)
			labels = append(labels, label(o))
		}
		p.given[q.ID] = strings.Join(values, "; ")
		if p.buttons {
			var ticked []string
			for _, o := range m.checkboxes() {
				if slices.Contains(labels, o.Text.Text) {
					ticked = append(ticked, o.Value)
				}
			}
			if len(ticked) != len(picks) {
				t.Fatalf("%s: checkboxes %+v do not offer %q", p.user, m.checkboxes(), labels)
			}
			done := m.buttons()
			p.press(m, done[len(done)-1].Value, ticked)
			return
		}
		// By position: labels may hold commas.
		var nums []string
		for _, o := range picks {
			nums = append(nums, strconv.Itoa(slices.IndexFunc(q.Options, func(x flows.Option) bool { return x.Value == o.Value })+1))
		}
		p.say(strings.Join(nums, ", "))
	case flows.TypeNumber:
		p.given[q.ID] = "12"
		p.say("12")
	case flows.TypeDate:
		p.given[q.ID] = "2027-01-15"
		p.say("2027-01-15")
	default:
		text := fmt.Sprintf("%s says: about %s, <this> & that", p.user, q.ID)
		if words := commandWords(); p.words < len(words) && !p.buttons {
			// Typed in the DM, a command word is an answer like any other.
			text = words[p.words]
			p.words++
		}
		p.given[q.ID] = text
		p.say(text)
	}
}

// answered checks that the pressed question's message now shows the
// choice and has no buttons left.
func (p *participant) answered(m *fakeMessage, choice string) {
	t := p.t
	t.Helper()
	for _, now := range p.w.f.posted(p.dm()) {
		if now.TS != m.TS {
			continue
		}
		if now.Updates == 0 {
			t.Errorf("%s: the message of %s was not updated after the press", p.user, questionOf(m))
		}
		for _, b := range now.buttons() {
			if !strings.HasPrefix(b.Text.Text, "✓ ") && b.Style != "primary" {
				t.Errorf("%s: the answered message still offers %q", p.user, b.Text.Text)
			}
		}
		if !strings.Contains(unescape(now.text()), choice) && len(now.buttons()) == 0 {
			t.Errorf("%s: the answered message %q does not show %q", p.user, now.text(), choice)
		}
	}
}

// exported finds the response holding the participant's answers.
func (p *participant) exported() {
	t := p.t
	t.Helper()
	rs, err := p.w.store.Responses(p.w.ctx, p.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Status != "completed" || len(r.Answers) != len(p.given) {
			continue
		}
		match := true
		for q, want := range p.given {
			a, ok := r.Answers[q]
			if !ok || exportText(a) != want {
				match = false
				break
			}
		}
		if match {
			for _, q := range p.skipped {
				if a, ok := r.Answers[q]; ok && exportText(a) != "" {
					t.Errorf("%s: %s was skipped but has answer %q", p.user, q, exportText(a))
				}
			}
			return
		}
	}
	t.Errorf("%s: no completed response of %s holds %v", p.user, p.c.ID, p.given)
}

func exportText(a flows.Answer) string {
	switch v := a.Value().(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []string:
		return strings.Join(v, "; ")
	case string:
		return v
	}
	return fmt.Sprint(a.Value())
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded store")
	}
	w := newWorld(t)
	ids := make([]string, 0, len(w.cons))
	for id := range w.cons {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	n := 0
	for _, id := range ids {
		c := w.cons[id]
		for _, tr := range []struct {
			name string
			via  via
		}{{"socket mode", socket{}}, {"http", overHTTP{}}} {
			for _, buttons := range []bool{true, false} {
				mode := "typing"
				if buttons {
					mode = "buttons"
				}
				n++
				invited := n%2 == 0
				p := &participant{w: w, user: fmt.Sprintf("U%03d", n), via: tr.via, buttons: buttons, c: c, given: map[string]string{}}
				t.Run(id+"/"+tr.name+"/"+mode, func(t *testing.T) {
					t.Parallel() // each waits for the bot to be idle before acting: they go in step
					p.t = t
					switch {
					case !c.Open && invited:
						// As `consultbot invite ID --slack U...` does.
						codes, err := w.store.CreateInvites(w.ctx, c.ID, 1, time.Now())
						if err != nil {
							t.Fatal(err)
						}
						in, err := w.bot.StartInput(w.ctx, p.user, codes[0])
						if err != nil {
							t.Fatal(err)
						}
						p.act("an invitation", func() {
							if err := w.runner.Handle(w.ctx, in); err != nil {
								t.Fatal(err)
							}
							wake(w.bot.wakeOutbox)
						})
					case !c.Open:
						codes, err := w.store.CreateInvites(w.ctx, c.ID, 1, time.Now())
						if err != nil {
							t.Fatal(err)
						}
						p.slash(codes[0])
					default:
						p.slash("")
					}
					p.finish()
					p.exported()
				})
			}
		}
	}
}

// The real store and runner are what the channel is written against.
var (
	_ Store        = (*storage.Store)(nil)
	_ Conversation = (*storage.Runner)(nil)
)

func TestEndToEndRefusedAndReplayed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded store")
	}
	w := newWorld(t)
	p := &participant{t: t, w: w, user: "UR1", via: overHTTP{}, c: w.cons["draft-questions"], given: map[string]string{}}
	p.slash("")
	if btn, ok := buttonByLabel(p.last(), p.c.Title.In("", p.c.Language)); ok {
		p.press(p.last(), btn.Value, nil)
	}
	p.say("Yes, I agree")
	if q := questionOf(p.last()); q != "role" {
		t.Fatalf("got question %q, want role", q)
	}
	before := len(w.f.posted(p.dm()))

	// Refused: nothing stored, nothing answered.
	body := jsonBody(t, w.f.dmEvent("Ev-refused", p.user, "Peer mentor"))
	for _, tt := range []struct {
		name   string
		secret string
		at     time.Time
	}{
		{"bad signature", "not-the-secret", time.Now()},
		{"stale timestamp", testSecret, time.Now().Add(-6 * time.Minute)},
	} {
		req, _ := http.NewRequest(http.MethodPost, w.http.URL+"/slack/events", bytes.NewReader(body))
		for k, v := range sign(tt.secret, tt.at, body) {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: got status %d, want 401", tt.name, resp.StatusCode)
		}
	}
	if pending, _ := w.store.InboxPending(w.ctx, Channel, 10); len(pending) != 0 {
		t.Errorf("got %d inbox items after refused requests, want 0", len(pending))
	}

	// Replayed: the same event id, signed afresh, three times; answered
	// 200 each time, one answer and one next question.
	replay := jsonBody(t, w.f.dmEvent("Ev-replayed", p.user, "Peer mentor"))
	for i := range 3 {
		var extra http.Header
		if i > 0 {
			extra = http.Header{"X-Slack-Retry-Num": {strconv.Itoa(i)}, "X-Slack-Retry-Reason": {"http_timeout"}}
		}
		if rec := slackRequest(t, w.bot.EventsHandler(), "/slack/events", replay, testSecret, time.Now(), extra); rec.Code != http.StatusOK {
			t.Fatalf("delivery %d: got status %d, want 200", i, rec.Code)
		}
		if i == 0 {
			waitFor(t, "the next question", func() bool { return len(w.f.posted(p.dm())) > before && w.settled() })
		}
	}
	// The replays were dropped at the inbox: nothing is left to process.
	waitFor(t, "the bot idle", w.settled)
	after := w.f.posted(p.dm())
	if got := len(after) - before; got != 1 {
		t.Errorf("got %d new messages after a replayed answer, want 1 (the next question)", got)
	}
	if q := questionOf(after[len(after)-1]); q != "q1_clarity" {
		t.Errorf("got question %q after answering role, want q1_clarity", q)
	}
}
