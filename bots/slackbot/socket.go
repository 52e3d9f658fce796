package slackbot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack/socketmode"

	"github.com/consultbot/consultbot/bots/relay"
)

// socketWorkers is how many envelopes are stored and acknowledged at once:
// a burst of presses from many people is acknowledged in the time of a few
// inbox writes, not of all of them in a row.
const socketWorkers = 64

// runSocketMode receives over Socket Mode until ctx ends. The client
// reconnects by itself when Slack sends a disconnect frame (a refresh, a
// warning), when the connection drops, and when Slack sent no ping for
// PingInterval (a dead connection). Each envelope is stored in the inbox,
// then acknowledged; one that could not be stored is not acknowledged, so
// Slack sends it again.
func (b *Bot) runSocketMode(ctx context.Context) error {
	sm := socketmode.New(b.api,
		socketmode.OptionPingInterval(b.cfg.PingInterval),
		socketmode.OptionLog(slogOutput{b.log}),
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- sm.RunContext(ctx) }()

	// Envelopes are stored by workers keyed by the person they come from:
	// one person's are stored in the order they came, different people's
	// side by side.
	workers := make([]chan socketmode.Request, socketWorkers)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = make(chan socketmode.Request, 16)
		wg.Go(func() {
			for req := range workers[i] {
				b.envelope(ctx, sm, req)
			}
		})
	}
	defer func() {
		for _, w := range workers {
			close(w)
		}
		wg.Wait()
	}()
	handle := func(req socketmode.Request) {
		select {
		case workers[relay.Shard(envelopeUser(req.Payload), len(workers))] <- req:
		case <-ctx.Done():
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-runErr:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			// The client retries everything but a refused token.
			return err
		case evt := <-sm.Events:
			switch evt.Type {
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand:
				if evt.Request != nil {
					handle(*evt.Request)
				}
			case socketmode.EventTypeErrorBadMessage:
				// The library could not parse the payload (an event type it
				// does not know, say): read the envelope ourselves, so that it
				// is acknowledged and not sent again and again.
				if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
					var req socketmode.Request
					if json.Unmarshal(bad.Message, &req) == nil && req.EnvelopeID != "" {
						handle(req)
					}
				}
			case socketmode.EventTypeConnecting:
				b.log.Debug("socket mode connecting")
			case socketmode.EventTypeConnected:
				b.log.Info("socket mode connected")
			case socketmode.EventTypeConnectionError:
				if e, ok := evt.Data.(interface{ Error() string }); ok {
					b.log.Warn("socket mode connection failed; retrying", "err", e.Error())
				} else {
					b.log.Warn("socket mode connection failed; retrying")
				}
			case socketmode.EventTypeInvalidAuth:
				b.log.Error("socket mode: Slack refused the app-level token (SLACK_APP_TOKEN)")
			case socketmode.EventTypeDisconnect:
				b.log.Debug("socket mode: Slack asked to reconnect")
			case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed:
				b.log.Debug("socket mode read or write failed", "type", string(evt.Type))
			}
		}
	}
}

// envelope stores one Socket Mode envelope, then acknowledges it.
func (b *Bot) envelope(ctx context.Context, sm *socketmode.Client, req socketmode.Request) {
	var kind string
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		kind = kindEvent
	case socketmode.RequestTypeInteractive:
		kind = kindInteraction
	case socketmode.RequestTypeSlashCommands:
		kind = kindCommand
	default:
		b.ack(ctx, sm, req.EnvelopeID, nil)
		return
	}
	storeCtx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	err := b.accept(storeCtx, kind, req.Payload)
	cancel()
	switch {
	case errors.Is(err, errBadPayload):
		b.log.Warn("unreadable envelope acknowledged and dropped", "envelope", req.EnvelopeID, "err", err)
	case err != nil:
		b.log.Error("could not store an envelope; Slack will send it again", "envelope", req.EnvelopeID, "err", err)
		return
	}
	var payload any
	if kind == kindCommand {
		if a := b.commandAck(req.Payload); a != nil {
			payload = a
		}
	}
	b.ack(ctx, sm, req.EnvelopeID, payload)
}

func (b *Bot) ack(ctx context.Context, sm *socketmode.Client, envelope string, payload any) {
	if err := sm.AckCtx(ctx, envelope, payload); err != nil && ctx.Err() == nil {
		b.log.Warn("socket mode acknowledgement failed", "envelope", envelope, "err", err)
	}
}

// envelopeUser returns the user an envelope's payload comes from: an
// event's user, an interaction's user.id, a slash command's user_id.
func envelopeUser(payload []byte) string {
	var p struct {
		UserID string          `json:"user_id"`
		User   json.RawMessage `json:"user"`
		Event  struct {
			User string `json:"user"`
		} `json:"event"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	if p.Event.User != "" {
		return p.Event.User
	}
	if p.UserID != "" {
		return p.UserID
	}
	var u struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(p.User, &u) == nil {
		return u.ID
	}
	return ""
}

// slogOutput lets the Slack library's debug logger write to slog.
type slogOutput struct{ log *slog.Logger }

func (s slogOutput) Output(_ int, msg string) error {
	s.log.Debug(strings.TrimSpace(msg))
	return nil
}
