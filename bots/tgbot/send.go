package tgbot

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

const (
	claimLease = 2 * time.Minute
	departing  = 4                // most messages marked sending and not yet left
	authRetry  = time.Minute      // the token was refused: try again later, loudly
	partTries  = 3                // 429s tolerated on the later parts of a long message
	maxBackoff = 5 * time.Minute  // a request that did not leave is retried at most this late
	rateRetry  = 30 * time.Second // a 429 without retry_after
)

// sendLoop delivers the outbox while this instance holds the sending lease
// (the rate limits are the bot's, whichever instance sends): it claims
// messages, queues them by chat (one chat's messages go out in order, one
// at a time) and sends each within the bot's and the chat's budgets.
func (b *Bot) sendLoop(ctx context.Context) error {
	slots := make(chan struct{}, departing)
	lanes := relay.NewLanes(
		func(chat int64, m flows.Outgoing) bool { return b.deliver(ctx, chat, m, slots) },
		func(o flows.Outgoing) {
			// The person blocked the bot: what is queued for them here goes
			// no further (the store failed what was still pending).
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
			defer cancel()
			b.mark(mctx, "a failure", o.ID, b.store.Failed(mctx, o.ID, "unreachable: the person blocked the bot", b.now()))
		})
	defer lanes.Wait()
	l := &leader{name: b.leaseName("send")}
	defer b.release(l)
	timer := time.NewTimer(0)
	defer timer.Stop()

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wakeOutbox:
		case <-lanes.Done():
		case <-timer.C:
		}
		wait := b.cfg.PollInterval
		ok, err := b.hold(ctx, l)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("outbox", "err", err)
		}
		free := b.cfg.Senders - lanes.InFlight()
		// Claim in batches: a claim costs the store a few round trips.
		if ok && free > 0 && (free >= b.cfg.Senders/4 || free == b.cfg.Senders) {
			now := b.now()
			msgs, err := b.store.Claim(ctx, Channel, b.cfg.Owner, free, claimLease, now)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("reading the outbox", "err", err)
			}
			mctx := context.WithoutCancel(ctx)
			for _, m := range msgs {
				chat, err := destination(m)
				if err != nil {
					b.mark(mctx, "a failure", m.ID, b.store.Failed(mctx, m.ID, err.Error(), now))
					continue
				}
				// A chat takes a message per interval: more queued here than
				// half a claim lease can send go back until their turn.
				if backlog := time.Duration(lanes.Queued(chat)) * b.pace.interval(chat); backlog > claimLease/2 {
					b.mark(mctx, "a retry", m.ID, b.store.Retry(mctx, m.ID, now.Add(backlog)))
					continue
				}
				lanes.Add(chat, m)
			}
			if len(msgs) == free {
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

// destination is the chat a message goes to: that of the message it edits,
// else its address, else the private chat of the person it is for.
func destination(m flows.Outgoing) (int64, error) {
	if m.EditRef != "" {
		chat, _, err := splitRef(m.EditRef)
		return chat, err
	}
	to := strings.TrimPrefix(m.To, "tg:")
	if to == "" {
		to = strings.TrimPrefix(m.Participant, "tg:")
		if to == m.Participant {
			to = ""
		}
	}
	chat, err := strconv.ParseInt(to, 10, 64)
	if err != nil || chat == 0 {
		return 0, fmt.Errorf("no Telegram chat to send to (to %q, participant %q)", m.To, m.Participant)
	}
	return chat, nil
}

// splitRef reads a message reference "<chat id>:<message id>".
func splitRef(ref string) (int64, int, error) {
	c, msg, ok := strings.Cut(ref, ":")
	chat, err1 := strconv.ParseInt(c, 10, 64)
	id, err2 := strconv.Atoi(msg)
	if !ok || err1 != nil || err2 != nil || chat == 0 || id <= 0 {
		return 0, 0, fmt.Errorf("bad message reference %q", ref)
	}
	return chat, id, nil
}

// mark logs a store write about a message that did not go through.
func (b *Bot) mark(ctx context.Context, what, id string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Warn("outbox: could not record "+what, "id", id, "err", err)
	}
}

