package tgbot

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/consultbot/consultbot/flows"
)

// allowedUpdates are the update kinds the bot asks Telegram for.
func allowedUpdates() []string {
	return []string{models.AllowedUpdateMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember}
}

// commandList is what setMyCommands registers for private chats.
func commandList() []models.BotCommand {
	desc := map[flows.Command]string{
		flows.CmdStart:    "Start, or join a consultation with an invite code",
		flows.CmdHelp:     "What you can do",
		flows.CmdSkip:     "Skip this question, where that is allowed",
		flows.CmdBack:     "Go back to the previous question",
		flows.CmdPause:    "Pause; carry on later with /resume",
		flows.CmdResume:   "Carry on where you paused",
		flows.CmdStop:     "Stop taking part; your answers so far are kept",
		flows.CmdMyData:   "Get a copy of your answers",
		flows.CmdWithdraw: "Withdraw and delete your answers",
	}
	out := make([]models.BotCommand, 0, len(flows.Commands))
	for _, c := range flows.Commands {
		d := desc[c]
		if d == "" {
			d = string(c)
		}
		out = append(out, models.BotCommand{Command: string(c), Description: d})
	}
	return out
}

// errToken means Telegram refused the bot token: nothing works until the
// configuration is fixed.
var errToken = errors.New("telegram refused the bot token; check TELEGRAM_BOT_TOKEN")

// fatal reports whether err from the library means the token (or the API
// URL) is wrong.
func fatal(err error) bool {
	return errors.Is(err, bot.ErrorUnauthorized) || errors.Is(err, bot.ErrorNotFound)
}

// hello asks Telegram who the bot is, until it answers, and remembers the
// username for links.
func (b *Bot) hello(ctx context.Context) (*models.User, error) {
	wait := time.Second
	for {
		u, err := b.api.GetMe(ctx)
		if err == nil {
			b.me.Lock()
			b.me.username = u.Username
			b.me.Unlock()
			b.log.Info("connected to Telegram", "bot", "@"+u.Username, "mode", b.mode())
			return u, nil
		}
		if fatal(err) {
			return nil, fmt.Errorf("tgbot: getMe: %w: %w", errToken, err)
		}
		b.log.Warn("Telegram did not answer getMe; trying again", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
		wait = min(wait*2, 30*time.Second)
	}
}

func (b *Bot) mode() string {
	if b.cfg.WebhookURL != "" {
		return "webhook"
	}
	return "long polling"
}

// setCommands registers the participant commands for private chats. A
// failure is logged: the commands still work when typed.
func (b *Bot) setCommands(ctx context.Context) {
	_, err := b.api.SetMyCommands(ctx, &bot.SetMyCommandsParams{
		Commands: commandList(),
		Scope:    &models.BotCommandScopeAllPrivateChats{},
	})
	if err != nil && ctx.Err() == nil {
		b.log.Warn("could not register the commands (setMyCommands)", "err", err)
	}
}

// setWebhook points Telegram at WebhookURL, with the secret it must send
// back, until Telegram agrees. A URL Telegram refuses is an error.
func (b *Bot) setWebhook(ctx context.Context) error {
	wait := time.Second
	for {
		_, err := b.api.SetWebhook(ctx, &bot.SetWebhookParams{
			URL:            b.cfg.WebhookURL,
			SecretToken:    b.cfg.WebhookSecret,
			AllowedUpdates: allowedUpdates(),
		})
		switch {
		case err == nil:
			return nil
		case fatal(err):
			return fmt.Errorf("tgbot: setWebhook: %w: %w", errToken, err)
		case errors.Is(err, bot.ErrorBadRequest):
			return fmt.Errorf("tgbot: Telegram refused the webhook URL %s: %w", b.cfg.WebhookURL, err)
		}
		b.log.Warn("setWebhook failed; trying again", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// pollLoop receives updates by long polling while this instance holds the
// polling lease. Each update is stored before the next getUpdates call's
// offset confirms it to Telegram: a crash loses nothing, and an update
// delivered again is recognised in the inbox and dropped.
func (b *Bot) pollLoop(ctx context.Context) error {
	l := &leader{name: b.leaseName("poll")}
	defer b.release(l)
	var offset int64 // 0: from the oldest update Telegram has not had confirmed
	wait := time.Duration(0)
	for {
		if !sleep(ctx, wait) {
			return nil
		}
		wait = 0
		ok, err := b.hold(ctx, l)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b.log.Warn("polling lease", "err", err)
			wait = time.Second
			continue
		}
		if !ok {
			// Another instance polls; look again in a while.
			offset, wait = 0, b.cfg.LeaseTTL/4
			continue
		}
		raws, err := b.getUpdates(ctx, offset)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = b.pollFailed(ctx, err)
			continue
		}
		next, err := b.putBatch(ctx, raws)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// Not stored: not confirmed. Telegram sends it again.
			b.log.Warn("could not store an update; will ask again", "err", err)
			wait = time.Second
		}
		offset = max(offset, next)
	}
}

// putWorkers is how many updates of a batch are stored at once.
const putWorkers = 8

// putBatch stores a batch of updates and returns the offset that confirms
// what it stored: past the whole batch, or up to the first update it could
// not store. Different people's updates are stored side by side, one
// person's in order, so the inbox never holds a person's update without
// the ones before it.
func (b *Bot) putBatch(ctx context.Context, raws []json.RawMessage) (next int64, err error) {
	type item struct {
		id  int64
		raw json.RawMessage
		at  time.Time
	}
	var keys []string
	groups := map[string][]item{}
	for _, raw := range raws {
		id, err := updateID(raw)
		if err != nil {
			// Telegram sent something without an id: nothing can refer to
			// it, so confirm it and go on.
			b.log.Error("update without an id dropped", "err", err)
			continue
		}
		next = max(next, id+1)
		k := senderOf(raw)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], item{id, raw, b.receivedAt()})
	}
	var (
		mu     sync.Mutex
		failed = int64(-1)
		first  error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, putWorkers)
	)
	for _, k := range keys {
		wg.Go(func() {
			for _, it := range groups[k] {
				sem <- struct{}{}
				err := b.put(ctx, it.id, it.raw, it.at)
				<-sem
				if err != nil {
					mu.Lock()
					if failed < 0 || it.id < failed {
						failed, first = it.id, fmt.Errorf("update %d: %w", it.id, err)
					}
					mu.Unlock()
					return // the person's later updates wait for this one
				}
			}
		})
	}
	wg.Wait()
	if failed >= 0 {
		return failed, first
	}
	return next, nil
}

