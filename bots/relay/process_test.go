package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// inbox is a stand-in for the store's inbox in these tests: updates stay
// until handled or given up.
type inbox struct {
	mu        sync.Mutex
	pending   []Update
	fails     map[string]int // id -> failures still to come; -1: always
	handled   map[string][]string
	givenUp   []string
	giveUpErr error
}

func newInbox(ids []string, fails map[string]int) *inbox {
	in := &inbox{fails: maps.Clone(fails), handled: map[string][]string{}}
	if in.fails == nil {
		in.fails = map[string]int{}
	}
	for _, s := range ids {
		key, id, _ := strings.Cut(s, "/")
		in.pending = append(in.pending, Update{ID: id, Key: key, Handle: func(context.Context) error { return in.handle(key, id) }})
	}
	return in
}

func (in *inbox) handle(key, id string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if n := in.fails[id]; n != 0 {
		if n > 0 {
			in.fails[id]--
		}
		return fmt.Errorf("handling %s: %w", id, errBusy)
	}
	in.handled[key] = append(in.handled[key], id)
	in.remove(id)
	return nil
}

var errBusy = errors.New("busy")

func (in *inbox) remove(id string) {
	in.pending = slices.DeleteFunc(in.pending, func(u Update) bool { return u.ID == id })
}

func (in *inbox) giveUp(_ context.Context, id string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.giveUpErr != nil {
		return in.giveUpErr
	}
	in.givenUp = append(in.givenUp, id)
	in.remove(id)
	return nil
}

// round processes what is pending, as the channel's loop does.
func (in *inbox) round(ctx context.Context, p *Processor) bool {
	in.mu.Lock()
	pending := slices.Clone(in.pending)
	in.mu.Unlock()
	return p.Process(ctx, pending, in.giveUp)
}

// summary lists what each key had handled, in order: "a:1,2 b:3".
func (in *inbox) summary() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(in.handled)) {
		parts = append(parts, k+":"+strings.Join(in.handled[k], ","))
	}
	return strings.Join(parts, " ")
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name        string
		updates     []string       // "key/id", in the order given
		fails       map[string]int // id -> failures before it goes through; -1: always
		maxAttempts int
		giveUpErr   error
		rounds      int
		wantFailed  []bool // per round
		want        string // handled, per key in order
		wantGivenUp []string
		wantPending int
	}{
		{
			name:        "all go through, in order per key",
			updates:     []string{"a/1", "b/2", "a/3", "c/4", "b/5", "a/6"},
			maxAttempts: 3, rounds: 1,
			wantFailed: []bool{false},
			want:       "a:1,3,6 b:2,5 c:4",
		},
		{
			name:        "a failure holds its key's later updates back, not the others'",
			updates:     []string{"a/1", "a/2", "b/3", "b/4"},
			fails:       map[string]int{"1": 1},
			maxAttempts: 3, rounds: 1,
			wantFailed:  []bool{true},
			want:        "b:3,4",
			wantPending: 2,
		},
		{
			name:        "tried again next round, in order",
			updates:     []string{"a/1", "a/2", "b/3"},
			fails:       map[string]int{"1": 2},
			maxAttempts: 3, rounds: 3,
			wantFailed: []bool{true, true, false},
			want:       "a:1,2 b:3",
		},
		{
			name:        "given up after max attempts; the key goes on",
			updates:     []string{"a/1", "a/2", "b/3"},
			fails:       map[string]int{"1": -1},
			maxAttempts: 3, rounds: 3,
			wantFailed:  []bool{true, true, false},
			want:        "a:2 b:3",
			wantGivenUp: []string{"1"},
		},
		{
			name:        "one attempt allowed: given up at once",
			updates:     []string{"a/1", "a/2"},
			fails:       map[string]int{"1": -1},
			maxAttempts: 1, rounds: 1,
			wantFailed:  []bool{false},
			want:        "a:2",
			wantGivenUp: []string{"1"},
		},
		{
			name:        "giving up fails too: the update stays and holds its key",
			updates:     []string{"a/1", "a/2", "b/3"},
			fails:       map[string]int{"1": -1},
			maxAttempts: 2, giveUpErr: errors.New("store down"), rounds: 2,
			wantFailed:  []bool{true, true},
			want:        "b:3",
			wantPending: 2,
		},
		{
			name:        "each update has its own count",
			updates:     []string{"a/1", "b/2"},
			fails:       map[string]int{"1": 2, "2": 2},
			maxAttempts: 3, rounds: 3,
			wantFailed: []bool{true, true, false},
			want:       "a:1 b:2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInbox(tt.updates, tt.fails)
			in.giveUpErr = tt.giveUpErr
			p := NewProcessor(4, tt.maxAttempts, nil)
			var failed []bool
			for range tt.rounds {
				failed = append(failed, in.round(context.Background(), p))
			}
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("failed per round: got %v, want %v", failed, tt.wantFailed)
			}
			if got := in.summary(); got != tt.want {
				t.Errorf("handled: got %q, want %q", got, tt.want)
			}
			if !slices.Equal(in.givenUp, tt.wantGivenUp) {
				t.Errorf("given up: got %v, want %v", in.givenUp, tt.wantGivenUp)
			}
			if got := len(in.pending); got != tt.wantPending {
				t.Errorf("pending: got %d, want %d", got, tt.wantPending)
			}
		})
	}
}

