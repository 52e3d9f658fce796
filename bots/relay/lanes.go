package relay

import (
	"sync"

	"github.com/consultbot/consultbot/flows"
)

// Lanes delivers messages one at a time per lane (a chat, a channel), in
// the order they were added; different lanes go side by side, each on a
// goroutine of its own while it has messages.
type Lanes[K comparable] struct {
	deliver func(lane K, m flows.Outgoing) (unreachable bool)
	drop    func(m flows.Outgoing)
	done    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	queues   map[K][]flows.Outgoing
	inflight int // added and not yet delivered or dropped
}

// NewLanes returns lanes that hand each message to deliver. When deliver
// reports the message's participant unreachable, the messages for them
// still queued in that lane are not delivered but handed to drop (nil: let
// go).
func NewLanes[K comparable](deliver func(lane K, m flows.Outgoing) (unreachable bool), drop func(m flows.Outgoing)) *Lanes[K] {
	if drop == nil {
		drop = func(flows.Outgoing) {}
	}
	return &Lanes[K]{deliver: deliver, drop: drop, done: make(chan struct{}, 1), queues: map[K][]flows.Outgoing{}}
}

// Add queues m at the end of lane.
func (l *Lanes[K]) Add(lane K, m flows.Outgoing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q, busy := l.queues[lane]
	l.queues[lane] = append(q, m)
	l.inflight++
	if !busy {
		l.wg.Go(func() { l.drain(lane) })
	}
}

// Queued is how many messages wait in lane, besides the one being
// delivered.
func (l *Lanes[K]) Queued(lane K) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queues[lane])
}

// InFlight is how many messages were added and are not yet delivered or
// dropped.
func (l *Lanes[K]) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}

// Done receives after messages were delivered or dropped (one signal may
// stand for several): room for more.
func (l *Lanes[K]) Done() <-chan struct{} { return l.done }

// Wait waits until every lane is empty.
func (l *Lanes[K]) Wait() { l.wg.Wait() }

// drain delivers lane's messages until it is empty.
func (l *Lanes[K]) drain(lane K) {
	for {
		l.mu.Lock()
		q := l.queues[lane]
		if len(q) == 0 {
			delete(l.queues, lane)
			l.mu.Unlock()
			return
		}
		m := q[0]
		l.queues[lane] = q[1:]
		l.mu.Unlock()

		gone := l.deliver(lane, m)

		l.mu.Lock()
		l.inflight--
		var dropped []flows.Outgoing
		if gone {
			rest := l.queues[lane][:0]
			for _, o := range l.queues[lane] {
				if o.Participant == m.Participant {
					dropped = append(dropped, o)
					l.inflight--
				} else {
					rest = append(rest, o)
				}
			}
			l.queues[lane] = rest
		}
		l.mu.Unlock()
		for _, o := range dropped {
			l.drop(o)
		}
		select {
		case l.done <- struct{}{}:
		default:
		}
	}
}
