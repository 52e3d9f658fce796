package tgbot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// testLogger logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testConfig is a configuration for the fake: short polls and waits.
func testConfig(t testing.TB, f *fakeTG) Config {
	return Config{
		Token:        f.token,
		APIURL:       f.URL(),
		PollTimeout:  time.Second,
		PollInterval: 20 * time.Millisecond,
		Logger:       testLogger(t),
	}
}

// startBot runs a bot until the test ends (it stops before the fake does).
func startBot(t testing.TB, cfg Config, conv Conversation, store Store) *Bot {
	t.Helper()
	b, err := New(cfg, conv, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: got %v, want nil after cancel", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return b
}

// lastWith waits for the bot's latest message in chat to satisfy cond.
func lastWith(t testing.TB, f *fakeTG, chat int64, what string, cond func(m fakeMsg) bool) fakeMsg {
	t.Helper()
	var got fakeMsg
	waitFor(t, what, func() bool {
		m, ok := f.last(chat)
		got = m
		return ok && cond(m)
	})
	return got
}

func hasText(s string) func(m fakeMsg) bool {
	return func(m fakeMsg) bool { return strings.Contains(m.Text, s) }
}

func TestConversationByButtons(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	startBot(t, testConfig(t, f), q, store)

	f.say(42, "/start")
	ask := lastWith(t, f, 42, "the question", hasText("Pick a colour"))
	if got, want := strings.Join(ask.labels(), ","), "Red,Green,Blue,Skip"; got != want {
		t.Fatalf("buttons: got %s, want %s", got, want)
	}
	_, query := f.press(42, ask, "Green")
	lastWith(t, f, 42, "the next question", func(m fakeMsg) bool { return m.ID != ask.ID && m.Text == "Pick a colour" })

	msgs := f.sent(42)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 (question, thanks, next question)", len(msgs))
	}
	if msgs[0].Edits != 1 || msgs[0].Text != "Pick a colour\n✓ green" || len(msgs[0].Buttons) != 0 {
		t.Errorf("pressed message: got %q with %d edits and buttons %q, want it edited to show the choice, without buttons", msgs[0].Text, msgs[0].Edits, msgs[0].labels())
	}
	if msgs[1].Text != "Thanks, you chose green." {
		t.Errorf("got %q, want the thanks", msgs[1].Text)
	}
	if got := q.choices("tg:42"); strings.Join(got, ",") != "green" {
		t.Errorf("choices: got %q, want green", got)
	}
	waitFor(t, "the callback answered", func() bool { _, ok := f.answer(query); return ok })
	if txt, _ := f.answer(query); txt != "" {
		t.Errorf("callback answer: got %q, want none", txt)
	}

	var in flows.Input
	for _, i := range q.inputs() {
		if i.Choice != "" {
			in = i
		}
	}
	want := flows.Input{ID: in.ID, Participant: "tg:42", Channel: Channel, Language: "en", Choice: "t1:green", ReplyTo: "42", Ref: "42:" + strconv.Itoa(ask.ID)}
	if in != want || !strings.HasPrefix(in.ID, "tg:u:") {
		t.Errorf("input: got %+v, want %+v", in, want)
	}

	cmds := f.callsOf("setMyCommands")
	if len(cmds) != 1 {
		t.Fatalf("setMyCommands: got %d calls, want 1", len(cmds))
	}
	var list []struct{ Command string }
	json.Unmarshal([]byte(cmds[0].Params["commands"]), &list)
	var names []string
	for _, c := range list {
		names = append(names, c.Command)
	}
	if got, want := strings.Join(names, " "), "start help skip back pause resume stop mydata withdraw"; got != want {
		t.Errorf("commands: got %s, want %s", got, want)
	}
}

func TestConversationByTyping(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	startBot(t, testConfig(t, f), q, store)

	f.say(42, "/start")
	lastWith(t, f, 42, "the question", hasText("Pick a colour"))
	f.say(42, "green, I think")
	lastWith(t, f, 42, "the echo", hasText("You said: green, I think"))
	f.say(42, "/pause")
	waitFor(t, "the pause", func() bool { return len(q.inputs()) == 3 })
	if got := q.inputs()[2]; got.Command != flows.CmdPause || got.Text != "" {
		t.Errorf("got %+v, want the pause command", got)
	}
}

