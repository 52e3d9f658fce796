package slackbot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

const (
	claimLease      = 2 * time.Minute
	defaultRetryFor = 30 * time.Second // a 429 without Retry-After
	authRetry       = time.Minute      // the token was refused: try again later, loudly
	markTimeout     = 10 * time.Second
)

// sendLoop delivers the outbox: it claims messages, queues them by
// destination (one Slack channel's messages go out in order, one at a time)
// and sends each within the per-channel and workspace budgets.
func (b *Bot) sendLoop(ctx context.Context) error {
	lanes := relay.NewLanes(func(_ string, m flows.Outgoing) bool {
		b.deliver(ctx, m)
		return false
	}, nil)
	defer lanes.Wait()
	l := &leader{name: outboxLease}
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
		now := b.now()
		if until := b.pausedUntil(); now.Before(until) {
			timer.Reset(min(wait, until.Sub(now)))
			continue
		}
		ok, err := b.lead(ctx, l)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("outbox", "err", err)
		}
		free := b.cfg.Senders - lanes.InFlight()
		if ok && free > 0 {
			msgs, err := b.store.Claim(ctx, Channel, b.cfg.Owner, free, claimLease, now)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("reading the outbox", "err", err)
			}
			for _, m := range msgs {
				lanes.Add(queueKey(m), m)
			}
			if len(msgs) == free {
				wait = 0 // there may be more
			}
		}
		timer.Reset(wait)
	}
}

// queueKey is the conversation a message goes to: messages with one key are
// sent in the order they were queued.
func queueKey(m flows.Outgoing) string {
	if m.EditRef != "" {
		if ch, _, ok := splitRef(m.EditRef); ok {
			return ch
		}
	}
	if to := strings.TrimPrefix(m.To, "slack:"); to != "" {
		return to
	}
	return "p:" + m.Participant
}

func splitRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	return channel, ts, ok && channel != "" && ts != ""
}

func (b *Bot) pausedUntil() time.Time {
	b.pause.Lock()
	defer b.pause.Unlock()
	return b.pause.until
}

func (b *Bot) pauseUntil(t time.Time) {
	b.pause.Lock()
	defer b.pause.Unlock()
	if t.After(b.pause.until) {
		b.pause.until = t
	}
}

func (b *Bot) channelLimiter(channel string) *rate.Limiter {
	b.channelLimit.Lock()
	defer b.channelLimit.Unlock()
	l, ok := b.channelLimit.m[channel]
	if !ok {
		l = rate.NewLimiter(rate.Limit(b.cfg.ChannelRate), b.cfg.ChannelBurst)
		b.channelLimit.m[channel] = l
	}
	return l
}

// deliver sends one claimed message and records what came of it.
func (b *Bot) deliver(ctx context.Context, m flows.Outgoing) {
	// Marks are written even when ctx ends meanwhile: a request that left
	// must be recorded.
	mctx := context.WithoutCancel(ctx)
	mark := func(what string, err error) {
		if err != nil {
			b.log.Warn("outbox: could not record "+what, "id", m.ID, "err", err)
		}
	}
	if until := b.pausedUntil(); b.now().Before(until) {
		mark("a retry", b.retry(mctx, m.ID, until))
		return
	}

	channel, ts := "", ""
	if m.EditRef != "" {
		var ok bool
		if channel, ts, ok = splitRef(m.EditRef); !ok {
			mark("a failure", b.fail(mctx, m.ID, "bad edit reference "+m.EditRef))
			return
		}
	} else {
		var err error
		if channel, err = b.destination(ctx, m); err != nil {
			b.outcome(mctx, m, "", false, err)
			return
		}
	}

	if err := b.channelLimiter(channel).Wait(ctx); err != nil {
		mark("a retry", b.retry(mctx, m.ID, b.now()))
		return
	}
	if err := b.workspace.Wait(ctx); err != nil {
		mark("a retry", b.retry(mctx, m.ID, b.now()))
		return
	}
	if until := b.pausedUntil(); b.now().Before(until) {
		mark("a retry", b.retry(mctx, m.ID, until))
		return
	}

	b.giveWay(ctx)
	if err := b.store.Sending(ctx, m.ID, b.cfg.Owner, b.now()); err != nil {
		// Lost the claim (or the store is gone): whoever holds it now sends.
		b.log.Warn("outbox: not sending", "id", m.ID, "err", err)
		return
	}
	// Once marked sending, the request runs to its end (HTTPTimeout) even
	// if ctx ends: cut short, a post that went through would be unknown.
	ref, left, err := b.post(mctx, channel, ts, m.Reply)
	b.outcome(mctx, m, ref, left, err)
}

func (b *Bot) retry(ctx context.Context, id string, notBefore time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	return b.store.Retry(ctx, id, notBefore)
}

func (b *Bot) fail(ctx context.Context, id, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	return b.store.Failed(ctx, id, reason, b.now())
}

// destination is the Slack channel a new message goes to: To, or the direct
// message with the user To or the participant names.
func (b *Bot) destination(ctx context.Context, m flows.Outgoing) (string, error) {
	to := strings.TrimPrefix(m.To, "slack:")
	if to == "" {
		parts := strings.Split(m.Participant, ":")
		if len(parts) != 3 || parts[0] != "slack" || parts[2] == "" {
			return "", fmt.Errorf("%w: no address and no Slack participant", errNoAddress)
		}
		to = parts[2]
	}
	if to[0] == 'U' || to[0] == 'W' {
		return b.OpenDM(ctx, to)
	}
	return to, nil
}

