package tgbot

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer keeps the bot within Telegram's rate limits: a token bucket for the
// whole bot, one per chat (private chats and groups have their own rates),
// and pauses after a 429. A chat's bucket is spent at the moment a request
// leaves, so the spacing Telegram sees is the spacing the buckets allow.
// It uses the real clock: limits are about real time.
type pacer struct {
	bot       *rate.Limiter
	chatRate  rate.Limit
	chatBurst int
	groupRate rate.Limit

	mu        sync.Mutex
	chats     map[int64]*chatPace
	botPaused time.Time // no request at all before this
	lastPause struct {  // the last chat paused: a second chat paused meanwhile pauses the bot
		chat  int64
		until time.Time
	}
}

type chatPace struct {
	lim    *rate.Limiter
	paused time.Time // no request to the chat before this
}

// sweepAt is how many chats the pacer tracks before it forgets idle ones.
const sweepAt = 4096

func newPacer(cfg Config) *pacer {
	return &pacer{
		bot:       rate.NewLimiter(rate.Limit(cfg.BotRate*safety), cfg.BotBurst),
		chatRate:  rate.Limit(cfg.ChatRate * safety),
		chatBurst: 1,
		groupRate: rate.Limit(cfg.GroupRate * safety),
		chats:     make(map[int64]*chatPace),
	}
}

// isGroup reports whether a chat id is a group's, supergroup's or channel's
// (negative), rather than a person's.
func isGroup(chat int64) bool { return chat < 0 }

// chat returns the state of a chat; p.mu must be held.
func (p *pacer) chat(id int64, now time.Time) *chatPace {
	c, ok := p.chats[id]
	if ok {
		return c
	}
	if len(p.chats) >= sweepAt {
		for k, v := range p.chats {
			if v.paused.Before(now) && v.lim.TokensAt(now) >= float64(v.lim.Burst()) {
				delete(p.chats, k)
			}
		}
	}
	r := p.chatRate
	if isGroup(id) {
		r = p.groupRate
	}
	c = &chatPace{lim: rate.NewLimiter(r, p.chatBurst)}
	p.chats[id] = c
	return c
}

// interval is the least time between two messages to a chat.
func (p *pacer) interval(chat int64) time.Duration {
	r := p.chatRate
	if isGroup(chat) {
		r = p.groupRate
	}
	return time.Duration(float64(time.Second) / float64(r))
}

// pausedUntil returns when a 429 pause of the chat or the bot ends, or the
// zero time when neither is paused at now.
func (p *pacer) pausedUntil(chat int64, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := p.chat(chat, now).paused
	if p.botPaused.After(until) {
		until = p.botPaused
	}
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// readyIn returns how long until the chat's bucket allows a message.
func (p *pacer) readyIn(chat int64, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.chat(chat, now)
	tokens := c.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(c.lim.Limit()) * float64(time.Second))
}

// depart waits for the bot's bucket, then spends the chat's: the request
// leaves when it returns nil. Call it once readyIn says the chat is ready.
func (p *pacer) depart(ctx context.Context, chat int64) error {
	if err := p.bot.Wait(ctx); err != nil {
		return err
	}
	now := time.Now()
	p.mu.Lock()
	p.chat(chat, now).lim.ReserveN(now, 1)
	p.mu.Unlock()
	return nil
}

// pause holds the chat back until until, after a 429. A second chat paused
// while another's pause lasts means the bot as a whole is over its limit:
// the bot is paused too. It reports whether it paused the bot.
func (p *pacer) pause(chat int64, until time.Time) bool {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.chat(chat, now)
	if until.After(c.paused) {
		c.paused = until
	}
	whole := p.lastPause.chat != chat && p.lastPause.until.After(now)
	if whole && until.After(p.botPaused) {
		p.botPaused = until
	}
	p.lastPause.chat, p.lastPause.until = chat, until
	return whole
}