func TestRedeliveredUpdateHandledOnce(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	startBot(t, testConfig(t, f), q, store)

	u := f.message(42, 42, "hello")
	id := f.push(u)
	lastWith(t, f, 42, "the echo", hasText("You said: hello"))
	raw, _ := json.Marshal(u) // with its update_id: the same update again
	f.redeliver(raw)
	f.say(42, "marker")
	lastWith(t, f, 42, "the marker", hasText("You said: marker"))

	n := 0
	for _, in := range q.inputs() {
		if in.ID == inboxID(id) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the update was handled %d times, want once", n)
	}
	if got := len(f.sent(42)); got != 2 {
		t.Errorf("got %d replies, want 2", got)
	}
}

func TestUpdateNotStoredNotConfirmed(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	id := int64(1001) // the fake's first update
	store.failPuts(inboxID(id), 3)
	startBot(t, testConfig(t, f), q, store)

	if got := f.say(42, "hello"); got != id {
		t.Fatalf("update id: got %d, want %d", got, id)
	}
	lastWith(t, f, 42, "the echo", hasText("You said: hello"))
	stored, ok := store.storedAt(inboxID(id))
	if !ok {
		t.Fatal("the update was never stored")
	}
	for _, c := range f.callsOf("getUpdates") {
		off, _ := strconv.ParseInt(c.Params["offset"], 10, 64)
		if off > id && c.At.Before(stored) {
			t.Errorf("getUpdates confirmed update %d (offset %d) before it was stored", id, off)
		}
	}
	if n := len(q.inputs()); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
	waitFor(t, "the update confirmed", func() bool { return f.pendingUpdates() == 0 })
}

