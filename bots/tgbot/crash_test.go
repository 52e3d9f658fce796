//go:build unix

package tgbot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// The crash test runs the bot in a child process (this test binary again,
// with envCrashChild set) on a real embedded store, kills it with SIGKILL at
// chosen points of a consultation, and starts it again on the same data
// directory. DESIGN.md's two rules are what it checks: inbox before ack (no
// update lost, none applied twice when Telegram delivers it again) and
// outbox before send (no message sent twice by our own retries; one whose
// request was cut off is recorded unknown, and the participant's next
// message gets the question asked again).

// The child's environment.
const (
	envCrashChild    = "TGBOT_CRASH_CHILD"    // "1": run the bot instead of the tests
	envCrashData     = "TGBOT_CRASH_DATA"     // the data directory
	envCrashExamples = "TGBOT_CRASH_EXAMPLES" // the folder of consultation files
	envCrashAPI      = "TGBOT_CRASH_API_URL"  // the fake Bot API
	envCrashToken    = "TGBOT_CRASH_TOKEN"
	envCrashOwner    = "TGBOT_CRASH_OWNER" // the instance's name in leases and claims
	envCrashAhead    = "TGBOT_CRASH_AHEAD" // how far the child's clock runs ahead of the real one
)

// TestMain lets the test binary double as the bot: with envCrashChild set it
// runs crashChild instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(envCrashChild) == "1" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild runs the bot as `consultbot run` does (open the store, record
// the consultations, recover the outbox, run) until it is killed, or stops
// on SIGTERM. It reports on standard output, a line each: "ready k=v ..."
// with the outbox counts once recovered, and "sent <ref>" for each message
// recorded as sent.
func crashChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := runCrashChild(ctx, log, os.Stdout); err != nil {
		log.Error("crash test child", "err", err)
		return 1
	}
	return 0
}

// runCrashChild is crashChild's work, configured by the environment.
func runCrashChild(ctx context.Context, log *slog.Logger, out io.Writer) error {
	ahead, err := time.ParseDuration(os.Getenv(envCrashAhead))
	if err != nil {
		return fmt.Errorf("%s: %w", envCrashAhead, err)
	}
	// Each run's clock is further ahead, as if the restart came after the
	// leases of the killed run lapsed: its polling and sending leases, its
	// claims, and the lease of a message it was sending (which Recover then
	// marks unknown). Nothing waits on the real clock for that.
	now := func() time.Time { return time.Now().Add(ahead) }
	cs, err := flows.LoadDir(os.Getenv(envCrashExamples))
	if err != nil {
		return err
	}
	st, err := storage.Open(ctx, storage.Config{DataDir: os.Getenv(envCrashData), Logger: log, Now: now})
	if err != nil {
		return err
	}
	defer st.Close(context.WithoutCancel(ctx))
	for _, c := range cs {
		src, err := os.ReadFile(c.File)
		if err != nil {
			return err
		}
		if err := st.SaveConsultation(ctx, c, src); err != nil {
			return err
		}
	}
	n, err := st.Recover(ctx, now())
	if err != nil {
		return err
	}
	counts, err := st.OutboxCounts(ctx, Channel)
	if err != nil {
		return err
	}
	rep := &reporter{Store: st, out: out}
	rep.printf("ready recovered=%d pending=%d claimed=%d sending=%d unknown=%d failed=%d",
		n, counts[storage.OutPending], counts[storage.OutClaimed], counts[storage.OutSending], counts[storage.OutUnknown], counts[storage.OutFailed])
	runner := storage.NewRunner(st, cs, storage.RunnerOptions{Now: now, Logger: log})
	b, err := New(Config{
		Token:        os.Getenv(envCrashToken),
		APIURL:       os.Getenv(envCrashAPI),
		PollTimeout:  time.Second,
		PollInterval: 20 * time.Millisecond,
		ChatRate:     20, // the fake allows as much: a consultation takes seconds, not a minute
		Owner:        os.Getenv(envCrashOwner),
		Logger:       log,
		Now:          now,
	}, runner, rep)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}

// reporter is the store, telling the parent which messages it recorded as
// sent: a kill after that leaves nothing in flight.
type reporter struct {
	*storage.Store
	mu  sync.Mutex
	out io.Writer
}

