package slackbot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

const (
	inboxLease   = "slack:inbox"  // one instance processes the inbox at a time
	outboxLease  = "slack:outbox" // one instance sends at a time: the rate limits are the workspace's
	leaderTTL    = 30 * time.Second
	inboxBatch   = 200
	maxAttempts  = 5 // a stored update that failed this often in a row is given up
	retryBackoff = time.Second
)

// leader keeps a named lease: held reports whether this instance holds it,
// renewing it when a third of its time has passed.
type leader struct {
	name    string
	renewed time.Time
	held    bool
}

func (b *Bot) lead(ctx context.Context, l *leader) (bool, error) {
	now := b.now()
	if l.held && now.Sub(l.renewed) < leaderTTL/3 {
		return true, nil
	}
	ok, err := b.store.Lease(ctx, l.name, b.cfg.Owner, leaderTTL, now)
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", l.name, err)
	}
	if ok && !l.held {
		b.log.Debug("took the lease", "lease", l.name, "owner", b.cfg.Owner)
	}
	l.held, l.renewed = ok, now
	return ok, nil
}

// processLoop hands stored updates to the conversation: whatever a crash
// left pending first, then each new one as it is stored. Updates are spread
// over shards by participant, so one participant's are handled in order
// while different participants' are handled side by side.
func (b *Bot) processLoop(ctx context.Context) error {
	l := &leader{name: inboxLease}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wakeInbox:
		case <-timer.C:
		}
		wait := b.cfg.PollInterval
		ok, err := b.lead(ctx, l)
		if err != nil {
			b.log.Warn("inbox", "err", err)
		}
		if ok {
			n, failed, err := b.processPending(ctx)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("reading the inbox", "err", err)
			case failed:
				wait = retryBackoff
			case n > 0:
				wait = 0 // there may be more
			}
		}
		timer.Reset(wait)
	}
}

// processPending handles one batch of pending updates. It returns how many it
// read and whether any failed (they stay pending and are tried again).
func (b *Bot) processPending(ctx context.Context) (int, bool, error) {
	pending, err := b.store.InboxPending(ctx, Channel, inboxBatch)
	if err != nil {
		return 0, false, err
	}
	if len(pending) == 0 {
		return 0, false, nil
	}
	updates := make([]relay.Update, 0, len(pending))
	for _, r := range pending {
		u, err := decode(r)
		if err != nil {
			if !errors.Is(err, errIgnored) {
				b.log.Warn("unreadable update dropped", "id", r.ID, "err", err)
			}
			if err := b.store.InboxDone(ctx, r.ID); err != nil {
				return len(pending), true, err
			}
			continue
		}
		updates = append(updates, relay.Update{ID: r.ID, Key: u.participant, Handle: func(ctx context.Context) error { return b.handle(ctx, r, u) }})
	}
	return len(pending), b.updates.Process(ctx, updates, b.store.InboxDone), nil
}

// handle hands one update's inputs to the conversation, then marks it done.
func (b *Bot) handle(ctx context.Context, r flows.Received, u update) error {
	if u.dmUser != "" {
		dm, err := b.OpenDM(ctx, u.dmUser)
		if err != nil {
			return err
		}
		for i := range u.inputs {
			u.inputs[i].ReplyTo = dm
		}
	}
	for _, in := range u.inputs {
		b.giveWay(ctx)
		if err := b.conv.Handle(ctx, in); err != nil {
			return fmt.Errorf("handling %s: %w", in.ID, err)
		}
	}
	if err := b.store.InboxDone(ctx, r.ID); err != nil {
		return fmt.Errorf("marking %s done: %w", r.ID, err)
	}
	wake(b.wakeOutbox)
	return nil
}

// maxGiveWay bounds how long processing and sending wait for updates being
// stored, so that a steady stream of them cannot starve either.
const maxGiveWay = 250 * time.Millisecond

// giveWay waits while updates are being stored: Slack waits for their
// acknowledgement (3 seconds at most), a participant's reply can wait a few
// milliseconds, and on the embedded store the writes queue behind each
// other.
func (b *Bot) giveWay(ctx context.Context) {
	if b.receiving.Load() == 0 {
		return
	}
	deadline := time.Now().Add(maxGiveWay)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for b.receiving.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
