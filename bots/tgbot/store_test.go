package tgbot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
	"github.com/consultbot/consultbot/storage/storagetest"
)

// Every test runs on the real store: the embedded FerretDB in a temporary
// directory, or, when MONGODB_URI is set, a fresh database on that server,
// dropped when the test ends. No mocked database.

// openStore opens a fresh real store for the test (see storagetest).
func openStore(t testing.TB, cfg storage.Config) *storage.Store {
	t.Helper()
	return storagetest.Open(t, cfg)
}

var errStoreDown = errors.New("store unavailable")

// testStore is the real store with two additions for the channel's tests: a
// fault injector that makes chosen inbox writes fail, and a record of what
// the channel told the store about each outbox item and participant
// (storagetest.Recorder). Every call reaches the real database.
type testStore struct {
	*storagetest.Recorder

	mu      sync.Mutex
	failPut map[string]int       // inbox id -> InboxPut failures still to come
	putAt   map[string]time.Time // inbox id -> when the store had it
}

// outcome is what the channel recorded about an outbox item.
type outcome = storagetest.Outcome

func newTestStore(t testing.TB) *testStore {
	return &testStore{
		Recorder: storagetest.NewRecorder(openStore(t, storage.Config{Logger: testLogger(t)})),
		failPut:  map[string]int{},
		putAt:    map[string]time.Time{},
	}
}

// failPuts makes the next n writes of inbox item id fail.
func (s *testStore) failPuts(id string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failPut[id] = n
}

func (s *testStore) InboxPut(ctx context.Context, r flows.Received) (bool, error) {
	s.mu.Lock()
	if s.failPut[r.ID] > 0 {
		s.failPut[r.ID]--
		s.mu.Unlock()
		return false, errStoreDown
	}
	s.mu.Unlock()
	dup, err := s.Recorder.InboxPut(ctx, r)
	if err == nil && !dup {
		s.mu.Lock()
		s.putAt[r.ID] = time.Now()
		s.mu.Unlock()
	}
	return dup, err
}

// storedAt is when the store had inbox item id (just after it said so).
func (s *testStore) storedAt(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.putAt[id]
	return t, ok
}

func (s *testStore) isUnreachable(identity string) bool {
	return slices.Contains(s.Unreachables(), identity)
}

// counts is the store's own count of the outbox by status.
func (s *testStore) counts(t testing.TB) map[string]int {
	t.Helper()
	n, err := s.OutboxCounts(context.Background(), Channel)
	if err != nil {
		t.Fatalf("counting the outbox: %v", err)
	}
	return n
}

// idle reports whether the outbox holds nothing pending, claimed or sending.
func (s *testStore) idle(t testing.TB) bool {
	n := s.counts(t)
	return n[storage.OutPending]+n[storage.OutClaimed]+n[storage.OutSending] == 0
}

// quiz is a tiny scripted conversation for the channel's tests: /start asks
// a colour (buttons, data "t<turn>:<value>"); a press on the current
// question edits it to show the choice and thanks; a press on an old one
// is explained and changes nothing; text is echoed. Replies are queued in
// the store's outbox.
type quiz struct {
	store interface {
		Enqueue(ctx context.Context, msgs ...flows.Outgoing) error
	}
	mu    sync.Mutex
	turn  map[string]int
	chose map[string][]string
	ins   []flows.Input
	reply func(in flows.Input) []flows.Reply // overrides the script when set
}

func newQuiz(s *testStore) *quiz {
	return &quiz{store: s, turn: map[string]int{}, chose: map[string][]string{}}
}

func (q *quiz) Handle(ctx context.Context, in flows.Input) error {
	q.mu.Lock()
	q.ins = append(q.ins, in)
	var replies []flows.Reply
	switch {
	case q.reply != nil:
		replies = q.reply(in)
	case in.Command == flows.CmdStart:
		q.turn[in.Participant]++
		replies = []flows.Reply{q.ask(q.turn[in.Participant])}
	case in.Choice != "":
		t, v, _ := strings.Cut(strings.TrimPrefix(in.Choice, "t"), ":")
		if t != fmt.Sprint(q.turn[in.Participant]) {
			replies = []flows.Reply{{Text: "That question has moved on."}}
			break
		}
		q.chose[in.Participant] = append(q.chose[in.Participant], v)
		q.turn[in.Participant]++
		replies = []flows.Reply{
			{Text: "Pick a colour\n✓ " + v, Edit: true},
			{Text: "Thanks, you chose " + v + "."},
			q.ask(q.turn[in.Participant]),
		}
	default:
		replies = []flows.Reply{{Text: "You said: " + in.Text}}
	}
	q.mu.Unlock()
	msgs := make([]flows.Outgoing, len(replies))
	for i, r := range replies {
		msgs[i] = flows.Outgoing{ID: fmt.Sprintf("%s:%d", in.ID, i), Channel: in.Channel, Participant: in.Participant, To: in.ReplyTo, Reply: r}
		if r.Edit {
			msgs[i].EditRef = in.Ref
		}
	}
	return q.store.Enqueue(ctx, msgs...)
}

func (q *quiz) ask(turn int) flows.Reply {
	t := fmt.Sprintf("t%d:", turn)
	return flows.Reply{Text: "Pick a colour", Question: "colour", Choices: []flows.Choice{
		{Label: "Red", Data: t + "red"}, {Label: "Green", Data: t + "green"}, {Label: "Blue", Data: t + "blue"},
		{Label: "Skip", Data: t + "skip", Nav: true},
	}}
}

func (q *quiz) inputs() []flows.Input {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.ins)
}

func (q *quiz) choices(who string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.chose[who])
}

// zeroCounts is OutboxCounts of an outbox with nothing waiting, unknown or
// failed.
func zeroCounts() map[string]int {
	return map[string]int{storage.OutPending: 0, storage.OutClaimed: 0, storage.OutSending: 0, storage.OutUnknown: 0, storage.OutFailed: 0}
}
