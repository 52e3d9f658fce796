package tgbot

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer keeps the bot within Telegram's rate limits, in two layers.
//
// Token buckets (golang.org/x/time/rate), one for the whole bot and one per
// chat, space the requests out evenly at 3% under the configured rates.
//
// Windows make the limits hold whatever the network and the scheduler do
// to that spacing: a request may leave only once the one `size` requests
// before it (for that chat, or for the bot) has been answered, and `span`
// has passed since. Telegram saw that earlier request before it answered
// it, so it sees at most size requests in any span, even when a stall
// delays one request and bunches it with the next.
//
// A 429 pauses the chat (and, when a second chat is paused meanwhile, the
// bot). The pacer uses the real clock: limits are about real time.
type pacer struct {
	bot       *rate.Limiter
	botWin    *window
	chatRate  float64 // as configured
	groupRate float64

	mu        sync.Mutex
	changed   chan struct{} // closed when a request is answered
	chats     map[int64]*chatPace
	botPaused time.Time // no request at all before this
	lastPause struct {  // the last chat paused: a second chat paused meanwhile pauses the bot
		chat  int64
		until time.Time
	}
}

type chatPace struct {
	lim    *rate.Limiter
	win    *window
	paused time.Time // no request to the chat before this
}

// window holds the last size requests in the order they left, each with
// the time it was answered (zero while it is in flight).
type window struct {
	size  int
	span  time.Duration
	slots []*slot
}

type slot struct{ end time.Time }

// windowFor is the window of a rate: r a second as r per second when r is
// at least one, else one per 1/r.
func windowFor(r float64, per time.Duration) *window {
	n := math.Floor(r * per.Seconds())
	if n >= 1 {
		return &window{size: int(n), span: per}
	}
	return &window{size: 1, span: time.Duration(float64(time.Second) / r)}
}

// ready returns how long until a request may leave at now; pending reports
// that it must first wait for an answer.
func (w *window) ready(now time.Time) (wait time.Duration, pending bool) {
	if len(w.slots) < w.size {
		return 0, false
	}
	oldest := w.slots[len(w.slots)-w.size]
	if oldest.end.IsZero() {
		return 0, true
	}
	return max(oldest.end.Add(w.span).Sub(now), 0), false
}

// leave records a request leaving; set its slot's end when it is answered.
func (w *window) leave() *slot {
	s := &slot{}
	w.slots = append(w.slots, s)
	if len(w.slots) > w.size {
		w.slots = append(w.slots[:0], w.slots[len(w.slots)-w.size:]...)
	}
	return s
}

// idle reports whether the window holds nothing that limits a request at now.
func (w *window) idle(now time.Time) bool {
	for _, s := range w.slots {
		if s.end.IsZero() || s.end.Add(w.span).After(now) {
			return false
		}
	}
	return true
}

// sweepAt is how many chats the pacer tracks before it forgets idle ones.
const sweepAt = 4096

func newPacer(cfg Config) *pacer {
	return &pacer{
		bot:       rate.NewLimiter(rate.Limit(cfg.BotRate*safety), cfg.BotBurst),
		botWin:    windowFor(cfg.BotRate, time.Second),
		chatRate:  cfg.ChatRate,
		groupRate: cfg.GroupRate,
		changed:   make(chan struct{}),
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
			if v.paused.Before(now) && v.lim.TokensAt(now) >= float64(v.lim.Burst()) && v.win.idle(now) {
				delete(p.chats, k)
			}
		}
	}
	r, win := p.chatRate, windowFor(p.chatRate, time.Second)
	if isGroup(id) {
		r, win = p.groupRate, windowFor(p.groupRate, time.Minute)
	}
	c = &chatPace{lim: rate.NewLimiter(rate.Limit(r*safety), 1), win: win}
	p.chats[id] = c
	return c
}

// interval is the least time between two messages to a chat.
func (p *pacer) interval(chat int64) time.Duration {
	r := p.chatRate
	if isGroup(chat) {
		r = p.groupRate
	}
	return time.Duration(float64(time.Second) / (r * safety))
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

// depart waits for the bot's bucket, then for the bot's and the chat's
// windows, and spends the chat's bucket: the request leaves when it
// returns. Call answered once Telegram answered (or the request failed).
func (p *pacer) depart(ctx context.Context, chat int64) (answered func(), err error) {
	if err := p.bot.Wait(ctx); err != nil {
		return nil, err
	}
	for {
		now := time.Now()
		p.mu.Lock()
		c := p.chat(chat, now)
		wb, pb := p.botWin.ready(now)
		wc, pc := c.win.ready(now)
		if wb == 0 && wc == 0 && !pb && !pc {
			sb, sc := p.botWin.leave(), c.win.leave()
			c.lim.ReserveN(now, 1)
			p.mu.Unlock()
			var once sync.Once
			return func() { once.Do(func() { p.answered(sb, sc) }) }, nil
		}
		changed := p.changed
		p.mu.Unlock()
		wait := max(wb, wc)
		if wait == 0 {
			wait = time.Second // an answer is awaited: changed wakes us first
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

func (p *pacer) answered(slots ...*slot) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range slots {
		s.end = now
	}
	close(p.changed)
	p.changed = make(chan struct{})
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