// deliver sends one claimed message and records what came of it. It
// reports whether the person turned out to be unreachable.
func (b *Bot) deliver(ctx context.Context, chat int64, m flows.Outgoing, slots chan struct{}) bool {
	// Marks are written even when ctx ends meanwhile: a request that left
	// must be recorded, and one that did not goes back for the next sender.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	retry := func(after time.Duration) {
		b.mark(mctx, "a retry", m.ID, b.store.Retry(mctx, m.ID, b.now().Add(after)))
	}
	if ctx.Err() != nil {
		retry(0)
		return false
	}
	edit := m.EditRef != ""
	msgID := 0
	if edit {
		var err error
		if _, msgID, err = splitRef(m.EditRef); err != nil {
			b.mark(mctx, "a failure", m.ID, b.store.Failed(mctx, m.ID, err.Error(), b.now()))
			return false
		}
	}
	rd, err := render(b.sig, chat, m.Reply, edit)
	if err != nil {
		b.log.Error("outbox: a reply cannot be shown on Telegram", "id", m.ID, "err", err)
		b.mark(mctx, "a failure", m.ID, b.store.Failed(mctx, m.ID, err.Error(), b.now()))
		return false
	}

	now := time.Now()
	if until := b.pace.pausedUntil(chat, now); !until.IsZero() {
		retry(until.Sub(now))
		return false
	}
	if !sleep(ctx, b.pace.readyIn(chat, now)) {
		retry(0)
		return false
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		retry(0)
		return false
	}
	released := false
	release := func() {
		if !released {
			released = true
			<-slots
		}
	}
	defer release()
	if err := b.store.Sending(ctx, m.ID, b.cfg.Owner, b.now()); err != nil {
		// Lost the claim (or the store is gone): whoever holds it now sends.
		b.log.Warn("outbox: not sending", "id", m.ID, "err", err)
		return false
	}
	answered, err := b.pace.depart(ctx, chat)
	if err != nil {
		retry(0) // the request never left
		return false
	}
	release()
	if until := b.pace.pausedUntil(chat, time.Now()); !until.IsZero() {
		answered()
		retry(time.Until(until))
		return false
	}
	ref, sent, left, err := b.post(ctx, chat, msgID, rd, edit, answered)
	return b.outcome(mctx, m, chat, ref, len(rd.parts), sent, left, err)
}

// call makes one API request and reports whether it left: written whole to
// the connection. After that a failure may still have been delivered.
func call[T any](ctx context.Context, do func(context.Context) (T, error)) (T, bool, error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	v, err := do(ctx)
	return v, wrote.Load(), err
}

// notModified reports an edit that changed nothing: the message already
// shows what was asked.
func notModified(err error) bool {
	return errors.Is(err, bot.ErrorBadRequest) && strings.Contains(err.Error(), "message is not modified")
}

// post sends a rendered reply: an edit of message msgID when edit, else one
// message per part (the keyboard on the last). The first request has left
// the pacer already (answered tells it the answer came); later parts go
// through it. It returns the reference of the message that carries the
// keyboard, how many parts went, and whether the failing request, if any,
// left.
func (b *Bot) post(ctx context.Context, chat int64, msgID int, rd rendered, edit bool, answered func()) (ref string, sent int, left bool, err error) {
	if edit {
		defer answered()
		if len(rd.parts) == 0 {
			_, left, err = call(ctx, func(ctx context.Context) (*models.Message, error) {
				return b.api.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: chat, MessageID: msgID, ReplyMarkup: rd.markup})
			})
		} else {
			p := &bot.EditMessageTextParams{ChatID: chat, MessageID: msgID, Text: rd.parts[0]}
			if rd.markup != nil {
				p.ReplyMarkup = rd.markup
			}
			_, left, err = call(ctx, func(ctx context.Context) (*models.Message, error) { return b.api.EditMessageText(ctx, p) })
		}
		if notModified(err) {
			err = nil
		}
		if err != nil {
			return "", 0, left, err
		}
		return chatRef(chat, msgID), 1, true, nil
	}
	if len(rd.parts) == 0 {
		answered()
		return "", 0, false, fmt.Errorf("%w: nothing to send", errRender)
	}
	tries := 0
	for i := 0; i < len(rd.parts); {
		if answered == nil {
			// Later parts are messages too: they wait their turn.
			if !sleep(ctx, b.pace.readyIn(chat, time.Now())) {
				return ref, sent, false, ctx.Err()
			}
			if answered, err = b.pace.depart(ctx, chat); err != nil {
				return ref, sent, false, err
			}
		}
		p := &bot.SendMessageParams{ChatID: chat, Text: rd.parts[i]}
		if i == len(rd.parts)-1 && rd.markup != nil {
			p.ReplyMarkup = rd.markup
		}
		msg, l, err := call(ctx, func(ctx context.Context) (*models.Message, error) { return b.api.SendMessage(ctx, p) })
		answered()
		answered = nil
		var tooMany *bot.TooManyRequestsError
		if i > 0 && errors.As(err, &tooMany) && tries < partTries {
			// The first parts are out: wait here rather than send them again.
			tries++
			wait := retryAfter(tooMany)
			b.pace.pause(chat, time.Now().Add(wait))
			if !sleep(ctx, wait) {
				return ref, sent, false, ctx.Err()
			}
			continue
		}
		if err != nil {
			return ref, sent, l, err
		}
		if msg != nil {
			ref = chatRef(chat, msg.ID)
		}
		sent++
		i++
	}
	return ref, sent, true, nil
}

