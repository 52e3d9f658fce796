package slackbot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// memStore is an in-memory Store for the channel's unit tests. The
// end-to-end tests use the real store.
type memStore struct {
	mu          sync.Mutex
	inbox       map[string]*memIn
	order       []string
	out         []*memOut
	unreachable []string
	leases      map[string]string
	putErr      error
	puts        int
}

type memIn struct {
	r    flows.Received
	done bool
}

type memOut struct {
	m      flows.Outgoing
	status string // pending, claimed, sending, sent, unknown, failed
	owner  string
	lease  time.Time
	ref    string
	reason string
}

var errConflict = errors.New("conflict")

func newMemStore() *memStore {
	return &memStore{inbox: map[string]*memIn{}, leases: map[string]string{}}
}

func (s *memStore) InboxPut(_ context.Context, r flows.Received) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return false, s.putErr
	}
	s.puts++
	if _, ok := s.inbox[r.ID]; ok {
		return true, nil
	}
	s.inbox[r.ID] = &memIn{r: r}
	s.order = append(s.order, r.ID)
	return false, nil
}

func (s *memStore) InboxPending(_ context.Context, channel string, limit int) ([]flows.Received, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.Received
	for _, id := range s.order {
		in := s.inbox[id]
		if !in.done && in.r.Channel == channel && len(out) < limit {
			out = append(out, in.r)
		}
	}
	return out, nil
}

func (s *memStore) InboxDone(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.inbox[id]
	if !ok {
		return fmt.Errorf("inbox %s: not found", id)
	}
	in.done = true
	in.r.Payload = nil
	return nil
}

func (s *memStore) inboxLen() (stored, done int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.inbox {
		stored++
		if in.done {
			done++
		}
	}
	return stored, done
}

func (s *memStore) enqueue(m flows.Outgoing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.out {
		if o.m.ID == m.ID {
			return
		}
	}
	s.out = append(s.out, &memOut{m: m, status: "pending"})
}

func (s *memStore) Claim(_ context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.Outgoing
	for _, o := range s.out {
		if len(out) >= max {
			break
		}
		if o.m.Channel != channel || o.m.NotBefore.After(now) {
			continue
		}
		if o.status == "pending" || o.status == "claimed" && now.After(o.lease) {
			o.status, o.owner, o.lease = "claimed", owner, now.Add(lease)
			out = append(out, o.m)
		}
	}
	return out, nil
}

func (s *memStore) find(id string) (*memOut, error) {
	for _, o := range s.out {
		if o.m.ID == id {
			return o, nil
		}
	}
	return nil, fmt.Errorf("outbox %s: not found", id)
}

func (s *memStore) Sending(_ context.Context, id, owner string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	if o.status != "claimed" || o.owner != owner {
		return fmt.Errorf("outbox %s is %s by %s: %w", id, o.status, o.owner, errConflict)
	}
	o.status = "sending"
	return nil
}

func (s *memStore) mark(id, status, ref, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	o.status, o.ref, o.reason = status, ref, reason
	return nil
}

func (s *memStore) Sent(_ context.Context, id, ref string, _ time.Time) error {
	return s.mark(id, "sent", ref, "")
}

func (s *memStore) Unknown(_ context.Context, id, reason string, _ time.Time) error {
	return s.mark(id, "unknown", "", reason)
}

func (s *memStore) Failed(_ context.Context, id, reason string, _ time.Time) error {
	return s.mark(id, "failed", "", reason)
}

func (s *memStore) Retry(_ context.Context, id string, notBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	o.status = "pending"
	o.m.NotBefore = notBefore
	o.m.Attempts++
	return nil
}

func (s *memStore) Unreachable(_ context.Context, identity string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreachable = append(s.unreachable, identity)
	return nil
}

func (s *memStore) Lease(_ context.Context, name, owner string, _ time.Duration, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.leases[name]; cur != "" && cur != owner {
		return false, nil
	}
	s.leases[name] = owner
	return true, nil
}

// outbox returns a copy of an outbox item.
func (s *memStore) outbox(id string) (memOut, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return memOut{}, false
	}
	return *o, true
}

// recorder is a Conversation that records its inputs and queues the replies
// reply gives.
type recorder struct {
	store *memStore
	reply func(in flows.Input) []flows.Reply

	mu     sync.Mutex
	inputs []flows.Input
	fail   map[string]int // input id -> failures left
}

func (c *recorder) Handle(_ context.Context, in flows.Input) error {
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
		c.store.enqueue(m)
	}
	return nil
}

func (c *recorder) got() []flows.Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]flows.Input(nil), c.inputs...)
}
