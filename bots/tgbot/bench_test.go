package tgbot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// Benchmarks against the fake Bot API on the embedded store. They run a
// whole scenario per iteration; run them once:
//
//	go test -run '^$' -bench . -benchtime 1x ./bots/tgbot/

// nobody is a conversation that is never spoken to.
type nobody struct{}

func (nobody) Handle(context.Context, flows.Input) error { return nil }

func benchStore(b *testing.B) *storage.Store {
	b.Helper()
	st, err := storage.Open(context.Background(), storage.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatalf("opening the store: %v", err)
	}
	b.Cleanup(func() { st.Close(context.Background()) })
	return st
}

// BenchmarkSend1000 sends one message to each of 1,000 participants through
// the outbox, against a fake that enforces 30 messages a second per bot and
// one a second per chat. It reports the sustained rate (first to last
// request), rate-limit violations, messages lost and sent twice.
func BenchmarkSend1000(b *testing.B) {
	const n = 1000
	for range b.N {
		b.StopTimer()
		st := benchStore(b)
		f := newFake(b)
		ctx := context.Background()
		start := time.Now()
		var batch []flows.Outgoing
		for i := range n {
			batch = append(batch, flows.Outgoing{
				ID: "bench:" + strconv.Itoa(i), Channel: Channel, Participant: "tg:" + strconv.Itoa(10000+i),
				To: strconv.Itoa(10000 + i), Reply: flows.Reply{Text: "Message " + strconv.Itoa(i)},
			})
			if len(batch) == 100 {
				if err := st.Enqueue(ctx, batch...); err != nil {
					b.Fatal(err)
				}
				batch = nil
			}
		}
		enqueue := time.Since(start)
		cfg := Config{Token: f.token, APIURL: f.URL(), PollTimeout: time.Second}
		b.StartTimer()
		startBot(b, cfg, nobody{}, st)
		waitForLong(b, "1000 messages", 5*time.Minute, func() bool {
			ok := 0
			for _, c := range f.callsOf("sendMessage") {
				if c.Status == 200 {
					ok++
				}
			}
			return ok >= n
		})
		b.StopTimer()

		calls := f.callsOf("sendMessage")
		seen := map[string]int{}
		for _, c := range calls {
			if c.Status == 200 {
				seen[c.Params["text"]]++
			}
		}
		lost, dups := 0, 0
		for i := range n {
			switch k := seen["Message "+strconv.Itoa(i)]; {
			case k == 0:
				lost++
			case k > 1:
				dups += k - 1
			}
		}
		span := calls[len(calls)-1].At.Sub(calls[0].At)
		rate := float64(len(calls)-1) / span.Seconds()
		b.ReportMetric(rate, "msg/s")
		b.ReportMetric(rate/30, "of-30/s")
		b.ReportMetric(float64(f.violations()), "violations")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(dups), "dups")
		b.ReportMetric(enqueue.Seconds()*1000/n, "enqueue-ms/msg")
		if rate < 0.95*30 || f.violations() > 0 || lost > 0 || dups > 0 {
			b.Errorf("got %.2f msg/s, %d violations, %d lost, %d duplicates; want >= 28.5, 0, 0, 0", rate, f.violations(), lost, dups)
		}
	}
}

// waitForLong is waitFor with a longer deadline.
func waitForLong(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timedStore adds up the time spent in the store's inbox calls.
type timedStore struct {
	*storage.Store
	nanos atomic.Int64
	puts  atomic.Int64 // of which in InboxPut
}

func (s *timedStore) InboxPut(ctx context.Context, r flows.Received) (bool, error) {
	t0 := time.Now()
	defer s.time(t0)
	defer func() { s.puts.Add(int64(time.Since(t0))) }()
	return s.Store.InboxPut(ctx, r)
}

func (s *timedStore) InboxPending(ctx context.Context, channel string, limit int) ([]flows.Received, error) {
	defer s.time(time.Now())
	return s.Store.InboxPending(ctx, channel, limit)
}

func (s *timedStore) InboxDone(ctx context.Context, id string) error {
	defer s.time(time.Now())
	return s.Store.InboxDone(ctx, id)
}

func (s *timedStore) time(t0 time.Time) { s.nanos.Add(int64(time.Since(t0))) }

// timedRunner counts and times the conversation's work (the engine and the
// store's writes of answers, session and replies).
type timedRunner struct {
	r     *storage.Runner
	nanos atomic.Int64
	mu    sync.Mutex
	done  map[string]bool // input ids handled
}

func (c *timedRunner) Handle(ctx context.Context, in flows.Input) error {
	t0 := time.Now()
	err := c.r.Handle(ctx, in)
	c.nanos.Add(int64(time.Since(t0)))
	if err == nil {
		c.mu.Lock()
		c.done[in.ID] = true
		c.mu.Unlock()
	}
	return err
}

func (c *timedRunner) handled(ids []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if !c.done[id] {
			return false
		}
	}
	return true
}