func retryAfter(e *bot.TooManyRequestsError) time.Duration {
	if e.RetryAfter <= 0 {
		return rateRetry
	}
	return time.Duration(e.RetryAfter) * time.Second
}

// blocked reports a refusal that means the person cannot be messaged: they
// blocked the bot, deleted their account, or never started it.
func blocked(err error) bool {
	return errors.Is(err, bot.ErrorForbidden)
}

// outcome records what came of a message: sent; to retry (a 429, or a
// failure before the request left); unknown (the request left and no answer
// came: never resent); failed; or the person unreachable, which it reports.
func (b *Bot) outcome(ctx context.Context, m flows.Outgoing, chat int64, ref string, parts, sent int, left bool, err error) (unreachable bool) {
	now := b.now()
	var (
		tooMany *bot.TooManyRequestsError
		migrate *bot.MigrateError
		what    string
		merr    error
	)
	switch {
	case err == nil:
		what, merr = "sent", b.store.Sent(ctx, m.ID, ref, now)
	case errors.Is(err, errRender):
		what, merr = "a failure", b.store.Failed(ctx, m.ID, err.Error(), now)
	case sent > 0:
		// Part of a long message is out and the rest is not: sending it
		// again would repeat the first parts. Unknown makes the question be
		// asked again on the person's next message.
		b.log.Warn("outbox: a long message was cut off", "id", m.ID, "parts", parts, "sent", sent, "err", err)
		what, merr = "an unknown outcome", b.store.Unknown(ctx, m.ID, fmt.Sprintf("sent %d of %d parts, then: %v", sent, parts, err), now)
	case errors.As(err, &tooMany):
		wait := retryAfter(tooMany)
		whole := b.pace.pause(chat, time.Now().Add(wait))
		b.log.Warn("rate limited by Telegram", "chat", chat, "retry_after", wait, "bot_paused", whole)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, now.Add(wait))
	case blocked(err) && m.Participant != "" && !isGroup(chat):
		b.log.Info("participant unreachable", "participant", m.Participant, "err", err)
		unreachable = true
		if merr = b.store.Unreachable(ctx, m.Participant, now); merr == nil {
			what, merr = "a failure", b.store.Failed(ctx, m.ID, "unreachable: "+err.Error(), now)
		} else {
			what = "an unreachable participant"
		}
	case fatal(err):
		b.log.Error("Telegram refused the bot token; check TELEGRAM_BOT_TOKEN", "err", err)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, now.Add(authRetry))
	case errors.As(err, &migrate):
		b.log.Warn("the group became a supergroup: update its address", "chat", chat, "new_chat", migrate.MigrateToChatID)
		what, merr = "a failure", b.store.Failed(ctx, m.ID, err.Error(), now)
	case errors.Is(err, bot.ErrorBadRequest), errors.Is(err, bot.ErrorForbidden), errors.Is(err, bot.ErrorConflict):
		b.log.Warn("Telegram refused a message", "id", m.ID, "err", err)
		what, merr = "a failure", b.store.Failed(ctx, m.ID, err.Error(), now)
	case !left:
		// Nothing reached Telegram: safe to send again.
		wait := min(retryBackoff<<min(m.Attempts, 8), maxBackoff)
		b.log.Warn("outbox: request did not leave; will retry", "id", m.ID, "err", err, "in", wait)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, now.Add(wait))
	default:
		// A timeout, a cut connection or a server error after the request
		// left: Telegram may have delivered it. Sending again could
		// deliver it twice.
		b.log.Warn("outbox: no answer from Telegram; not resending", "id", m.ID, "err", err)
		what, merr = "an unknown outcome", b.store.Unknown(ctx, m.ID, err.Error(), now)
	}
	b.mark(ctx, what, m.ID, merr)
	return unreachable
}