// senderOf names who sent a raw update, for keeping one person's updates
// in order; "" when it does not say.
func senderOf(raw []byte) string {
	var u struct {
		Message *struct {
			From *struct{ ID int64 } `json:"from"`
		} `json:"message"`
		CallbackQuery *struct {
			From struct{ ID int64 } `json:"from"`
		} `json:"callback_query"`
		MyChatMember *struct {
			From struct{ ID int64 } `json:"from"`
		} `json:"my_chat_member"`
	}
	if json.Unmarshal(raw, &u) != nil {
		return ""
	}
	switch {
	case u.Message != nil && u.Message.From != nil:
		return identity(u.Message.From.ID)
	case u.CallbackQuery != nil:
		return identity(u.CallbackQuery.From.ID)
	case u.MyChatMember != nil:
		return identity(u.MyChatMember.From.ID)
	}
	return ""
}

// pollFailed logs a failed getUpdates and returns how long to wait.
func (b *Bot) pollFailed(ctx context.Context, err error) time.Duration {
	var ae *apiError
	if !errors.As(err, &ae) {
		b.log.Warn("getUpdates failed", "err", err)
		return 2 * time.Second
	}
	switch ae.Code {
	case http.StatusTooManyRequests:
		return max(time.Duration(ae.RetryAfter)*time.Second, time.Second)
	case http.StatusConflict:
		if strings.Contains(strings.ToLower(ae.Description), "webhook") {
			b.log.Warn("a webhook is set, but no webhook URL is configured here: removing it to poll instead")
			if _, err := b.api.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
				b.log.Error("deleteWebhook failed", "err", err)
				return 10 * time.Second
			}
			return 0
		}
		b.log.Error("another process polls this bot token outside this store's lease; give each deployment its own bot", "err", err)
		return 10 * time.Second
	case http.StatusUnauthorized, http.StatusNotFound:
		b.log.Error("Telegram refused the bot token; check TELEGRAM_BOT_TOKEN", "err", err)
		return time.Minute
	}
	b.log.Warn("getUpdates failed", "err", err)
	return 2 * time.Second
}

