// Package tgbot is the Telegram channel: participants take part in a private
// chat with the bot, join with /start (or a t.me deep link carrying an invite
// code), answer with inline keyboard buttons or by typing, and give the
// participant commands (/help, /skip, /back, /pause, /resume, /stop, /mydata,
// /withdraw).
//
// Updates arrive by long polling, with the bot's own getUpdates loop, or by
// webhook when a webhook URL is configured. Either way each update is written
// to the inbox before Telegram is told it arrived (the next getUpdates offset,
// or the webhook's 200), processed from the inbox in order per participant,
// and the replies the conversation queues in the outbox are delivered within
// Telegram's rate limits. Nothing a restart needs is kept in memory: the
// inbox, the outbox and the leases are in the store.
//
// go-telegram/bot provides the wire types and the sending calls; its own
// poller and webhook handler are not used, since they acknowledge updates
// before they are handled.
package tgbot

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

// Channel is the channel name in inputs, inbox and outbox.
const Channel = "telegram"

// DefaultAPIURL is the Bot API server used when Config.APIURL is empty.
const DefaultAPIURL = "https://api.telegram.org"

// Conversation hands an input over; answers are stored and replies queued in
// the outbox (never returned).
type Conversation interface {
	Handle(ctx context.Context, in flows.Input) error
}

// Store is the part of the store the Telegram channel uses: the inbox, the
// outbox, participants who blocked the bot, and leases.
type Store interface {
	InboxPut(ctx context.Context, r flows.Received) (dup bool, err error)
	InboxPending(ctx context.Context, channel string, limit int) ([]flows.Received, error)
	InboxDone(ctx context.Context, id string) error
	Enqueue(ctx context.Context, msgs ...flows.Outgoing) error
	Claim(ctx context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error)
	Sending(ctx context.Context, id, owner string, now time.Time) error
	Sent(ctx context.Context, id, ref string, now time.Time) error
	Unknown(ctx context.Context, id, reason string, now time.Time) error
	Retry(ctx context.Context, id string, notBefore time.Time) error
	Failed(ctx context.Context, id, reason string, now time.Time) error
	Unreachable(ctx context.Context, identity string, now time.Time) error
	Lease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
}

