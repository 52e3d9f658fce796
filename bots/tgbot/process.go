package tgbot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

const (
	inboxBatch   = 200
	maxAttempts  = 5 // a stored update that failed this often in a row is given up
	retryBackoff = time.Second
	markTimeout  = 10 * time.Second
)

// processLoop hands stored updates to the conversation while this instance
// holds the inbox lease: whatever a crash left pending first, then each new
// one as it is stored. Updates are spread over shards by person, so one
// person's are handled in order while different people's are handled side
// by side.
func (b *Bot) processLoop(ctx context.Context) error {
	l := &leader{name: b.leaseName("inbox")}
	defer b.release(l)
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
		ok, err := b.hold(ctx, l)
		if err != nil && ctx.Err() == nil {
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
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// updateNumber is the update_id in an inbox id, for ordering.
func updateNumber(id string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(id, inboxPrefix), 10, 64)
	return n
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
	slices.SortStableFunc(pending, func(x, y flows.Received) int {
		return cmp.Or(x.At.Compare(y.At), cmp.Compare(updateNumber(x.ID), updateNumber(y.ID)))
	})
	d := decoder{sig: b.sig, username: b.username()}
	updates := make([]relay.Update, 0, len(pending))
	for _, r := range pending {
		ev, err := d.decode(r)
		if err != nil {
			if !errors.Is(err, errIgnored) {
				b.log.Warn("unreadable update dropped", "id", r.ID, "err", err)
			}
			if err := b.store.InboxDone(ctx, r.ID); err != nil {
				return len(pending), true, err
			}
			continue
		}
		updates = append(updates, relay.Update{ID: r.ID, Key: ev.key, Handle: func(ctx context.Context) error { return b.handle(ctx, r, ev) }})
	}
	return len(pending), b.updates.Process(ctx, updates, b.store.InboxDone), nil
}

// handle does what one update asks, then marks it done.
func (b *Bot) handle(ctx context.Context, r flows.Received, ev event) error {
	if ev.callback != "" {
		b.answerCallback(ctx, ev.callback, ev.callbackTxt)
	}
	if ev.blocked != "" {
		if err := b.store.Unreachable(ctx, ev.blocked, b.now()); err != nil {
			return fmt.Errorf("marking %s unreachable: %w", ev.blocked, err)
		}
		b.log.Info("participant blocked the bot", "participant", ev.blocked)
	}
	if ev.notice != nil {
		now := b.now()
		err := b.store.Enqueue(ctx, flows.Outgoing{
			ID:          r.ID + ":n",
			Channel:     Channel,
			Participant: ev.noticeWho,
			To:          ev.noticeTo,
			Reply:       *ev.notice,
			NotBefore:   now,
			Created:     now,
		})
		if err != nil {
			return fmt.Errorf("queueing a notice for %s: %w", r.ID, err)
		}
	}
	if ev.input != nil {
		if err := b.conv.Handle(ctx, *ev.input); err != nil {
			return fmt.Errorf("handling %s: %w", r.ID, err)
		}
	}
	if err := b.store.InboxDone(ctx, r.ID); err != nil {
		return fmt.Errorf("marking %s done: %w", r.ID, err)
	}
	wake(b.wakeOutbox)
	return nil
}

// answerCallback answers a callback query, so the button stops spinning;
// text, if any, shows as a short notice. Telegram forgets queries after a
// while (an update handled again after a restart): a failure is only logged.
func (b *Bot) answerCallback(ctx context.Context, id, text string) {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	_, err := b.api.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: id, Text: text})
	if err != nil && ctx.Err() == nil {
		b.log.Debug("answerCallbackQuery failed", "err", err)
	}
}
