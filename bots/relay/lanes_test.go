package relay

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// waitFor polls cond until it holds, or fails the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// msg is a message "id" for participant who.
func msg(id, who string) flows.Outgoing {
	return flows.Outgoing{ID: id, Participant: who}
}

// journal records deliveries and drops.
type journal struct {
	mu        sync.Mutex
	delivered map[string][]string // lane -> ids in order
	dropped   []string
}

func (l *journal) deliver(lane string, m flows.Outgoing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.delivered == nil {
		l.delivered = map[string][]string{}
	}
	l.delivered[lane] = append(l.delivered[lane], m.ID)
}

func (l *journal) drop(m flows.Outgoing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropped = append(l.dropped, m.ID)
}

func (l *journal) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, lane := range slices.Sorted(maps.Keys(l.delivered)) {
		parts = append(parts, lane+":"+strings.Join(l.delivered[lane], ","))
	}
	return strings.Join(parts, " ")
}

func TestLanes(t *testing.T) {
	type add struct{ lane, id, who string }
	tests := []struct {
		name        string
		adds        []add
		unreachable map[string]bool // message id -> deliver reports its participant unreachable
		want        string          // delivered per lane, in order
		wantDropped []string
	}{
		{
			name: "in order per lane",
			adds: []add{{"c1", "1", "p1"}, {"c2", "2", "p2"}, {"c1", "3", "p1"}, {"c1", "4", "p3"}, {"c2", "5", "p2"}},
			want: "c1:1,3,4 c2:2,5",
		},
		{
			name:        "unreachable: the rest for that person in the lane is dropped",
			adds:        []add{{"c1", "1", "p1"}, {"c1", "2", "p1"}, {"c1", "3", "p2"}, {"c1", "4", "p1"}, {"c2", "5", "p1"}},
			unreachable: map[string]bool{"1": true},
			want:        "c1:1,3 c2:5",
			wantDropped: []string{"2", "4"},
		},
		{
			name:        "unreachable on the last message: nothing to drop",
			adds:        []add{{"c1", "1", "p1"}, {"c1", "2", "p1"}},
			unreachable: map[string]bool{"2": true},
			want:        "c1:1,2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec journal
			// Every lane waits until all is added: what is queued behind
			// a message is known when it is delivered.
			start := make(chan struct{})
			lanes := NewLanes(func(lane string, m flows.Outgoing) bool {
				<-start
				rec.deliver(lane, m)
				return tt.unreachable[m.ID]
			}, rec.drop)
			for _, a := range tt.adds {
				lanes.Add(a.lane, msg(a.id, a.who))
			}
			if got := lanes.InFlight(); got != len(tt.adds) {
				t.Errorf("in flight before delivery: got %d, want %d", got, len(tt.adds))
			}
			close(start)
			lanes.Wait()
			if got := rec.summary(); got != tt.want {
				t.Errorf("delivered: got %q, want %q", got, tt.want)
			}
			if !slices.Equal(rec.dropped, tt.wantDropped) {
				t.Errorf("dropped: got %v, want %v", rec.dropped, tt.wantDropped)
			}
			if got := lanes.InFlight(); got != 0 {
				t.Errorf("in flight after: got %d, want 0", got)
			}
			select {
			case <-lanes.Done():
			default:
				t.Error("Done: got no signal after deliveries")
			}
		})
	}
}

func TestLanesQueued(t *testing.T) {
	release := make(chan struct{})
	lanes := NewLanes(func(string, flows.Outgoing) bool { <-release; return false }, nil)
	for i := range 4 {
		lanes.Add("c1", msg(fmt.Sprint(i), "p1"))
	}
	// The first is being delivered; three wait behind it.
	waitFor(t, "the first delivery to start", func() bool { return lanes.Queued("c1") == 3 })
	if got := lanes.Queued("c2"); got != 0 {
		t.Errorf("Queued of an empty lane: got %d, want 0", got)
	}
	if got := lanes.InFlight(); got != 4 {
		t.Errorf("InFlight: got %d, want 4", got)
	}
	close(release)
	lanes.Wait()
	if got := lanes.Queued("c1"); got != 0 {
		t.Errorf("Queued after: got %d, want 0", got)
	}
}

func TestLanesSideBySide(t *testing.T) {
	c2Done := make(chan struct{})
	var sawC2 bool
	lanes := NewLanes(func(lane string, m flows.Outgoing) bool {
		if lane == "c2" {
			close(c2Done)
			return false
		}
		select {
		case <-c2Done:
			sawC2 = true
		case <-time.After(10 * time.Second):
		}
		return false
	}, nil)
	lanes.Add("c1", msg("1", "p1"))
	lanes.Add("c2", msg("2", "p2"))
	lanes.Wait()
	if !sawC2 {
		t.Error("c1's delivery did not see c2's while it ran: lanes went one after the other")
	}
}

func TestLanesReuseAfterEmpty(t *testing.T) {
	var rec journal
	lanes := NewLanes(func(lane string, m flows.Outgoing) bool { rec.deliver(lane, m); return false }, nil)
	lanes.Add("c1", msg("1", "p1"))
	lanes.Wait()
	lanes.Add("c1", msg("2", "p1"))
	lanes.Wait()
	if got := rec.summary(); got != "c1:1,2" {
		t.Errorf("got %q, want c1:1,2", got)
	}
}
