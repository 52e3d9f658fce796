package tgbot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// memStore is an in-memory Store with the outbox and inbox semantics of the
// real one, for tests of the channel's own machinery. (The end-to-end tests
// use the real store.)
type memStore struct {
	mu          sync.Mutex
	inbox       map[string]flows.Received
	seen        map[string]bool
	out         map[string]*memOut
	seq         int
	leases      map[string]memLease
	unreachable map[string]bool
	failPut     map[string]int       // inbox id -> InboxPut failures still to come
	putAt       map[string]time.Time // inbox id -> when it was stored
	puts        int
}

type memOut struct {
	m      flows.Outgoing
	seq    int
	status string // pending, claimed, sending, sent, failed, unknown
	owner  string
	until  time.Time
	ref    string
	reason string
}

type memLease struct {
	owner string
	until time.Time
}

var errStoreDown = errors.New("store unavailable")

func newMemStore() *memStore {
	return &memStore{
		inbox:       map[string]flows.Received{},
		seen:        map[string]bool{},
		out:         map[string]*memOut{},
		leases:      map[string]memLease{},
		unreachable: map[string]bool{},
		failPut:     map[string]int{},
		putAt:       map[string]time.Time{},
	}
}

func (s *memStore) InboxPut(_ context.Context, r flows.Received) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.failPut[r.ID] > 0 {
		s.failPut[r.ID]--
		return false, errStoreDown
	}
	if _, ok := s.inbox[r.ID]; ok || s.seen[r.ID] {
		return true, nil
	}
	s.inbox[r.ID] = r
	s.putAt[r.ID] = time.Now()
	return false, nil
}

func (s *memStore) InboxPending(_ context.Context, channel string, limit int) ([]flows.Received, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flows.Received
	for _, r := range s.inbox {
		if r.Channel == channel {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b flows.Received) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID)) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) InboxDone(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[id] = true
	delete(s.inbox, id)
	return nil
}

func (s *memStore) Enqueue(_ context.Context, msgs ...flows.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if _, ok := s.out[m.ID]; ok {
			continue
		}
		s.seq++
		s.out[m.ID] = &memOut{m: m, seq: s.seq, status: "pending"}
	}
	return nil
}

func (s *memStore) Claim(_ context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cands []*memOut
	for _, o := range s.out {
		if o.m.Channel != channel {
			continue
		}
		if (o.status == "pending" && !o.m.NotBefore.After(now)) || (o.status == "claimed" && !o.until.After(now)) {
			cands = append(cands, o)
		}
	}
	slices.SortFunc(cands, func(a, b *memOut) int { return a.seq - b.seq })
	if len(cands) > max {
		cands = cands[:max]
	}
	out := make([]flows.Outgoing, len(cands))
	for i, o := range cands {
		o.status, o.owner, o.until = "claimed", owner, now.Add(lease)
		out[i] = o.m
	}
	return out, nil
}

func (s *memStore) find(id string) (*memOut, error) {
	o, ok := s.out[id]
	if !ok {
		return nil, fmt.Errorf("outbox %s: not found", id)
	}
	return o, nil
}

func (s *memStore) Sending(_ context.Context, id, owner string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	if o.status != "claimed" || o.owner != owner {
		return fmt.Errorf("outbox %s is %s by %s: conflict", id, o.status, o.owner)
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
	o.status, o.owner = "pending", ""
	o.m.NotBefore = notBefore
	o.m.Attempts++
	return nil
}

func (s *memStore) Unreachable(_ context.Context, identity string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreachable[identity] = true
	for _, o := range s.out {
		if o.m.Participant == identity && o.status == "pending" {
			o.status, o.reason = "failed", "unreachable"
		}
	}
	return nil
}

func (s *memStore) Lease(_ context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[name]
	if ok && l.owner != owner && l.until.After(now) {
		return false, nil
	}
	s.leases[name] = memLease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

func (s *memStore) ReleaseLease(_ context.Context, name, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[name].owner == owner {
		delete(s.leases, name)
	}
	return nil
}

// outbox returns a copy of an outbox item.
func (s *memStore) outbox(id string) (memOut, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.out[id]
	if !ok {
		return memOut{}, false
	}
	return *o, true
}

// statuses counts the outbox by status.
func (s *memStore) statuses() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, o := range s.out {
		n[o.status]++
	}
	return n
}

func (s *memStore) isUnreachable(identity string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreachable[identity]
}

func (s *memStore) storedAt(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.putAt[id]
	return t, ok
}

func (s *memStore) inboxState() (pending, done int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox), len(s.seen)
}

// quiz is a tiny scripted conversation for the channel's tests: /start asks
// a colour (buttons, data "t<turn>:<value>"); a press on the current
// question edits it to show the choice and thanks; a press on an old one
// is explained and changes nothing; text is echoed.
type quiz struct {
	store *memStore
	mu    sync.Mutex
	turn  map[string]int
	chose map[string][]string
	ins   []flows.Input
	reply func(in flows.Input) []flows.Reply // overrides the script when set
}

func newQuiz(s *memStore) *quiz {
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