func (r *reporter) Sent(ctx context.Context, id, ref string, now time.Time) error {
	if err := r.Store.Sent(ctx, id, ref, now); err != nil {
		return err
	}
	r.printf("sent %s", ref)
	return nil
}

func (r *reporter) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format+"\n", args...)
}

// lockedBuffer collects a child's standard error.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// crashProc is one run of the child.
type crashProc struct {
	n      int
	cmd    *exec.Cmd
	since  int // the fake's Seq when it started: later requests are its own
	stderr *lockedBuffer
	exited chan struct{} // closed once its output is read and it has been waited for
	err    error         // from Wait, once exited

	mu   sync.Mutex
	sent map[string]int // message ref -> times it recorded the message sent
}

// crashKill is where the bot is killed around answering a prompt.
type crashKill int

const (
	killNone          crashKill = iota
	killIdle                    // before answering: nothing in flight
	killSendDelivered           // the reply's sendMessage in flight; Telegram delivered it, the answer was lost
	killSendLost                // the reply's sendMessage in flight; it never reached the chat
	killProcessing              // the answer stored, neither handled nor confirmed to Telegram
	killUnconfirmed             // the answer handled and the reply shown, the update not confirmed
)

// crashStep is how the participant answers one prompt.
type crashStep struct {
	id    string // question id, or "consent"
	press string // the button to press (a prefix of its label) ...
	typ   string // ... or the text to type
	want  any    // the answer the store should hold; nil for the consent
	kill  crashKill
	sends int // sendMessage requests asking it (0 means 1): more only after a kill
}

// crashRun is the participant, the fake Telegram and the child of the
// moment.
type crashRun struct {
	t     *testing.T
	f     *fakeTG
	c     *flows.Consultation
	user  int64
	env   []string
	procs []*crashProc
	seen  int // the bot's last message acted on

	unknown int // messages that should be recorded unknown so far
}

// start starts a child and waits until it has recovered the outbox; it
// checks that Recover marked wantRecovered messages unknown and left none
// sending.
func (r *crashRun) start(wantRecovered int) {
	r.t.Helper()
	n := len(r.procs) + 1
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Env = append(cmd.Env,
		envCrashOwner+"=crash-test-run-"+strconv.Itoa(n),
		envCrashAhead+"="+(time.Duration(n-1)*10*time.Minute).String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	r.f.mu.Lock()
	since := r.f.seq
	r.f.mu.Unlock()
	p := &crashProc{n: n, cmd: cmd, since: since, stderr: &lockedBuffer{}, exited: make(chan struct{}), sent: map[string]int{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting the child: %v", err)
	}
	r.procs = append(r.procs, p)
	ready := make(chan string, 1)
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ready "):
				ready <- line
			case strings.HasPrefix(line, "sent "):
				p.mu.Lock()
				p.sent[strings.TrimPrefix(line, "sent ")]++
				p.mu.Unlock()
			}
		}
		p.err = cmd.Wait()
	}()
	var line string
	select {
	case line = <-ready:
	case <-p.exited:
		r.t.Fatalf("child %d exited before it was ready: %v\n%s", n, p.err, p.stderr)
	case <-time.After(60 * time.Second):
		r.t.Fatalf("child %d not ready after a minute", n)
	}
	got := map[string]int{}
	for _, kv := range strings.Fields(strings.TrimPrefix(line, "ready ")) {
		k, v, _ := strings.Cut(kv, "=")
		got[k], _ = strconv.Atoi(v)
	}
	r.unknown += wantRecovered
	// Every kill comes when the chat's earlier messages are recorded: the
	// message cut off mid-request, if any, is the one left.
	want := map[string]int{"recovered": wantRecovered, "pending": 0, "claimed": 0, "sending": 0, "unknown": r.unknown, "failed": 0}
	if !maps.Equal(got, want) {
		r.t.Errorf("child %d after Recover: got %v, want %v", n, got, want)
	}
}

// current is the child of the moment.
func (r *crashRun) current() *crashProc { return r.procs[len(r.procs)-1] }

// kill kills the child with SIGKILL and waits until it is gone.
func (r *crashRun) kill() {
	r.t.Helper()
	p := r.current()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatalf("killing child %d: %v", p.n, err)
	}
	r.await(p)
}

// stop ends the child with SIGTERM, as an operator would, and checks that it
// shut down cleanly.
func (r *crashRun) stop() {
	r.t.Helper()
	p := r.current()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatalf("stopping child %d: %v", p.n, err)
	}
	r.await(p)
	if p.err != nil {
		r.t.Errorf("child %d: got %v on SIGTERM, want a clean exit", p.n, p.err)
	}
}

