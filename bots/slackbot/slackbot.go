// Package slackbot is the Slack channel: participants take part in direct
// messages with the bot, join with the /consult slash command, answer with
// Block Kit buttons and checkboxes or by typing, and give commands as words
// after /consult.
//
// Updates arrive over Socket Mode (when an app-level token is set) or over
// HTTP (signed requests to /slack/events, /slack/interactions and
// /slack/commands). Either way each update is written to the inbox before
// Slack is acknowledged, processed from the inbox in order per participant,
// and the replies the conversation queues in the outbox are delivered within
// Slack's rate limits.
package slackbot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/consultbot/consultbot/bots/relay"
	"github.com/consultbot/consultbot/flows"
)

// Channel is the channel name in inputs, inbox and outbox.
const Channel = "slack"

// Conversation hands an input over; answers are stored and replies queued in
// the outbox (never returned).
type Conversation interface {
	Handle(ctx context.Context, in flows.Input) error
}

// Store is the part of the store the Slack channel uses: the inbox, the
// outbox, participants who cannot be reached, and leases.
type Store interface {
	InboxPut(ctx context.Context, r flows.Received) (dup bool, err error)
	InboxPending(ctx context.Context, channel string, limit int) ([]flows.Received, error)
	InboxDone(ctx context.Context, id string) error
	Claim(ctx context.Context, channel, owner string, max int, lease time.Duration, now time.Time) ([]flows.Outgoing, error)
	Sending(ctx context.Context, id, owner string, now time.Time) error
	Sent(ctx context.Context, id, ref string, now time.Time) error
	Unknown(ctx context.Context, id, reason string, now time.Time) error
	Retry(ctx context.Context, id string, notBefore time.Time) error
	Failed(ctx context.Context, id, reason string, now time.Time) error
	Unreachable(ctx context.Context, identity string, now time.Time) error
	Lease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
}

// Config is what the Slack channel needs. Zero values take the defaults
// noted beside each field.
type Config struct {
	BotToken      string // xoxb-...; required
	AppToken      string // xapp-...: Socket Mode runs when set
	SigningSecret string // HTTP mode: requests to EventsHandler are verified with it
	APIURL        string // Web API base URL including its path; default https://slack.com/api/

	ChannelRate    float64 // messages per second to one channel; default 1
	ChannelBurst   int     // default 3
	WorkspaceRate  float64 // messages per second to the whole workspace; default 5
	WorkspaceBurst int     // default 10

	Owner        string        // this instance's name in leases and claims; default host name plus a random suffix
	Shards       int           // inbox processors, each owning a share of the participants; default 4
	Senders      int           // most messages in flight at once; default 50
	PollInterval time.Duration // how often the inbox and outbox are read when nothing woke them; default 500ms
	PingInterval time.Duration // Socket Mode: reconnect when Slack sent no ping for this long; default 30s
	HTTPTimeout  time.Duration // one Web API call; default 30s

	HTTPClient *http.Client     // default: a client with HTTPTimeout
	Logger     *slog.Logger     // default: discard
	Now        func() time.Time // default time.Now
}

// Bot is the Slack channel.
type Bot struct {
	cfg   Config
	conv  Conversation
	store Store
	api   *slack.Client
	log   *slog.Logger
	now   func() time.Time

	channelLimit struct {
		sync.Mutex
		m map[string]*rate.Limiter
	}
	workspace *rate.Limiter

	dms struct {
		sync.Mutex
		m map[string]string // user id -> DM channel id
	}
	team struct {
		sync.Mutex
		id string
	}

	pause struct {
		sync.Mutex
		until time.Time // no request is sent before this (a 429's Retry-After)
	}

	wakeInbox  chan struct{}
	wakeOutbox chan struct{}
	receiving  atomic.Int64     // updates being stored now: processing and sending give way
	updates    *relay.Processor // hands stored updates to the conversation
}