func TestWebhook(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	cfg := testConfig(t, f)
	cfg.WebhookURL = "https://bot.example.org/telegram/hook"
	cfg.WebhookSecret = "s3cret_-token"
	cfg.MaxBody = 4096
	b := startBot(t, cfg, q, store)
	if got := b.WebhookPath(); got != "/telegram/hook" {
		t.Errorf("WebhookPath: got %q, want /telegram/hook", got)
	}
	waitFor(t, "setWebhook", func() bool { return len(f.callsOf("setWebhook")) == 1 })
	set := f.callsOf("setWebhook")[0]
	if set.Params["url"] != cfg.WebhookURL || set.Params["secret_token"] != cfg.WebhookSecret {
		t.Errorf("setWebhook: got %v, want the URL and the secret", set.Params)
	}

	h := b.WebhookHandler()
	post := func(secret string, body []byte, method string) int {
		req := httptest.NewRequest(method, "/telegram/hook", strings.NewReader(string(body)))
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	update := func(id int64, text string) []byte {
		u := f.message(42, 42, text)
		u["update_id"] = id
		raw, _ := json.Marshal(u)
		return raw
	}
	tests := []struct {
		name   string
		secret string
		body   []byte
		method string
		want   int
	}{
		{"no secret", "", update(1, "sneaky"), http.MethodPost, http.StatusUnauthorized},
		{"wrong secret", "s3cret_-tokeN", update(2, "sneaky"), http.MethodPost, http.StatusUnauthorized},
		{"too big", cfg.WebhookSecret, update(3, strings.Repeat("x", 5000)), http.MethodPost, http.StatusRequestEntityTooLarge},
		{"not an update", cfg.WebhookSecret, []byte(`{"message": {}}`), http.MethodPost, http.StatusBadRequest},
		{"GET", cfg.WebhookSecret, nil, http.MethodGet, http.StatusMethodNotAllowed},
		{"right secret", cfg.WebhookSecret, update(4, "hello"), http.MethodPost, http.StatusOK},
		{"the same again", cfg.WebhookSecret, update(4, "hello"), http.MethodPost, http.StatusOK},
	}
	for _, tt := range tests {
		if got := post(tt.secret, tt.body, tt.method); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
	lastWith(t, f, 42, "the echo", hasText("You said: hello"))
	if got := post(cfg.WebhookSecret, update(5, "marker"), http.MethodPost); got != http.StatusOK {
		t.Fatalf("got %d, want 200", got)
	}
	lastWith(t, f, 42, "the marker", hasText("You said: marker"))
	var texts []string
	for _, in := range q.inputs() {
		texts = append(texts, in.Text)
	}
	if got := strings.Join(texts, ","); got != "hello,marker" {
		t.Errorf("handled: got %s, want hello,marker (nothing unverified, nothing twice)", got)
	}
	if n := len(f.callsOf("getUpdates")); n != 0 {
		t.Errorf("got %d getUpdates calls in webhook mode, want 0", n)
	}

	store.failPuts(inboxID(6), 1)
	if got := post(cfg.WebhookSecret, update(6, "later"), http.MethodPost); got != http.StatusServiceUnavailable {
		t.Errorf("store down: got %d, want 503 so that Telegram sends it again", got)
	}
}

func TestRateLimitedRetryAfter(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	f.failNext(failRule{method: "sendMessage", chat: 42, code: http.StatusTooManyRequests, desc: "Too Many Requests: retry after 2", retryAfter: 2})
	startBot(t, testConfig(t, f), q, store)

	f.say(42, "/start")
	lastWith(t, f, 42, "the question", hasText("Pick a colour"))
	f.say(42, "more")
	lastWith(t, f, 42, "the echo", hasText("You said: more"))

	calls := f.callsOf("sendMessage")
	if len(calls) < 3 || calls[0].Status != http.StatusTooManyRequests {
		t.Fatalf("got calls %+v, want a 429 first", calls)
	}
	window := calls[0].At.Add(2 * time.Second)
	for _, c := range calls[1:] {
		if c.Chat == 42 && c.At.Before(window) {
			t.Errorf("a request to the chat %v after the 429, inside its retry_after window", c.At.Sub(calls[0].At))
		}
	}
	if got := len(f.sent(42)); got != 2 {
		t.Errorf("got %d messages, want 2 (the question once, the echo)", got)
	}
	waitFor(t, "the outbox settled", func() bool { return store.Statuses()[storage.OutSent] == 2 && store.idle(t) })
	if got := store.Statuses(); len(got) != 1 {
		t.Errorf("outbox: got %v, want 2 sent", got)
	}
	if got, want := store.counts(t), zeroCounts(); !maps.Equal(got, want) {
		t.Errorf("stored outbox: got %v, want %v (all sent)", got, want)
	}
}

func TestBlockedParticipant(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	q.reply = func(in flows.Input) []flows.Reply {
		return []flows.Reply{{Text: "one"}, {Text: "two"}, {Text: "three"}}
	}
	f.block(42)
	startBot(t, testConfig(t, f), q, store)

	f.say(42, "hello")
	waitFor(t, "the person marked unreachable", func() bool { return store.isUnreachable("tg:42") })
	waitFor(t, "the outbox settled", func() bool { return store.counts(t)[storage.OutFailed] == 3 && store.idle(t) })
	if got := store.Statuses(); got[storage.OutFailed] == 0 || len(got) != 1 {
		t.Errorf("outcomes: got %v, want failures only (the store fails the rest once the person is unreachable)", got)
	}
	if n := len(f.callsOf("sendMessage")); n != 1 {
		t.Errorf("got %d sendMessage calls, want 1: nothing after the 403", n)
	}

	// A reminder queued later for someone else still goes.
	store.Enqueue(context.Background(), flows.Outgoing{ID: "r1", Channel: Channel, Participant: "tg:43", To: "43", Reply: flows.Reply{Text: "Reminder"}})
	lastWith(t, f, 43, "the reminder", hasText("Reminder"))
}

func TestForgedAndForeignCallbacks(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	startBot(t, testConfig(t, f), q, store)

	f.say(42, "/start")
	mine := lastWith(t, f, 42, "42's question", hasText("Pick a colour"))
	f.say(43, "/start")
	theirs := lastWith(t, f, 43, "43's question", hasText("Pick a colour"))

	var queries []string
	_, qid := f.pressData(42, mine, "t1:red") // unsigned
	queries = append(queries, qid)
	_, qid = f.pressData(42, mine, theirs.Buttons[0][0].CallbackData) // made for another chat
	queries = append(queries, qid)
	good := mine.Buttons[0][0].CallbackData
	_, qid = f.pressData(42, mine, good[:len(good)-2]+"xx") // tampered
	queries = append(queries, qid)
	for _, qid := range queries {
		waitFor(t, "the callback answered", func() bool { _, ok := f.answer(qid); return ok })
		if txt, _ := f.answer(qid); txt != msgBadButton {
			t.Errorf("answer: got %q, want %q", txt, msgBadButton)
		}
	}
	f.say(42, "marker")
	lastWith(t, f, 42, "the marker", hasText("You said: marker"))
	for _, in := range q.inputs() {
		if in.Choice != "" {
			t.Errorf("the conversation got %+v, want no button input", in)
		}
	}
	if m := f.sent(42)[0]; m.Edits != 0 {
		t.Errorf("the question was edited %d times, want 0", m.Edits)
	}
}

func TestUnknownWhenNoAnswer(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	f.failNext(failRule{method: "sendMessage", chat: 42, cut: true})
	startBot(t, testConfig(t, f), q, store)

	id := f.say(42, "hello")
	waitFor(t, "the message marked unknown", func() bool {
		o, ok := store.Outcome(inboxID(id) + ":0")
		return ok && o.Status == storage.OutUnknown
	})
	if got := store.counts(t)[storage.OutUnknown]; got != 1 {
		t.Errorf("stored outbox: got %d unknown, want 1", got)
	}
	f.say(42, "marker")
	lastWith(t, f, 42, "the marker", hasText("You said: marker"))
	if n := len(f.callsOf("sendMessage")); n != 2 {
		t.Errorf("got %d sendMessage calls, want 2: the cut one is not sent again", n)
	}
}

// failFirst is a transport whose first sendMessage fails before anything is
// written.
type failFirst struct {
	failed atomic.Bool
}

func (t *failFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/sendMessage") && t.failed.CompareAndSwap(false, true) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("dial tcp: connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestRetryWhenRequestDidNotLeave(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	cfg := testConfig(t, f)
	cfg.HTTPClient = &http.Client{Transport: &failFirst{}, Timeout: 10 * time.Second}
	startBot(t, cfg, q, store)

	id := f.say(42, "hello")
	lastWith(t, f, 42, "the echo", hasText("You said: hello"))
	waitFor(t, "the outbox settled", func() bool { return store.idle(t) })
	o, _ := store.Outcome(inboxID(id) + ":0")
	if o.Status != storage.OutSent || o.Attempts != 1 {
		t.Errorf("got status %s after %d retries, want sent after 1", o.Status, o.Attempts)
	}
	if got := len(f.sent(42)); got != 1 {
		t.Errorf("got %d messages, want 1", got)
	}
}

func TestLongReplySplit(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	para := strings.Repeat("word ", 700) // 3500 characters
	q.reply = func(in flows.Input) []flows.Reply {
		return []flows.Reply{{Text: para + "\n\n" + para + "\n\n" + strings.Repeat("more ", 200) + "Last one?", Choices: []flows.Choice{{Label: "Yes", Data: "y"}, {Label: "No", Data: "n"}}}}
	}
	cfg := testConfig(t, f)
	cfg.ChatRate = 5 // the fake's 1/s is for this test 5/s
	f.chatPerSec = 5
	startBot(t, cfg, q, store)

	id := f.say(42, "hi")
	lastWith(t, f, 42, "the last part", hasText("Last one?"))
	msgs := f.sent(42)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 parts", len(msgs))
	}
	for i, m := range msgs {
		if hasKB := len(m.Buttons) > 0; hasKB != (i == 2) {
			t.Errorf("part %d: keyboard %v, want it on the last part only", i, hasKB)
		}
	}
	waitFor(t, "the message marked sent", func() bool {
		o, _ := store.Outcome(inboxID(id) + ":0")
		return o.Status == storage.OutSent
	})
	if o, _ := store.Outcome(inboxID(id) + ":0"); o.Ref != "42:"+strconv.Itoa(msgs[2].ID) {
		t.Errorf("ref: got %s, want the part with the keyboard", o.Ref)
	}
}

func TestGroupGetsPointer(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	startBot(t, testConfig(t, f), q, store)

	f.push(f.message(42, -1001, "/start"))
	m := lastWith(t, f, -1001, "the pointer", hasText("private chat"))
	if !strings.Contains(m.Text, "https://t.me/consult_test_bot") {
		t.Errorf("got %q, want a link to the bot", m.Text)
	}
	if n := len(q.inputs()); n != 0 {
		t.Errorf("the conversation got %d inputs from a group, want 0", n)
	}
}

func TestOnePollerPerToken(t *testing.T) {
	f := newFake(t)
	store := newTestStore(t)
	q := newQuiz(store)
	cfgA, cfgB := testConfig(t, f), testConfig(t, f)
	cfgA.Owner, cfgB.Owner = "a", "b"
	cfgB.LeaseTTL = 8 * time.Second

	a, err := New(cfgA, q, store)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctxA) })
	t.Cleanup(func() { stopA(); wg.Wait() })
	waitFor(t, "a polling", func() bool { return len(f.callsOf("getUpdates")) > 0 })
	startBot(t, cfgB, q, store)

	for i := range 10 {
		f.say(int64(100+i), "hello")
	}
	// An update whose handling was cut short by the stop is handled again by
	// the instance that takes over (the runner recognises its input id), so
	// count updates, not calls.
	handled := func() int {
		ids := map[string]bool{}
		for _, in := range q.inputs() {
			ids[in.ID] = true
		}
		return len(ids)
	}
	waitFor(t, "ten echoes", func() bool { return handled() == 10 })
	stopA()
	wg.Wait()
	for i := range 10 {
		f.say(int64(200+i), "again")
	}
	waitFor(t, "ten more, through b", func() bool { return handled() == 20 })
	for _, c := range f.callsOf("getUpdates") {
		if c.Status == http.StatusConflict {
			t.Errorf("getUpdates answered 409 at %v: two instances polled at once", c.At)
		}
	}
}