func (r *crashRun) await(p *crashProc) {
	r.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		r.t.Fatalf("child %d did not exit within 30s", p.n)
	}
}

// settle waits until the child has recorded as sent every message Telegram
// answered it: a kill then leaves nothing of the outbox in flight.
func (r *crashRun) settle() {
	r.t.Helper()
	p := r.current()
	waitFor(r.t, "every message Telegram took recorded as sent", func() bool {
		took := map[string]int{}
		for _, m := range []string{"sendMessage", "editMessageText", "editMessageReplyMarkup"} {
			for _, c := range r.f.callsOf(m) {
				switch {
				case c.Status != http.StatusOK || c.Seq <= p.since:
				case m == "sendMessage":
					took[chatRef(c.Chat, c.MsgID)]++
				default:
					id, _ := strconv.Atoi(c.Params["message_id"])
					took[chatRef(c.Chat, id)]++
				}
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for ref, n := range took {
			if p.sent[ref] < n {
				return false
			}
		}
		return true
	})
}

// confirmed waits until Telegram has had every update confirmed.
func (r *crashRun) confirmed() {
	r.t.Helper()
	waitFor(r.t, "every update confirmed", func() bool { return r.f.pendingUpdates() == 0 })
}

// placeholders matches {{...}} in a question's text.
var placeholders = regexp.MustCompile(`\{\{\s*([^}]*?)\s*\}\}`)

// asks matches the messages that ask question q: its text, with
// {{answers.<id>}} standing for the script's answer (a scale's label may
// follow it) and any other placeholder for any text.
func asks(c *flows.Consultation, q flows.Question, want map[string]any) *regexp.Regexp {
	text := strings.TrimSpace(q.Text.In("en", c.Language))
	var pat strings.Builder
	pat.WriteString("(?s)")
	at := 0
	for _, m := range placeholders.FindAllStringSubmatchIndex(text, -1) {
		pat.WriteString(regexp.QuoteMeta(text[at:m[0]]))
		name := text[m[2]:m[3]]
		if id, ok := strings.CutPrefix(name, "answers."); ok && want[id] != nil {
			pat.WriteString(regexp.QuoteMeta(fmt.Sprint(want[id])))
		}
		pat.WriteString(".*?")
		at = m[1]
	}
	pat.WriteString(regexp.QuoteMeta(text[at:]))
	return regexp.MustCompile(pat.String())
}

// classify names what a message of the bot asks: "consent", a question id,
// "closing", or "" for anything else.
func (r *crashRun) classify(text string, want map[string]any) string {
	closing := strings.TrimSpace(strings.SplitN(r.c.Closing.In("en", r.c.Language), "\n", 2)[0])
	switch {
	case strings.Contains(text, consentQuestion):
		return "consent"
	case strings.Contains(text, closing):
		return "closing"
	}
	var ids []string
	for _, q := range r.c.Questions {
		if asks(r.c, q, want).MatchString(text) {
			ids = append(ids, q.ID)
		}
	}
	if len(ids) != 1 {
		return ""
	}
	return ids[0]
}

// prompt waits for the bot's latest message to be newer than the last one
// acted on and to ask something; it returns the message and what it asks.
func (r *crashRun) prompt(want map[string]any) (fakeMsg, string) {
	r.t.Helper()
	var msg fakeMsg
	var id string
	waitFor(r.t, fmt.Sprintf("the bot's next prompt after message %d", r.seen), func() bool {
		m, ok := r.f.last(r.user)
		if !ok || m.ID <= r.seen {
			return false
		}
		msg, id = m, r.classify(m.Text, want)
		return id != ""
	})
	r.seen = msg.ID
	return msg, id
}

// answer answers a prompt as step says and returns the update's id.
func (r *crashRun) answer(msg fakeMsg, step crashStep) int64 {
	r.t.Helper()
	if step.typ != "" {
		return r.f.say(r.user, step.typ)
	}
	for _, l := range msg.labels() {
		if strings.HasPrefix(l, step.press) {
			id, _ := r.f.press(r.user, msg, l)
			return id
		}
	}
	r.t.Fatalf("no button starting %q on %q; buttons %q", step.press, msg.Text, msg.labels())
	return 0
}

func TestCrashMidConsultation(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs the bot in a child process on an embedded store, six times")
	}
	root := moduleRoot(t)
	cs, err := flows.LoadDir(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cs, func(c *flows.Consultation) bool { return c.ID == "draft-questions" })
	if i < 0 {
		t.Fatal("examples: no draft-questions")
	}
	const nudge = "Hello? Are you still there?"
	script := []crashStep{
		{id: "consent", press: "Yes, I agree", kill: killIdle},
		{id: "role", press: "Peer mentor", want: "peer", kill: killSendDelivered},
		// The question whose sending was cut off reached the chat: the first
		// answer typed to it gets it asked again (its delivery is unknown),
		// the second is taken.
		{id: "q1_clarity", typ: "2", want: 2.0, sends: 2},
		{id: "q1_reword", typ: "What does support mean to you?", want: "What does support mean to you?"},
		{id: "q1_keep", press: "Keep it but change it", want: "change", kill: killProcessing},
		{id: "q2_clarity", press: "3", want: 3.0, kill: killUnconfirmed},
		{id: "q2_reword", typ: "Tell us about a time support helped you.", want: "Tell us about a time support helped you.", kill: killSendLost},
		// Lost on the way: asked again when the participant nudges.
		{id: "q2_keep", press: "Keep it as it is", want: "keep", sends: 2},
		{id: "q3_clarity", typ: "4", want: 4.0},
		{id: "q3_keep", press: "Drop it", want: "drop"},
		{id: "missing", typ: "How do you look after yourself?", want: "How do you look after yourself?"},
		{id: "upset", press: "Yes", want: "yes"},
		{id: "upset_which", typ: "Question 3; say first that it is fine to skip.", want: "Question 3; say first that it is fine to skip."},
	}
	steps := map[string]crashStep{}
	want := map[string]any{}
	for _, s := range script {
		steps[s.id] = s
		if s.want != nil {
			want[s.id] = s.want
		}
	}

	f := newFake(t)
	f.chatPerSec = 20
	dir := t.TempDir()
	r := &crashRun{
		t: t, f: f, c: cs[i], user: 7001,
		env: []string{
			envCrashChild + "=1",
			envCrashData + "=" + dir,
			envCrashExamples + "=" + filepath.Join(root, "examples"),
			envCrashAPI + "=" + f.URL(),
			envCrashToken + "=" + f.token,
		},
	}
	t.Cleanup(func() {
		for _, p := range r.procs {
			select {
			case <-p.exited:
			default:
				p.cmd.Process.Kill()
				<-p.exited
			}
			if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("child %d: data race", p.n)
			}
		}
		if !t.Failed() {
			return
		}
		for _, p := range r.procs {
			t.Logf("child %d's log:\n%s", p.n, p.stderr)
		}
		var log strings.Builder
		f.mu.Lock()
		for _, c := range f.calls {
			fmt.Fprintf(&log, "%d %s chat=%d status=%d offset=%s text=%.50q\n", c.Seq, c.Method, c.Chat, c.Status, c.Params["offset"], c.Params["text"])
		}
		for _, p := range f.pushes {
			fmt.Fprintf(&log, "%d update %d pushed\n", p.Seq, p.ID)
		}
		f.mu.Unlock()
		t.Logf("the fake's requests and updates, in order:\n%s", log.String())
	})

	r.start(0)
	f.say(r.user, "/start draft-questions")
	var (
		after       func() // what to do once the next prompt is shown
		redelivered []int64
		fired       = map[string]bool{}
		done        bool
	)
	for range 50 {
		msg, id := r.prompt(want)
		if after != nil {
			after()
			after = nil
		}
		if id == "closing" {
			done = true
			break
		}
		step, ok := steps[id]
		if !ok {
			t.Fatalf("the bot asked %s, which the script does not answer: %q", id, msg.Text)
		}
		kill := step.kill
		if fired[id] {
			kill = killNone // asked again: the kill was done
		}
		fired[id] = true
		var held, confirm *hold
		if kill != killNone {
			// Whatever is cut off by the kill, nothing earlier is.
			r.settle()
		}
		switch kill {
		case killIdle:
			r.kill()
			r.start(0)
		case killSendDelivered, killSendLost:
			held = f.holdNext("sendMessage", r.user, kill == killSendDelivered)
		case killProcessing:
			held = f.holdNext("answerCallbackQuery", 0, false)
			confirm = f.holdNextConfirm()
		case killUnconfirmed:
			confirm = f.holdNextConfirm()
		}
		u := r.answer(msg, step)
		switch kill {
		case killSendDelivered, killSendLost:
			held.wait(t)
			r.kill()
			r.start(1)
			if kill == killSendLost {
				f.say(r.user, nudge)
			}
		case killProcessing:
			held.wait(t)
			confirm.wait(t)
			r.kill()
			r.start(0)
			redelivered = append(redelivered, u)
			r.confirmed()
		case killUnconfirmed:
			confirm.wait(t)
			after = func() {
				r.settle()
				r.kill()
				r.start(0)
				redelivered = append(redelivered, u)
				r.confirmed()
			}
		}
	}
	if !done {
		t.Fatal("no closing after 50 prompts")
	}
	r.confirmed()
	r.settle()
	r.stop()

	for _, u := range redelivered {
		if n := f.delivered(u); n < 2 {
			t.Errorf("update %d: delivered %d times, want again after the restart", u, n)
		}
	}
	checkSends(t, r, script, want)
	if n := f.violations(); n != 0 {
		t.Errorf("got %d rate-limit violations, want 0", n)
	}

	// The child has exited for good: the store is free to open.
	ctx := context.Background()
	st, err := storage.Open(ctx, storage.Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("opening the store after the runs: %v", err)
	}
	defer st.Close(ctx)
	rs, err := st.Responses(ctx, "draft-questions")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("got %d responses, want 1", len(rs))
	}
	if rs[0].Status != "completed" {
		t.Errorf("response status: got %s, want completed", rs[0].Status)
	}
	got := map[string]any{}
	for id, a := range rs[0].Answers {
		got[id] = a.Value()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored answers:\n got %v\nwant %v", got, want)
	}
	counts, err := st.OutboxCounts(ctx, Channel)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]int{storage.OutPending: 0, storage.OutClaimed: 0, storage.OutSending: 0, storage.OutUnknown: 2, storage.OutFailed: 0}
	if !maps.Equal(counts, wantCounts) {
		t.Errorf("outbox: got %v, want %v (the two messages killed mid-request unknown)", counts, wantCounts)
	}
	pending, err := st.InboxPending(ctx, Channel, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("inbox: got %d updates pending, want none", len(pending))
	}
}

