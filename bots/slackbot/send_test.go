package slackbot

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// testClock is a clock the test moves. calls counts the readings: a loop
// that reads the clock has run.
type testClock struct {
	mu    sync.Mutex
	now   time.Time
	calls int
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) readings() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// settle waits until the bot's loops have read the clock n more times: they
// have run, and had every chance to do what they were going to.
func (c *testClock) settle(t *testing.T, n int) {
	t.Helper()
	start := c.readings()
	waitFor(t, "the loops to run", func() bool { return c.readings() >= start+n })
}

// claimLog is a testStore that remembers the clock of each claim.
type claimLog struct {
	*testStore
	mu     sync.Mutex
	claims []time.Time
}

func (s *claimLog) Claim(ctx context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error) {
	s.mu.Lock()
	s.claims = append(s.claims, now)
	s.mu.Unlock()
	return s.testStore.Claim(ctx, channel, owner, max, lease, now)
}

// claimsBetween counts the claims made with the clock in [from, to).
func (s *claimLog) claimsBetween(from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.claims {
		if !c.Before(from) && c.Before(to) {
			n++
		}
	}
	return n
}

func outgoing(id, to, participant, text string) flows.Outgoing {
	return flows.Outgoing{ID: id, Channel: Channel, To: to, Participant: participant, Reply: flows.Reply{Text: text}, Created: time.Now()}
}

// status is what came of outbox item id so far.
func status(t *testing.T, s *testStore, id string) outcome {
	t.Helper()
	o, ok := s.Outcome(id)
	if !ok {
		t.Fatalf("outbox %s: nothing came of it", id)
	}
	return o
}

func waitStatus(t *testing.T, s *testStore, id, want string) outcome {
	t.Helper()
	waitFor(t, id+" "+want, func() bool { o, _ := s.Outcome(id); return o.Status == want })
	return status(t, s, id)
}

func TestSendHonoursRetryAfter(t *testing.T) {
	f := newFakeSlack(t)
	clock := newTestClock()
	store := &claimLog{testStore: newTestStore(t)}
	f.failNext("chat.postMessage", http.StatusTooManyRequests, map[string]string{"Retry-After": "30"}, "")
	startBot(t, f, &recorder{store: store}, store, false, func(c *Config) { c.Now = clock.Now })
	t0 := clock.Now()

	store.enqueue(t, outgoing("m1", "DU1", "slack:T0TEAM:U1", "first"))
	waitFor(t, "m1 back to pending", func() bool { o, _ := store.Outcome("m1"); return o.Attempts == 1 })
	o := status(t, store.testStore, "m1")
	if o.Status != storage.OutPending || !o.NotBefore.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("after a 429: got status %s not before %v, want pending not before %v", o.Status, o.NotBefore, t0.Add(30*time.Second))
	}
	if n := store.counts(t)[storage.OutPending]; n != 1 {
		t.Fatalf("after a 429: got %d pending in the store, want 1", n)
	}
	until := t0.Add(30 * time.Second)

	// Nothing is sent or claimed while paused, to any channel.
	store.enqueue(t, outgoing("m2", "DU2", "slack:T0TEAM:U2", "second"))
	clock.advance(29 * time.Second)
	clock.settle(t, 20)
	if n := f.callCount("chat.postMessage"); n != 1 {
		t.Errorf("got %d posts during the Retry-After pause, want 1 (the one refused)", n)
	}
	if n := store.claimsBetween(t0.Add(time.Second), until); n > 0 {
		t.Errorf("got %d claims during the pause, want 0", n)
	}

	clock.advance(time.Second)
	waitStatus(t, store.testStore, "m1", storage.OutSent)
	waitStatus(t, store.testStore, "m2", storage.OutSent)
	if got := len(f.posted("DU1")) + len(f.posted("DU2")); got != 2 {
		t.Errorf("got %d messages posted, want 2", got)
	}
}

