package relay

import (
	"context"
	"log/slog"
	"sync"
)

// Update is one stored update to hand over.
type Update struct {
	ID     string                          // inbox id: failures are counted by it
	Key    string                          // the participant: one key's updates are handled in order
	Handle func(ctx context.Context) error // does what the update asks and marks it done
}

// Processor hands stored updates over, spread over shards by key: one key's
// updates one at a time, in the order given; different keys' side by side.
// An update that fails stays to be tried again, and its key's later updates
// wait for it (they are skipped this round). One that failed maxAttempts
// times in a row in this process is given up, so that it cannot hold its
// participant up for ever.
type Processor struct {
	shards      int
	maxAttempts int
	log         *slog.Logger

	mu       sync.Mutex
	attempts map[string]int // update id -> failures in a row in this process
}

// NewProcessor returns a Processor with shards goroutines (at least 1) that
// gives an update up after maxAttempts failures (at least 1), logging to
// log (nil: nowhere).
func NewProcessor(shards, maxAttempts int, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Processor{shards: max(shards, 1), maxAttempts: max(maxAttempts, 1), log: log, attempts: map[string]int{}}
}

// Process hands updates over and returns when each was handled, failed or
// skipped, or ctx ended. giveUp marks an update done that is given up (the
// store's InboxDone); if that fails too, the update stays. Process reports
// whether an update failed and stays, to be tried again.
func (p *Processor) Process(ctx context.Context, updates []Update, giveUp func(ctx context.Context, id string) error) (failed bool) {
	shards := make([][]Update, p.shards)
	for _, u := range updates {
		k := Shard(u.Key, p.shards)
		shards[k] = append(shards[k], u)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, us := range shards {
		if len(us) == 0 {
			continue
		}
		wg.Go(func() {
			stuck := map[string]bool{} // keys with an update that failed: their later ones wait
			for _, u := range us {
				if stuck[u.Key] || ctx.Err() != nil {
					continue
				}
				err := u.Handle(ctx)
				if err == nil {
					p.forget(u.ID)
					continue
				}
				if ctx.Err() != nil {
					return
				}
				if p.fail(u.ID) {
					p.log.Error("update given up after repeated failures", "id", u.ID, "err", err)
					if err := giveUp(ctx, u.ID); err == nil {
						continue
					}
				} else {
					p.log.Warn("update failed; will try again", "id", u.ID, "err", err)
				}
				stuck[u.Key] = true
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// fail counts a failure of update id and reports whether it failed too
// often to try again.
func (p *Processor) fail(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts[id]++
	if p.attempts[id] >= p.maxAttempts {
		delete(p.attempts, id)
		return true
	}
	return false
}

// forget drops the count of an update that went through.
func (p *Processor) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.attempts, id)
}
