package slackbot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

func echo(in flows.Input) []flows.Reply {
	return []flows.Reply{{Text: "got " + in.Text + in.Choice + string(in.Command) + in.Arg}}
}

func TestSocketModeStoresBeforeAck(t *testing.T) {
	f := newFakeSlack(t)
	store := &hookStore{testStore: newTestStore(t)}
	var mu sync.Mutex
	ackedBeforeStore := map[string]int{}
	store.setHook(func(r flows.Received) error {
		env := map[string]string{"slack:e:Ev1": "env-1", "slack:c:trig-1": "env-2"}[r.ID]
		mu.Lock()
		ackedBeforeStore[r.ID] = f.ackCount(env)
		mu.Unlock()
		return nil
	})
	conv := &recorder{store: store, reply: echo}
	startBot(t, f, conv, store, true)
	waitFor(t, "a socket mode connection", f.connected)

	ev := f.envelope("events_api", f.dmEvent("Ev1", "U1", "first answer"))
	cmd := f.envelope("slash_commands", f.slash("U1", "help", "C1"))
	waitFor(t, "both envelopes acknowledged", func() bool { return f.ackCount(ev) == 1 && f.ackCount(cmd) == 1 })
	mu.Lock()
	for id, n := range ackedBeforeStore {
		if n != 0 {
			t.Errorf("%s: acknowledged %d times before it was stored, want 0", id, n)
		}
	}
	if len(ackedBeforeStore) != 2 {
		t.Errorf("got %d inbox writes, want 2", len(ackedBeforeStore))
	}
	mu.Unlock()

	// The slash command typed in a channel is answered with a note.
	f.mu.Lock()
	payload := string(f.acks[cmd][0].Payload)
	f.mu.Unlock()
	if !strings.Contains(payload, "ephemeral") {
		t.Errorf("got command acknowledgement payload %q, want an ephemeral note", payload)
	}

	waitFor(t, "two replies", func() bool { return len(f.posted("DU1")) == 2 })
	got := conv.got()
	want := []flows.Input{
		{ID: "slack:e:Ev1", Participant: "slack:T0TEAM:U1", Channel: Channel, Text: "first answer", ReplyTo: "DU1"},
		{ID: "slack:c:trig-1", Participant: "slack:T0TEAM:U1", Channel: Channel, Command: flows.CmdHelp, ReplyTo: "DU1"},
	}
	if len(got) != len(want) {
		t.Fatalf("got inputs %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("input %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSocketModeReconnects(t *testing.T) {
	tests := []struct {
		name  string
		cut   func(f *fakeSlack)
		dupOK bool
	}{
		{"connection dropped", (*fakeSlack).dropConnection, true},
		{"refresh requested", func(f *fakeSlack) { f.disconnect("refresh_requested") }, true},
		{"disconnect warning", func(f *fakeSlack) { f.disconnect("warning") }, true},
		{"dead connection", (*fakeSlack).silence, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			store := &hookStore{testStore: newTestStore(t)}
			conv := &recorder{store: store, reply: echo}
			// Hold the first envelope's inbox write until the connection
			// is gone: its acknowledgement cannot reach Slack on it.
			release := make(chan struct{})
			store.setHook(func(r flows.Received) error {
				if r.ID == "slack:e:Ev1" {
					<-release
				}
				return nil
			})
			startBot(t, f, conv, store, true, func(c *Config) { c.PingInterval = 300 * time.Millisecond })
			waitFor(t, "a socket mode connection", f.connected)

			first := f.envelope("events_api", f.dmEvent("Ev1", "U1", "before the cut"))
			tt.cut(f)
			close(release)
			store.setHook(nil)
			// Sent while no connection is up: delivered on the next one.
			second := f.envelope("events_api", f.dmEvent("Ev2", "U1", "during the cut"))

			waitFor(t, "a new connection", func() bool { return f.connections() >= 2 && f.connected() })
			third := f.envelope("events_api", f.dmEvent("Ev3", "U1", "after the cut"))
			waitFor(t, "every envelope acknowledged", func() bool { return f.unackedCount() == 0 })
			for _, env := range []string{first, second, third} {
				if f.ackCount(env) == 0 {
					t.Errorf("%s never acknowledged", env)
				}
			}
			waitFor(t, "three replies", func() bool { return len(f.posted("DU1")) >= 3 })
			got := conv.got()
			seen := map[string]int{}
			for _, in := range got {
				seen[in.Text]++
			}
			for _, text := range []string{"before the cut", "during the cut", "after the cut"} {
				if seen[text] != 1 {
					t.Errorf("%q handled %d times, want once", text, seen[text])
				}
			}
			if n := len(f.posted("DU1")); n != 3 {
				t.Errorf("got %d replies, want 3", n)
			}
		})
	}
}

func TestSocketModeUnstoredIsNotAcknowledged(t *testing.T) {
	f := newFakeSlack(t)
	store := &hookStore{testStore: newTestStore(t)}
	var (
		mu     sync.Mutex
		failed = make(chan struct{})
		stored time.Time
	)
	store.setHook(func(r flows.Received) error {
		mu.Lock()
		defer mu.Unlock()
		if stored.IsZero() && failed != nil {
			close(failed)
			failed = nil
			return errors.New("disk full")
		}
		stored = time.Now()
		return nil
	})
	conv := &recorder{store: store, reply: echo}
	startBot(t, f, conv, store, true)
	waitFor(t, "a socket mode connection", f.connected)
	mu.Lock()
	wait := failed
	mu.Unlock()

	env := f.envelope("events_api", f.dmEvent("Ev1", "U1", "hello"))
	<-wait
	// Slack sends an unacknowledged envelope again, here on a new connection.
	f.dropConnection()
	waitFor(t, "the envelope acknowledged", func() bool { return f.ackCount(env) > 0 })
	f.mu.Lock()
	ackAt := f.acks[env][0].At
	f.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if stored.IsZero() || ackAt.Before(stored) {
		t.Errorf("acknowledged at %v, stored at %v: want the acknowledgement after the write that succeeded", ackAt, stored)
	}
}

func TestSocketModeUnreadableEnvelopeAcknowledged(t *testing.T) {
	f := newFakeSlack(t)
	store := &hookStore{testStore: newTestStore(t)}
	var (
		mu   sync.Mutex
		puts []string
	)
	store.setHook(func(r flows.Received) error {
		mu.Lock()
		defer mu.Unlock()
		puts = append(puts, r.ID)
		return nil
	})
	startBot(t, f, &recorder{store: store}, store, true)
	waitFor(t, "a socket mode connection", f.connected)
	bad := f.envelope("interactive", []int{1, 2, 3})
	ignored := f.envelope("events_api", map[string]any{"type": "event_callback", "team_id": "T0TEAM", "event_id": "Ev9",
		"event": map[string]any{"type": "reaction_added", "user": "U1", "reaction": "thumbsup"}})
	waitFor(t, "both acknowledged", func() bool { return f.ackCount(bad) == 1 && f.ackCount(ignored) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(puts) != 0 {
		t.Errorf("got inbox writes %q, want none", puts)
	}
	if n := store.inboxCount(t); n != 0 {
		t.Errorf("got %d inbox items, want 0", n)
	}
}

func TestSocketModeRefusedToken(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	b, err := New(Config{BotToken: f.BotToken, AppToken: "xapp-wrong", APIURL: f.URL(), PollInterval: 10 * time.Millisecond}, &recorder{store: store}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = b.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("got Run error %v, want invalid_auth", err)
	}
}