// New returns a Slack channel. It makes no network call: Run connects.
func New(cfg Config, conv Conversation, store Store) (*Bot, error) {
	if cfg.BotToken == "" {
		return nil, errors.New("slackbot: a bot token (SLACK_BOT_TOKEN) is required")
	}
	if conv == nil || store == nil {
		return nil, errors.New("slackbot: a conversation and a store are required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.ChannelRate <= 0 {
		cfg.ChannelRate = 1
	}
	if cfg.ChannelBurst <= 0 {
		cfg.ChannelBurst = 3
	}
	if cfg.WorkspaceRate <= 0 {
		cfg.WorkspaceRate = 5
	}
	if cfg.WorkspaceBurst <= 0 {
		cfg.WorkspaceBurst = 10
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = "slack-" + host + "-" + randomID()
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 4
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 50
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.HTTPTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []slack.Option{
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(cfg.HTTPClient),
		// No slack.OptionRetry: retrying a post after a 5xx or a timeout can
		// post twice. The sender decides, message by message.
	}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	b := &Bot{
		cfg:        cfg,
		conv:       conv,
		store:      store,
		api:        slack.New(cfg.BotToken, opts...),
		log:        cfg.Logger.With("channel", Channel),
		now:        cfg.Now,
		workspace:  rate.NewLimiter(rate.Limit(cfg.WorkspaceRate), cfg.WorkspaceBurst),
		wakeInbox:  make(chan struct{}, 1),
		wakeOutbox: make(chan struct{}, 1),
	}
	b.channelLimit.m = make(map[string]*rate.Limiter)
	b.dms.m = make(map[string]string)
	b.updates = relay.NewProcessor(cfg.Shards, maxAttempts, b.log)
	return b, nil
}

func randomID() string {
	p := make([]byte, 6)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// Run receives over Socket Mode (when an app token is set), processes the
// inbox and delivers the outbox until ctx ends; it returns nil then. HTTP
// mode needs Run too, for processing and delivery: mount EventsHandler on
// the HTTP server.
func (b *Bot) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("slackbot: %s: %w", name, err)
				cancel()
			}
		})
	}
	start("inbox", b.processLoop)
	start("outbox", b.sendLoop)
	if b.cfg.AppToken != "" {
		start("socket mode", b.runSocketMode)
	}
	wg.Wait()
	b.releaseLeases(context.WithoutCancel(ctx))
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// releaser is a store that can give a lease up before it lapses.
type releaser interface {
	ReleaseLease(ctx context.Context, name, owner string) error
}

// releaseLeases lets another instance take over at once when this one stops.
func (b *Bot) releaseLeases(ctx context.Context) {
	r, ok := b.store.(releaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, name := range []string{inboxLease, outboxLease} {
		if err := r.ReleaseLease(ctx, name, b.cfg.Owner); err != nil {
			b.log.Warn("releasing a lease", "lease", name, "err", err)
		}
	}
}

// wake nudges a loop without blocking.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Team returns the id of the workspace the bot token belongs to (auth.test,
// asked once).
func (b *Bot) Team(ctx context.Context) (string, error) {
	b.team.Lock()
	defer b.team.Unlock()
	if b.team.id != "" {
		return b.team.id, nil
	}
	res, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return "", fmt.Errorf("slackbot: auth.test: %w", err)
	}
	b.team.id = res.TeamID
	return b.team.id, nil
}

// Identity returns the channel identity of a Slack user of the bot's
// workspace: "slack:<team>:<user>".
func (b *Bot) Identity(ctx context.Context, user string) (string, error) {
	team, err := b.Team(ctx)
	if err != nil {
		return "", err
	}
	return identity(team, user), nil
}

func identity(team, user string) string { return "slack:" + team + ":" + user }

// OpenDM returns the id of the direct-message channel between the bot and
// user, opening it (conversations.open) the first time.
func (b *Bot) OpenDM(ctx context.Context, user string) (string, error) {
	b.dms.Lock()
	ch, ok := b.dms.m[user]
	b.dms.Unlock()
	if ok {
		return ch, nil
	}
	c, _, _, err := b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
	if err != nil {
		return "", fmt.Errorf("slackbot: opening a direct message with %s: %w", user, err)
	}
	b.dms.Lock()
	b.dms.m[user] = c.ID
	b.dms.Unlock()
	return c.ID, nil
}

// StartInput opens a direct message with user and returns the input that
// starts a consultation there, as `/consult <arg>` would: the invite command
// hands it to the conversation. arg is an invite code, or "" for the only
// open consultation. The input's ID is unique per call.
func (b *Bot) StartInput(ctx context.Context, user, arg string) (flows.Input, error) {
	who, err := b.Identity(ctx, user)
	if err != nil {
		return flows.Input{}, err
	}
	dm, err := b.OpenDM(ctx, user)
	if err != nil {
		return flows.Input{}, err
	}
	return flows.Input{
		ID:          "slack:invite:" + strings.TrimPrefix(who, "slack:") + ":" + randomID(),
		Participant: who,
		Channel:     Channel,
		Command:     flows.CmdStart,
		Arg:         arg,
		ReplyTo:     dm,
	}, nil
}