// apiError is a Bot API answer with ok false.
type apiError struct {
	Method      string
	Code        int
	Description string
	RetryAfter  int
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %ds)", e.RetryAfter)
	}
	return s
}

// getUpdates makes one long-poll call. The library has no getUpdates of its
// own that leaves confirming to the caller, so this is a small JSON call.
func (b *Bot) getUpdates(ctx context.Context, offset int64) ([]json.RawMessage, error) {
	body, err := json.Marshal(struct {
		Offset         int64    `json:"offset,omitempty"`
		Limit          int      `json:"limit"`
		Timeout        int      `json:"timeout"`
		AllowedUpdates []string `json:"allowed_updates"`
	}{offset, 100, int(b.cfg.PollTimeout / time.Second), allowedUpdates()})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.APIURL+"/bot"+b.cfg.Token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("getUpdates: %w", b.redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.poll.Do(req)
	if err != nil {
		return nil, fmt.Errorf("getUpdates: %w", b.redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("getUpdates: %w", b.redact(err))
	}
	var r struct {
		OK          bool              `json:"ok"`
		Result      []json.RawMessage `json:"result"`
		ErrorCode   int               `json:"error_code"`
		Description string            `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("getUpdates: HTTP %d, unreadable answer: %w", resp.StatusCode, err)
	}
	if !r.OK {
		code := r.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		return nil, &apiError{Method: "getUpdates", Code: code, Description: r.Description, RetryAfter: r.Parameters.RetryAfter}
	}
	return r.Result, nil
}

// redact removes the token from an error that quotes the URL.
func (b *Bot) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = strings.ReplaceAll(ue.URL, b.cfg.Token, "<token>")
	}
	return err
}

// put stores an update in the inbox, stamped at (see receivedAt). An update
// stored before is not stored again (and is not an error).
func (b *Bot) put(ctx context.Context, id int64, raw []byte, at time.Time) error {
	dup, err := b.store.InboxPut(ctx, flows.Received{ID: inboxID(id), Channel: Channel, Payload: raw, At: at})
	if err != nil {
		return err
	}
	if dup {
		b.log.Debug("update received again; dropped", "update", id)
		return nil
	}
	wake(b.wakeInbox)
	return nil
}

// receivedAt stamps a received update. Stamps increase by at least a
// millisecond (the store's resolution), so the inbox keeps receipt order.
func (b *Bot) receivedAt() time.Time {
	b.stamp.Lock()
	defer b.stamp.Unlock()
	t := b.now().UTC().Truncate(time.Millisecond)
	if !t.After(b.stamp.last) {
		t = b.stamp.last.Add(time.Millisecond)
	}
	b.stamp.last = t
	return t
}

// WebhookPath is the path of the configured webhook URL ("/" when it has
// none): where to mount WebhookHandler.
func (b *Bot) WebhookPath() string {
	u, err := url.Parse(b.cfg.WebhookURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

// WebhookHandler receives updates Telegram posts to the webhook. It answers
// 401 unless the X-Telegram-Bot-Api-Secret-Token header holds the configured
// secret, 413 to a body over the size limit, and 200 only once the update is
// stored (or was stored before): any other answer makes Telegram send it
// again.
func (b *Bot) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		if b.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(b.cfg.WebhookSecret)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "could not read the body", http.StatusBadRequest)
			return
		}
		id, err := updateID(body)
		if err != nil {
			http.Error(w, "not an update", http.StatusBadRequest)
			return
		}
		if err := b.put(r.Context(), id, body, b.receivedAt()); err != nil {
			b.log.Warn("could not store a webhook update; Telegram will send it again", "update", id, "err", err)
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
