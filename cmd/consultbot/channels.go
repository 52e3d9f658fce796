package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/consultbot/consultbot/bots/slackbot"
	"github.com/consultbot/consultbot/bots/tgbot"
	"github.com/consultbot/consultbot/storage"
)

// channels are the chat platforms configured: what runs, what the HTTP
// listener serves, and what an invite does on each.
type channels struct {
	names  []string
	runs   []func(ctx context.Context) error
	mount  func(mux *http.ServeMux)
	slack  *slackbot.Bot
	runner *storage.Runner

	telegram struct{ token, apiURL string } // for invite links
}

// newChannels builds the channels the settings ask for. It makes no network
// call; each channel connects when it runs.
func newChannels(cfg config, runner *storage.Runner, st *storage.Store, logger *slog.Logger) (*channels, error) {
	ch := &channels{runner: runner}
	var mounts []func(*http.ServeMux)
	if cfg.TelegramToken != "" {
		b, err := tgbot.New(tgbot.Config{
			Token:         cfg.TelegramToken,
			APIURL:        cfg.TelegramAPIURL,
			WebhookURL:    cfg.TelegramWebhookURL,
			WebhookSecret: cfg.TelegramWebhookSecret,
			Logger:        logger,
		}, runner, st)
		if err != nil {
			return nil, err
		}
		ch.telegram.token, ch.telegram.apiURL = cfg.TelegramToken, cfg.TelegramAPIURL
		ch.names = append(ch.names, "telegram")
		ch.runs = append(ch.runs, b.Run)
		if cfg.TelegramWebhookURL != "" {
			path, h := b.WebhookPath(), b.WebhookHandler()
			mounts = append(mounts, func(mux *http.ServeMux) { mux.Handle("POST "+path, h) })
		}
	}
	if cfg.SlackBotToken != "" {
		b, err := slackbot.New(slackbot.Config{
			BotToken:      cfg.SlackBotToken,
			AppToken:      cfg.SlackAppToken,
			SigningSecret: cfg.SlackSigningSecret,
			APIURL:        cfg.SlackAPIURL,
			Logger:        logger,
		}, runner, st)
		if err != nil {
			return nil, err
		}
		ch.slack = b
		ch.names = append(ch.names, "slack")
		ch.runs = append(ch.runs, b.Run)
		if cfg.SlackSigningSecret != "" {
			h := b.EventsHandler()
			mounts = append(mounts, func(mux *http.ServeMux) { mux.Handle("/slack/", h) })
		}
	}
	ch.mount = func(mux *http.ServeMux) {
		for _, m := range mounts {
			m(mux)
		}
	}
	return ch, nil
}

// invite does what an invite does beyond making codes: Telegram links for
// each code, and the consultation started by direct message with the Slack
// users named.
func (ch *channels) invite(ctx context.Context, req inviteRequest, codes []string) (inviteResult, error) {
	res := inviteResult{Codes: codes}
	if ch.telegram.token != "" {
		name, err := tgbot.Username(ctx, ch.telegram.token, ch.telegram.apiURL)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no Telegram links: %v", err))
		} else {
			for _, c := range codes {
				res.Links = append(res.Links, tgbot.InviteLink(name, c))
			}
		}
	}
	if len(req.Slack) > 0 {
		if ch.slack == nil {
			return res, fmt.Errorf("--slack needs SLACK_BOT_TOKEN")
		}
		for _, u := range req.Slack {
			in, err := ch.slack.StartInput(ctx, u, codes[0])
			if err == nil {
				err = ch.runner.Handle(ctx, in)
			}
			if err != nil {
				res.Warnings = append(res.Warnings, fmt.Sprintf("Slack user %s: %v", u, err))
				continue
			}
			res.Slack = append(res.Slack, u)
		}
	}
	return res, nil
}