func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(f *fakeSlack)
		msg         flows.Outgoing
		want        string // outbox status
		unreachable bool
		posts       int // chat.postMessage calls
		notBefore   time.Duration
	}{
		{"sent", nil, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "sent", false, 1, 0},
		{"server error", func(f *fakeSlack) { f.failNext("chat.postMessage", 502, nil, "") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "unknown", false, 1, 0},
		{"posted, answer lost", func(f *fakeSlack) { f.postThenCut("chat.postMessage") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "unknown", false, 1, 0},
		{"internal_error", func(f *fakeSlack) { f.failNext("chat.postMessage", 200, nil, "internal_error") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "unknown", false, 1, 0},
		{"refused message", func(f *fakeSlack) { f.failNext("chat.postMessage", 200, nil, "invalid_blocks") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "failed", false, 1, 0},
		{"bad request", func(f *fakeSlack) { f.failNext("chat.postMessage", 400, nil, "") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "failed", false, 1, 0},
		{"deactivated user's DM", nil, outgoing("m", "DGONE1", "slack:T0TEAM:UGONE1", "hi"), "failed", true, 1, 0},
		{"unknown user", nil, outgoing("m", "UGONE2", "slack:T0TEAM:UGONE2", "hi"), "failed", true, 0, 0},
		{"token refused", func(f *fakeSlack) { f.failNext("chat.postMessage", 200, nil, "invalid_auth") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "pending", false, 1, time.Minute},
		{"ok:false ratelimited", func(f *fakeSlack) { f.failNext("chat.postMessage", 200, nil, "ratelimited") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "pending", false, 1, 30 * time.Second},
		{"429 without Retry-After", func(f *fakeSlack) { f.failNext("chat.postMessage", 429, nil, "") }, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"), "pending", false, 1, 30 * time.Second},
		{"no address", nil, outgoing("m", "", "", "hi"), "failed", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			clock := newTestClock()
			store := newTestStore(t)
			startBot(t, f, &recorder{store: store}, store, false, func(c *Config) { c.Now = clock.Now })
			t0 := clock.Now()
			store.enqueue(t, tt.msg)
			var o outcome
			if tt.want == storage.OutPending {
				waitFor(t, "a retry", func() bool { o, _ = store.Outcome("m"); return o.Attempts > 0 })
			} else {
				o = waitStatus(t, store, "m", tt.want)
			}
			if o.Status != tt.want {
				t.Errorf("got status %s (%s), want %s", o.Status, o.Reason, tt.want)
			}
			if tt.notBefore > 0 && !o.NotBefore.Equal(t0.Add(tt.notBefore)) {
				t.Errorf("got not before %v, want %v", o.NotBefore.Sub(t0), tt.notBefore)
			}
			clock.settle(t, 20)
			if n := f.callCount("chat.postMessage"); n != tt.posts {
				t.Errorf("got %d posts, want %d (never resent after it may have posted)", n, tt.posts)
			}
			got := store.Unreachables()
			gotUnreachable := len(got) == 1 && got[0] == tt.msg.Participant
			if gotUnreachable != tt.unreachable {
				t.Errorf("got participant unreachable %v (%q), want %v", gotUnreachable, got, tt.unreachable)
			}
			want := map[string]int{storage.OutPending: 0, storage.OutClaimed: 0, storage.OutSending: 0, storage.OutUnknown: 0, storage.OutFailed: 0}
			if tt.want != storage.OutSent {
				want[tt.want] = 1
			}
			if got := store.counts(t); !maps.Equal(got, want) {
				t.Errorf("stored outbox: got %v, want %v", got, want)
			}
		})
	}
}

func TestSendBeforeTheRequestLeftIsRetried(t *testing.T) {
	// A port nobody listens on: the request never leaves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	f := newFakeSlack(t)
	clock := newTestClock()
	store := newTestStore(t)
	startBot(t, f, &recorder{store: store}, store, false, func(c *Config) {
		c.Now = clock.Now
		c.APIURL = "http://" + addr + "/api/"
	})
	t0 := clock.Now()
	store.enqueue(t, outgoing("m", "DU1", "slack:T0TEAM:U1", "hi"))
	var o outcome
	waitFor(t, "a retry", func() bool { o, _ = store.Outcome("m"); return o.Attempts > 0 })
	if o.Status != storage.OutPending || !o.NotBefore.Equal(t0.Add(retryBackoff)) {
		t.Errorf("got %s not before +%v, want pending not before +%v", o.Status, o.NotBefore.Sub(t0), retryBackoff)
	}
	if n := store.counts(t)[storage.OutPending]; n != 1 {
		t.Errorf("got %d pending in the store, want 1", n)
	}
}

func TestSendEditsAndOrder(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	startBot(t, f, &recorder{store: store}, store, false)

	// One DM's messages go out in the order they were queued.
	for i := range 10 {
		store.enqueue(t, outgoing(fmt.Sprintf("m%02d", i), "DU1", "slack:T0TEAM:U1", fmt.Sprint("message ", i)))
	}
	// Addressed by user id, or only by participant: sent to their DM.
	store.enqueue(t, outgoing("byUser", "U7", "slack:T0TEAM:U7", "to a user"))
	store.enqueue(t, outgoing("byParticipant", "", "slack:T0TEAM:U8", "to a participant"))
	waitStatus(t, store, "m09", storage.OutSent)
	waitStatus(t, store, "byUser", storage.OutSent)
	waitStatus(t, store, "byParticipant", storage.OutSent)
	msgs := f.posted("DU1")
	for i, m := range msgs {
		if want := fmt.Sprint("message ", i); m.text() != want {
			t.Errorf("message %d: got %q, want %q", i, m.text(), want)
		}
	}
	if len(f.posted("DU7")) != 1 || len(f.posted("DU8")) != 1 {
		t.Errorf("got %d and %d messages in DU7 and DU8, want 1 each", len(f.posted("DU7")), len(f.posted("DU8")))
	}

	// An edit replaces the pressed message.
	ref := status(t, store, "m03").Ref
	if ref != msgs[3].Channel+":"+msgs[3].TS {
		t.Fatalf("got ref %q, want %q", ref, msgs[3].Channel+":"+msgs[3].TS)
	}
	edit := outgoing("edit", "DU1", "slack:T0TEAM:U1", "message 3, answered")
	edit.EditRef, edit.Reply.Edit = ref, true
	store.enqueue(t, edit)
	if o := waitStatus(t, store, "edit", storage.OutSent); o.Ref != ref {
		t.Errorf("got edit ref %q, want %q", o.Ref, ref)
	}
	after := f.posted("DU1")
	if len(after) != 10 || after[3].Updates != 1 || after[3].text() != "message 3, answered" {
		t.Errorf("got %d messages, message 3 %q updated %d times; want 10, the edit, once", len(after), after[3].text(), after[3].Updates)
	}
	if n := f.callCount("conversations.open"); n != 2 {
		t.Errorf("got %d conversations.open calls, want 2 (one per user, cached)", n)
	}
}