func TestProcessCountsPerUpdate(t *testing.T) {
	// Failures of one update do not count against another, and a success
	// starts the count again.
	in := newInbox([]string{"a/1"}, map[string]int{"1": 2})
	p := NewProcessor(1, 3, nil)
	for range 3 {
		in.round(context.Background(), p)
	}
	in2 := newInbox([]string{"a/1", "b/2"}, map[string]int{"1": 2, "2": 2})
	for range 2 {
		in2.round(context.Background(), p)
	}
	if len(in2.givenUp) != 0 {
		t.Errorf("given up: got %v, want none (each failed twice since its last success)", in2.givenUp)
	}
}

func TestProcessStopsWithContext(t *testing.T) {
	in := newInbox([]string{"a/1", "b/2", "c/3"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if failed := in.round(ctx, NewProcessor(2, 3, nil)); failed {
		t.Error("got failed, want not: nothing was tried")
	}
	if got := in.summary(); got != "" {
		t.Errorf("handled after the context ended: got %q, want nothing", got)
	}
}

// keysOnShards returns two keys that land on different shards of n.
func keysOnShards(t *testing.T, n int) (string, string) {
	t.Helper()
	for i := 1; i < 100; i++ {
		if k := fmt.Sprint("k", i); Shard(k, n) != Shard("k0", n) {
			return "k0", k
		}
	}
	t.Fatal("no two keys on different shards")
	return "", ""
}

func TestProcessKeysSideBySide(t *testing.T) {
	a, b := keysOnShards(t, 2)
	bDone := make(chan struct{})
	var sawB bool
	updates := []Update{
		{ID: "1", Key: a, Handle: func(context.Context) error {
			// a's update waits for b's: they must run at once.
			select {
			case <-bDone:
				sawB = true
			case <-time.After(10 * time.Second):
			}
			return nil
		}},
		{ID: "2", Key: b, Handle: func(context.Context) error { close(bDone); return nil }},
	}
	NewProcessor(2, 3, nil).Process(context.Background(), updates, func(context.Context, string) error { return nil })
	if !sawB {
		t.Error("a's update did not see b's handled while it ran: keys on different shards went one after the other")
	}
}

func TestShard(t *testing.T) {
	tests := []struct {
		key string
		n   int
	}{{"tg:42", 4}, {"slack:T1:U2", 4}, {"", 3}, {"x", 1}}
	for _, tt := range tests {
		got := Shard(tt.key, tt.n)
		if got < 0 || got >= tt.n {
			t.Errorf("Shard(%q, %d): got %d, want 0 to %d", tt.key, tt.n, got, tt.n-1)
		}
		if again := Shard(tt.key, tt.n); again != got {
			t.Errorf("Shard(%q, %d): got %d then %d, want the same", tt.key, tt.n, got, again)
		}
	}
}
