package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
)

// loadTestConsultations reads testdata: draft (named, open), pulse
// (anonymous, open) and panel (invite only).
func loadTestConsultations(t testing.TB) []*flows.Consultation {
	t.Helper()
	cs, err := flows.LoadDir("testdata")
	if err != nil {
		t.Fatalf("loading testdata: %v", err)
	}
	return cs
}

func only(cs []*flows.Consultation, ids ...string) []*flows.Consultation {
	var out []*flows.Consultation
	for _, c := range cs {
		for _, id := range ids {
			if c.ID == id {
				out = append(out, c)
			}
		}
	}
	return out
}

// harness drives a runner as a channel would: input in, replies out.
type harness struct {
	t   testing.TB
	s   *Store
	r   *Runner
	mu  sync.Mutex
	now time.Time
	run string // this harness's part of input ids, as a channel's run id
	seq int
}

func newHarness(t testing.TB, s *Store, cs []*flows.Consultation) *harness {
	h := &harness{t: t, s: s, now: t0, run: randomHex(4)}
	h.r = NewRunner(s, cs, RunnerOptions{Now: h.clock})
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// input makes an input of identity on the console channel with a new id.
func (h *harness) input(identity string, in flows.Input) flows.Input {
	h.mu.Lock()
	h.seq++
	in.ID = fmt.Sprintf("console:%s:%d", h.run, h.seq)
	h.mu.Unlock()
	in.Participant = identity
	in.Channel = "console"
	in.ReplyTo = identity
	return in
}

// send hands one input over and returns the texts of the replies queued for
// identity, delivering them (claim, sending, sent).
func (h *harness) send(identity string, in flows.Input) []flows.Outgoing {
	h.t.Helper()
	in = h.input(identity, in)
	if err := h.r.Handle(context.Background(), in); err != nil {
		h.t.Fatalf("Handle(%+v): %v", in, err)
	}
	return h.deliver(identity)
}

func (h *harness) deliver(identity string) []flows.Outgoing {
	h.t.Helper()
	ctx := context.Background()
	now := h.clock()
	msgs, err := h.s.Claim(ctx, "console", "test-"+identity, 100, time.Minute, now)
	if err != nil {
		h.t.Fatal(err)
	}
	var mine []flows.Outgoing
	for _, m := range msgs {
		if m.Participant != identity {
			if err := h.s.Retry(ctx, m.ID, time.Time{}); err != nil {
				h.t.Fatal(err)
			}
			continue
		}
		if err := h.s.Sending(ctx, m.ID, "test-"+identity, now); err != nil {
			h.t.Fatal(err)
		}
		if err := h.s.Sent(ctx, m.ID, "", now); err != nil {
			h.t.Fatal(err)
		}
		mine = append(mine, m)
	}
	return mine
}

func texts(ms []flows.Outgoing) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Reply.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// complete runs identity through draft: q1=2, a rewording, role.
func (h *harness) completeDraft(identity string) {
	h.t.Helper()
	for _, in := range []flows.Input{
		{Command: flows.CmdStart, Arg: "draft"},
		{Text: "yes"},
		{Text: "2"},
		{Text: "Say what support means"},
		{Text: "Peer mentor"},
	} {
		h.send(identity, in)
	}
}

// session reads a session document.
func (h *harness) session(identity, consultation string) sessionDoc {
	h.t.Helper()
	p, err := h.s.Participant(context.Background(), identity)
	if err != nil {
		h.t.Fatal(err)
	}
	doc, ok, err := h.s.loadSession(context.Background(), sessionID(p.ID, consultation))
	if err != nil || !ok {
		h.t.Fatalf("session of %s in %s: ok=%v err=%v", identity, consultation, ok, err)
	}
	return doc
}

// dump returns every document of every collection as relaxed extended
// JSON, by collection.
func dump(t testing.TB, s *Store) map[string][]string {
	t.Helper()
	ctx := context.Background()
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, name := range names {
		cur, err := s.c(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			js, err := bson.MarshalExtJSON(cur.Current, false, false)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], string(js))
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		cur.Close(ctx)
	}
	return out
}