var errNoAddress = errors.New("nowhere to send")

// post sends a reply: chat.update when ts names the message to replace,
// chat.postMessage otherwise. It returns the message's reference
// ("<channel>:<ts>") and whether the request left (was written whole to the
// connection): after that a failure may still have posted.
func (b *Bot) post(ctx context.Context, channel, ts string, r flows.Reply) (ref string, left bool, err error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	text, blocks := render(r)
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if ts != "" {
		_, _, _, err = b.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return channel + ":" + ts, wrote.Load(), err
	}
	ch, newTS, err := b.api.PostMessageContext(ctx, channel, opts...)
	if ch == "" {
		ch = channel
	}
	return ch + ":" + newTS, wrote.Load(), err
}

// What an ok:false answer's error code means for a message.
type codeClass int

const (
	codeFailed      codeClass = iota // something is wrong with this message: give up on it
	codeUnreachable                  // the person is deactivated, gone, or may not be messaged
	codeAuth                         // the token or the installation is the problem: the message waits
	codeServer                       // Slack failed while handling the request: it may have posted
	codeRateLimited                  // too many requests
)

func classify(code string) codeClass {
	switch code {
	case "cannot_dm_bot", "user_not_found", "user_disabled", "user_not_visible",
		"is_archived", "messages_tab_disabled", "channel_not_found":
		return codeUnreachable
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
		"missing_scope", "no_permission", "team_access_not_granted", "org_login_required", "ekm_access_denied":
		return codeAuth
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		return codeServer
	case "ratelimited", "rate_limited":
		return codeRateLimited
	}
	return codeFailed
}

// outcome records what came of a request: sent, to retry (a 429, or a
// failure before the request left), unknown (the request left and no answer
// came: never resent), failed, or the person unreachable.
func (b *Bot) outcome(ctx context.Context, m flows.Outgoing, ref string, left bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	now := b.now()
	var (
		rl   *slack.RateLimitedError
		sc   slack.StatusCodeError
		se   slack.SlackErrorResponse
		what string
		merr error
	)
	switch {
	case err == nil:
		what, merr = "sent", b.store.Sent(ctx, m.ID, ref, now)
	case errors.As(err, &rl):
		until := now.Add(max(rl.RetryAfter, time.Second))
		b.pauseUntil(until)
		b.log.Warn("rate limited by Slack", "retry_after", rl.RetryAfter)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, until)
	case errors.As(err, &sc) && sc.Code == http.StatusTooManyRequests:
		until := now.Add(defaultRetryFor)
		b.pauseUntil(until)
		b.log.Warn("rate limited by Slack without Retry-After", "pause", defaultRetryFor)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, until)
	case errors.As(err, &se):
		switch code := se.Err; {
		case classify(code) == codeRateLimited:
			until := now.Add(defaultRetryFor)
			b.pauseUntil(until)
			what, merr = "a retry", b.store.Retry(ctx, m.ID, until)
		case classify(code) == codeUnreachable && m.Participant != "":
			b.log.Info("participant unreachable", "participant", m.Participant, "error", code)
			if merr = b.store.Unreachable(ctx, m.Participant, now); merr == nil {
				what, merr = "a failure", b.store.Failed(ctx, m.ID, "unreachable: "+code, now)
			} else {
				what = "an unreachable participant"
			}
		case classify(code) == codeAuth:
			b.log.Error("Slack refused the bot token; check SLACK_BOT_TOKEN and the app's scopes", "error", code)
			what, merr = "a retry", b.store.Retry(ctx, m.ID, now.Add(authRetry))
		case classify(code) == codeServer:
			what, merr = "an unknown outcome", b.store.Unknown(ctx, m.ID, "slack: "+code, now)
		default:
			b.log.Warn("Slack refused a message", "id", m.ID, "error", code)
			what, merr = "a failure", b.store.Failed(ctx, m.ID, "slack: "+code, now)
		}
	case errors.Is(err, errNoAddress):
		what, merr = "a failure", b.store.Failed(ctx, m.ID, err.Error(), now)
	case !left:
		// Nothing reached Slack: safe to send again.
		wait := min(retryBackoff<<min(m.Attempts, 8), 5*time.Minute)
		b.log.Warn("outbox: request did not leave; will retry", "id", m.ID, "err", err)
		what, merr = "a retry", b.store.Retry(ctx, m.ID, now.Add(wait))
	case errors.As(err, &sc) && sc.Code >= 400 && sc.Code < 500:
		what, merr = "a failure", b.store.Failed(ctx, m.ID, err.Error(), now)
	default:
		// A 5xx, a timeout, a connection cut after the request left: Slack
		// may have posted it. Sending again could post twice.
		b.log.Warn("outbox: no answer from Slack; not resending", "id", m.ID, "err", err)
		what, merr = "an unknown outcome", b.store.Unknown(ctx, m.ID, err.Error(), now)
	}
	if merr != nil {
		b.log.Warn("outbox: could not record "+what, "id", m.ID, "err", merr)
	}
}