func TestUsername(t *testing.T) {
	f := newFake(t)
	got, err := Username(ctxFor(t), f.token, f.URL())
	if err != nil || got != "consult_test_bot" {
		t.Errorf("got %q, %v; want consult_test_bot", got, err)
	}
	if _, err := Username(ctxFor(t), "999:wrong", f.URL()); err == nil {
		t.Error("a wrong token: got no error")
	}
	if got := InviteLink("consult_test_bot", "K7Q2XM"); got != "https://t.me/consult_test_bot?start=K7Q2XM" {
		t.Errorf("InviteLink: got %s", got)
	}
}

func TestRunRefusesWrongToken(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(t, f)
	cfg.Token = "999:wrong"
	store := newTestStore(t)
	b, err := New(cfg, newQuiz(store), store)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(ctxFor(t))
	if !errors.Is(err, errToken) || !strings.Contains(err.Error(), "TELEGRAM_BOT_TOKEN") {
		t.Errorf("got %v, want an error naming TELEGRAM_BOT_TOKEN", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	store := newTestStore(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no token", Config{}},
		{"not a token", Config{Token: "abc"}},
		{"webhook without secret", Config{Token: "1:x", WebhookURL: "https://x.org/h"}},
		{"webhook with a bad secret", Config{Token: "1:x", WebhookURL: "https://x.org/h", WebhookSecret: "no spaces"}},
		{"relative webhook", Config{Token: "1:x", WebhookURL: "/h", WebhookSecret: "s"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, newQuiz(store), store); err == nil {
			t.Errorf("%s: got no error", tt.name)
		}
	}
}

func TestRatesRespected(t *testing.T) {
	f := newFake(t)
	f.botPerSec = 10
	store := newTestStore(t)
	q := newQuiz(store)
	q.reply = func(in flows.Input) []flows.Reply {
		return []flows.Reply{{Text: "first " + in.Text}, {Text: "second " + in.Text}}
	}
	cfg := testConfig(t, f)
	cfg.BotRate = 10
	startBot(t, cfg, q, store)
	for i := range 12 {
		f.say(int64(300+i), strconv.Itoa(i))
	}
	waitFor(t, "24 messages", func() bool { return store.Statuses()[storage.OutSent] == 24 })
	if got := store.Statuses(); len(got) != 1 || !store.idle(t) {
		t.Errorf("outcomes: got %v, want 24 sent and nothing else", got)
	}
	if v := f.violations(); v != 0 {
		t.Errorf("got %d rate-limit violations, want 0", v)
	}
}