// checkSends checks what reached Telegram. Every sendMessage that Telegram
// may have acted on (answered, or held when the process died) asks
// something of the script: nothing else was said, so no update was applied
// twice (a button pressed twice would be refused as stale, a text taken
// twice would answer the next question). Each prompt was sent as often as
// the script says. And the same text went to the chat twice only with an
// update from the participant in between: a question is asked again only
// when the participant wrote after its delivery became unknown, never by a
// retry of ours.
func checkSends(t *testing.T, r *crashRun, script []crashStep, want map[string]any) {
	t.Helper()
	var sends []fakeCall
	for _, c := range r.f.callsOf("sendMessage") {
		if c.Chat == r.user && (c.Status == http.StatusOK || c.Status == statusHeld) {
			sends = append(sends, c)
		}
	}
	times := map[string]int{}
	for _, c := range sends {
		id := r.classify(c.Params["text"], want)
		if id == "" {
			t.Errorf("the bot sent %q, which asks nothing of the script", c.Params["text"])
			continue
		}
		times[id]++
	}
	wantTimes := map[string]int{"closing": 1}
	for _, s := range script {
		wantTimes[s.id] = max(s.sends, 1)
	}
	if !maps.Equal(times, wantTimes) {
		t.Errorf("prompts sent: got %v, want %v", times, wantTimes)
	}

	r.f.mu.Lock()
	pushes := slices.Clone(r.f.pushes)
	r.f.mu.Unlock()
	wrote := func(from, to int) bool {
		return slices.ContainsFunc(pushes, func(p fakePush) bool { return p.From == r.user && p.Seq > from && p.Seq < to })
	}
	last := map[string]fakeCall{}
	for _, c := range sends {
		text := c.Params["text"]
		if prev, ok := last[text]; ok && !wrote(prev.Seq, c.Seq) {
			t.Errorf("sent %q twice (requests %d and %d) with no message from the participant in between", text, prev.Seq, c.Seq)
		}
		last[text] = c
	}
}