// BenchmarkUpdates50 has 50 participants, each at the first question of
// draft-questions, answer four questions by typing, all at once: 200
// updates from getUpdates to stored answer and queued reply. It reports
// updates handled per second, and per update the wall time in the bot's
// inbox calls to the store and in the runner (engine and store writes);
// BenchmarkDecode gives the bot's own work per update.
func BenchmarkUpdates50(b *testing.B) {
	const people = 50
	answers := []string{"2", "4", "1", "4"} // role, q1_clarity (4: no rewording asked), q1_keep, q2_clarity
	for range b.N {
		b.StopTimer()
		ctx := context.Background()
		st := benchStore(b)
		cs, err := flows.LoadDir(filepath.Join(moduleRoot(b), "examples"))
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			src, _ := os.ReadFile(c.File)
			if err := st.SaveConsultation(ctx, c, src); err != nil {
				b.Fatal(err)
			}
		}
		conv := &timedRunner{r: storage.NewRunner(st, cs, storage.RunnerOptions{}), done: map[string]bool{}}
		ts := &timedStore{Store: st}
		f := newFake(b)
		f.botPerSec, f.chatPerSec = 0, 0 // the sender is not what is measured here
		cfg := Config{Token: f.token, APIURL: f.URL(), PollTimeout: time.Second, PollInterval: 20 * time.Millisecond, BotRate: 1000, ChatRate: 100}
		startBot(b, cfg, conv, ts)

		// Everyone joins and consents; then everyone is at the first question.
		var ids []string
		for p := range people {
			ids = append(ids, inboxID(f.say(int64(20000+p), "/start draft-questions")))
		}
		for p := range people {
			ids = append(ids, inboxID(f.say(int64(20000+p), "yes")))
		}
		waitForLong(b, "everyone at the first question", 5*time.Minute, func() bool { return conv.handled(ids) })
		ts.nanos.Store(0)
		ts.puts.Store(0)
		conv.nanos.Store(0)

		b.StartTimer()
		t0 := time.Now()
		ids = ids[:0]
		for _, a := range answers {
			for p := range people {
				ids = append(ids, inboxID(f.say(int64(20000+p), a)))
			}
		}
		waitForLong(b, "every answer handled", 5*time.Minute, func() bool { return conv.handled(ids) })
		elapsed := time.Since(t0)
		b.StopTimer()

		n := float64(len(ids))
		b.ReportMetric(n/elapsed.Seconds(), "updates/s")
		b.ReportMetric(float64(ts.nanos.Load())/n/1e6, "inbox-ms/update")
		b.ReportMetric(float64(ts.puts.Load())/n/1e6, "put-ms/update")
		b.ReportMetric(float64(conv.nanos.Load())/n/1e6, "runner-ms/update")

		rs, err := st.Responses(ctx, "draft-questions")
		if err != nil {
			b.Fatal(err)
		}
		complete := 0
		for _, r := range rs {
			if len(r.Answers) == len(answers) {
				complete++
			}
		}
		if complete != people {
			b.Errorf("got %d responses with %d answers, want %d", complete, len(answers), people)
		}
	}
}

// BenchmarkDecode is the bot's own work on one update: reading the stored
// update and making the input (a button press, with its signature checked).
func BenchmarkDecode(b *testing.B) {
	d := decoder{sig: newSigner("1:x"), username: "consult_test_bot"}
	cb, _ := d.sig.sign(42, "a7.2")
	raw := fmt.Appendf(nil, `{"update_id":9,"callback_query":{"id":"q","from":{"id":42,"is_bot":false,"first_name":"P","language_code":"en"},"message":{"message_id":7,"date":1700000000,"chat":{"id":42,"type":"private"},"text":"Q?"},"chat_instance":"x","data":%q}}`, cb)
	r := flows.Received{ID: "tg:u:9", Channel: Channel, Payload: raw}
	for b.Loop() {
		if _, err := d.decode(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRender is the bot's own work on one outgoing question: its
// keyboard, signed, and its text checked against the limits.
func BenchmarkRender(b *testing.B) {
	s := newSigner("1:x")
	r := flows.Reply{Text: "Draft question 1:\n\"What does psychological support mean to you?\"\n\nHow clear is this question?", Choices: choices("1 — Very unclear", "2", "3 — Fairly clear", "4", "5 — Very clear")}
	for b.Loop() {
		if _, err := render(s, 42, r, false); err != nil {
			b.Fatal(err)
		}
	}
}