// leaseReleaser is a store that can give a lease up at once on shutdown, so
// another instance need not wait for it to lapse.
type leaseReleaser interface {
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Config is what the Telegram channel needs. Zero values take the defaults
// noted beside each field.
type Config struct {
	Token         string // from @BotFather; required
	APIURL        string // Bot API base URL without /bot<token>; default DefaultAPIURL
	WebhookURL    string // webhook mode when set (public HTTPS URL); long polling otherwise
	WebhookSecret string // webhook mode: the secret_token Telegram sends back; required with WebhookURL

	// Rate limits. The limiters run 3% under these, so that the jitter of
	// the network never pushes a burst over Telegram's window.
	BotRate   float64 // messages per second, whole bot; default 30
	BotBurst  int     // default 1
	ChatRate  float64 // messages per second to one private chat; default 1
	GroupRate float64 // messages per second to one group; default 20/60 (20 a minute)

	Owner        string        // this instance's name in leases and claims; default host name plus a random suffix
	PollTimeout  time.Duration // getUpdates long-poll timeout; default 25s
	LeaseTTL     time.Duration // polling, inbox and outbox leases; default 90s (at least 3 × PollTimeout)
	Shards       int           // inbox processors, each owning a share of the participants; default 4
	Senders      int           // most messages claimed and in flight at once; default 64
	PollInterval time.Duration // how often the inbox and outbox are read when nothing woke them; default 500ms
	HTTPTimeout  time.Duration // one sending call; default 30s
	MaxBody      int64         // largest webhook body accepted; default 1 MiB

	HTTPClient *http.Client     // for sends; default: a client with HTTPTimeout
	Logger     *slog.Logger     // default: discard
	Now        func() time.Time // clock for stored times; default time.Now
}

// safety is the share of each configured rate the limiters use.
const safety = 0.97

// Bot is the Telegram channel.
type Bot struct {
	cfg   Config
	conv  Conversation
	store Store
	api   *bot.Bot
	poll  *http.Client // getUpdates: its timeout outlasts the long poll
	log   *slog.Logger
	now   func() time.Time
	id    string // the bot's numeric id, from the token: names the leases
	sig   signer
	pace  *pacer

	me struct {
		sync.Mutex
		username string
	}
	stamp struct {
		sync.Mutex
		last time.Time // the At of the last update stored: inbox order is receipt order
	}
	updates *relay.Processor // hands stored updates to the conversation

	wakeInbox  chan struct{}
	wakeOutbox chan struct{}
}

// New returns a Telegram channel. It makes no network call: Run connects.
func New(cfg Config, conv Conversation, store Store) (*Bot, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("tgbot: a bot token (TELEGRAM_BOT_TOKEN) is required")
	}
	id, _, ok := strings.Cut(cfg.Token, ":")
	if !ok || id == "" || strings.Trim(id, "0123456789") != "" {
		return nil, errors.New("tgbot: the bot token does not look like one from @BotFather (<digits>:<secret>)")
	}
	if conv == nil || store == nil {
		return nil, errors.New("tgbot: a conversation and a store are required")
	}
	if cfg.WebhookURL != "" {
		u, err := url.Parse(cfg.WebhookURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("tgbot: webhook URL %q: want an absolute https URL", cfg.WebhookURL)
		}
		if err := checkSecret(cfg.WebhookSecret); err != nil {
			return nil, err
		}
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.BotRate <= 0 {
		cfg.BotRate = 30
	}
	if cfg.BotBurst <= 0 {
		cfg.BotBurst = 1
	}
	if cfg.ChatRate <= 0 {
		cfg.ChatRate = 1
	}
	if cfg.GroupRate <= 0 {
		cfg.GroupRate = 20.0 / 60
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = "telegram-" + host + "-" + randomID()
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 25 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 90 * time.Second
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL, 3*cfg.PollTimeout+5*time.Second)
	if cfg.Shards <= 0 {
		cfg.Shards = 4
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 64
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 30 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.HTTPClient == nil {
		// Every request goes to one host: keep a connection per sender, so
		// that no request waits on a fresh connection (which would also
		// bunch the requests after it).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Senders + 8
		cfg.HTTPClient = &http.Client{Timeout: cfg.HTTPTimeout, Transport: tr}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("channel", Channel)
	api, err := bot.New(cfg.Token,
		bot.WithServerURL(cfg.APIURL),
		bot.WithSkipGetMe(),
		bot.WithHTTPClient(cfg.HTTPTimeout, cfg.HTTPClient),
		bot.WithErrorsHandler(func(err error) { log.Debug("telegram client", "err", err) }),
	)
	if err != nil {
		return nil, fmt.Errorf("tgbot: %w", err)
	}
	pollClient := &http.Client{Timeout: cfg.PollTimeout + 15*time.Second}
	if cfg.HTTPClient.Transport != nil {
		pollClient.Transport = cfg.HTTPClient.Transport
	}
	b := &Bot{
		cfg:        cfg,
		conv:       conv,
		store:      store,
		api:        api,
		poll:       pollClient,
		log:        log,
		now:        cfg.Now,
		id:         id,
		sig:        newSigner(cfg.Token),
		pace:       newPacer(cfg),
		wakeInbox:  make(chan struct{}, 1),
		wakeOutbox: make(chan struct{}, 1),
	}
	b.updates = relay.NewProcessor(cfg.Shards, maxAttempts, log)
	return b, nil
}

// checkSecret checks a webhook secret_token: 1-256 characters A-Z, a-z, 0-9,
// _ and -.
func checkSecret(s string) error {
	if len(s) < 1 || len(s) > 256 {
		return errors.New("tgbot: the webhook secret (TELEGRAM_WEBHOOK_SECRET) must be 1-256 characters")
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return errors.New("tgbot: the webhook secret (TELEGRAM_WEBHOOK_SECRET) may hold only A-Z, a-z, 0-9, _ and -")
		}
	}
	return nil
}

func randomID() string {
	p := make([]byte, 6)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// Run receives updates (long polling, unless a webhook URL is set), processes
// the inbox and delivers the outbox until ctx ends; it returns nil then. It
// first asks Telegram who the bot is (getMe), registers the participant
// commands (setMyCommands) and, in webhook mode, sets the webhook; a token
// Telegram refuses is an error. In webhook mode mount WebhookHandler on the
// HTTP server.
func (b *Bot) Run(ctx context.Context) error {
	if _, err := b.hello(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	b.setCommands(ctx)
	if b.cfg.WebhookURL != "" {
		if err := b.setWebhook(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("tgbot: %s: %w", name, err)
				cancel()
			}
		})
	}
	start("inbox", b.processLoop)
	start("outbox", b.sendLoop)
	if b.cfg.WebhookURL == "" {
		start("polling", b.pollLoop)
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Username returns the bot's username (without @) as getMe tells it: the
// invite command builds https://t.me/<username>?start=<code> links with it.
// apiURL "" means DefaultAPIURL.
func Username(ctx context.Context, token, apiURL string) (string, error) {
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	api, err := bot.New(token, bot.WithServerURL(strings.TrimRight(apiURL, "/")), bot.WithSkipGetMe(),
		bot.WithErrorsHandler(func(error) {}))
	if err != nil {
		return "", fmt.Errorf("tgbot: %w", err)
	}
	u, err := api.GetMe(ctx)
	if err != nil {
		return "", fmt.Errorf("tgbot: getMe: %w", err)
	}
	if u.Username == "" {
		return "", errors.New("tgbot: getMe: the bot has no username")
	}
	return u.Username, nil
}

// InviteLink returns the deep link that opens a private chat with the bot
// and starts it with an invite code.
func InviteLink(username, code string) string {
	return "https://t.me/" + username + "?start=" + url.QueryEscape(code)
}

// username is the bot's username, once Run asked getMe.
func (b *Bot) username() string {
	b.me.Lock()
	defer b.me.Unlock()
	return b.me.username
}

// wake nudges a loop without blocking.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// leaseName names one of the bot's leases: one per bot token, not per
// process, so instances sharing a store take turns.
func (b *Bot) leaseName(what string) string { return "telegram:" + b.id + ":" + what }

// leader keeps a named lease: hold reports whether this instance holds it,
// renewing it when a third of its time has passed.
type leader struct {
	name    string
	renewed time.Time
	held    bool
}

func (b *Bot) hold(ctx context.Context, l *leader) (bool, error) {
	now := b.now()
	if l.held && now.Sub(l.renewed) < b.cfg.LeaseTTL/3 {
		return true, nil
	}
	ok, err := b.store.Lease(ctx, l.name, b.cfg.Owner, b.cfg.LeaseTTL, now)
	if err != nil {
		l.held = false
		return false, fmt.Errorf("lease %s: %w", l.name, err)
	}
	if ok != l.held {
		b.log.Debug("lease", "lease", l.name, "owner", b.cfg.Owner, "held", ok)
	}
	l.held, l.renewed = ok, now
	return ok, nil
}

// release gives up a lease this instance holds, when the store can.
func (b *Bot) release(l *leader) {
	if !l.held {
		return
	}
	l.held = false
	r, ok := b.store.(leaseReleaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ReleaseLease(ctx, l.name, b.cfg.Owner); err != nil {
		b.log.Debug("releasing a lease", "lease", l.name, "err", err)
	}
}

// signer signs and checks callback_data: a button's data is handed to the
// conversation only if this bot made it for this chat.
type signer struct{ key []byte }

func newSigner(token string) signer {
	m := hmac.New(sha256.New, []byte("consultbot tgbot callback_data"))
	m.Write([]byte(token))
	return signer{key: m.Sum(nil)}
}
