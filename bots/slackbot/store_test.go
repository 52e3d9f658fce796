package slackbot

import (
	"context"
	"errors"
	"fmt"
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

// testStore is the real store with a record of what the channel told it
// about each outbox item and participant (storagetest.Recorder).
type testStore struct {
	*storagetest.Recorder
}

// outcome is what the channel recorded about an outbox item.
type outcome = storagetest.Outcome

func newTestStore(t testing.TB) *testStore {
	return &testStore{storagetest.NewRecorder(openStore(t, storage.Config{}))}
}

// enqueue queues m in the store's outbox.
func (s *testStore) enqueue(t testing.TB, m flows.Outgoing) {
	t.Helper()
	if err := s.Enqueue(context.Background(), m); err != nil {
		t.Fatalf("queueing %s: %v", m.ID, err)
	}
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

// inboxCount is the number of updates the store holds unprocessed.
func (s *testStore) inboxCount(t testing.TB) int {
	t.Helper()
	n, err := s.InboxCount(context.Background(), Channel)
	if err != nil {
		t.Fatalf("counting the inbox: %v", err)
	}
	return n
}

// hookStore is a testStore that runs a hook before each inbox write: an
// error from it fails the write (a fault injector over the real store).
type hookStore struct {
	*testStore
	mu    sync.Mutex
	onPut func(r flows.Received) error
}

func (s *hookStore) InboxPut(ctx context.Context, r flows.Received) (bool, error) {
	s.mu.Lock()
	hook := s.onPut
	s.mu.Unlock()
	if hook != nil {
		if err := hook(r); err != nil {
			return false, err
		}
	}
	return s.testStore.InboxPut(ctx, r)
}

func (s *hookStore) setHook(h func(r flows.Received) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPut = h
}

// failingStore is the real store whose inbox writes fail.
type failingStore struct {
	*storage.Store
	err error
}

func (s failingStore) InboxPut(context.Context, flows.Received) (bool, error) { return false, s.err }

// recorder is a Conversation that records its inputs and queues the replies
// reply gives in the store's outbox.
type recorder struct {
	store interface {
		Enqueue(ctx context.Context, msgs ...flows.Outgoing) error
	}
	reply func(in flows.Input) []flows.Reply

	mu     sync.Mutex
	inputs []flows.Input
	fail   map[string]int // input id -> failures left
}

func (c *recorder) Handle(ctx context.Context, in flows.Input) error {
	c.mu.Lock()
	if c.fail[in.ID] > 0 {
		c.fail[in.ID]--
		c.mu.Unlock()
		return errors.New("conversation: busy")
	}
	c.inputs = append(c.inputs, in)
	c.mu.Unlock()
	if c.reply == nil {
		return nil
	}
	for i, r := range c.reply(in) {
		m := flows.Outgoing{
			ID: fmt.Sprintf("%s/r%d", in.ID, i), Channel: in.Channel, Participant: in.Participant,
			To: in.ReplyTo, Reply: r, Created: time.Now(),
		}
		if r.Edit {
			m.EditRef = in.Ref
		}
		if err := c.store.Enqueue(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (c *recorder) got() []flows.Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]flows.Input(nil), c.inputs...)
}
