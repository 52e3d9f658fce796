package slackbot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/consultbot/consultbot/flows"
)

// accept writes an update to the inbox. When it returns nil, Slack may be
// acknowledged: the update is stored, was stored before (a retry or a
// redelivery), or is not one the bot acts on. An error wrapping
// errBadPayload means the update cannot be read; any other error means it
// was not stored and must not be acknowledged.
func (b *Bot) accept(ctx context.Context, kind string, body []byte) error {
	id, keep, err := inboxID(kind, body)
	if err != nil || !keep {
		return err
	}
	b.receiving.Add(1)
	defer b.receiving.Add(-1)
	payload, err := json.Marshal(record{Kind: kind, Body: body})
	if err != nil {
		return fmt.Errorf("%w: %v", errBadPayload, err)
	}
	dup, err := b.store.InboxPut(ctx, flows.Received{ID: id, Channel: Channel, Payload: payload, At: b.now()})
	if err != nil {
		return fmt.Errorf("storing %s: %w", id, err)
	}
	if dup {
		b.log.Debug("duplicate update dropped", "id", id)
		return nil
	}
	wake(b.wakeInbox)
	return nil
}

// commandAck is the ephemeral answer to a slash command typed outside the
// direct message with the bot, where the conversation happens.
func (b *Bot) commandAck(body []byte) map[string]string {
	var c command
	if json.Unmarshal(body, &c) != nil || strings.HasPrefix(c.ChannelID, "D") {
		return nil
	}
	return map[string]string{"response_type": "ephemeral", "text": "I'll answer in our direct messages: look for me under Apps or Direct messages."}
}

// Signature checks (api.slack.com/authentication/verifying-requests-from-slack).
const (
	maxRequestAge = 5 * time.Minute
	maxBody       = 1 << 20
)

var errSignature = errors.New("request signature")

// verify checks a request's v0 signature: HMAC-SHA256 of
// "v0:<timestamp>:<body>" with the signing secret, compared in constant
// time, and a timestamp no more than five minutes from now.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no valid X-Slack-Request-Timestamp", errSignature)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxRequestAge || age < -maxRequestAge {
		return fmt.Errorf("%w: timestamp %s is %s from now", errSignature, ts, age.Round(time.Second))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(h.Get("X-Slack-Signature")), []byte(want)) {
		return fmt.Errorf("%w: X-Slack-Signature does not match", errSignature)
	}
	return nil
}

// EventsHandler serves Slack's HTTP mode: POST /slack/events (with the
// url_verification handshake), /slack/interactions and /slack/commands.
// Each request is verified with the signing secret (401 when it fails),
// stored in the inbox, then answered 200; a retry or a redelivered event is
// answered 200 and has no second effect. Without a signing secret it answers
// 404: HTTP mode is off.
func (b *Bot) EventsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/events", b.verified(b.serveEvents))
	mux.HandleFunc("POST /slack/interactions", b.verified(b.serveInteractions))
	mux.HandleFunc("POST /slack/commands", b.verified(b.serveCommands))
	return mux
}

// verified reads and verifies a request's body before handing it on.
func (b *Bot) verified(next func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if b.cfg.SigningSecret == "" {
			http.Error(w, "Slack HTTP mode is off: set SLACK_SIGNING_SECRET", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := verify(b.cfg.SigningSecret, r.Header, body, b.now()); err != nil {
			b.log.Warn("refused a request", "path", r.URL.Path, "err", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		next(w, r, body)
	}
}

// stored answers a request once its update is accepted.
func (b *Bot) stored(w http.ResponseWriter, r *http.Request, kind string, body []byte, answer any) {
	err := b.accept(r.Context(), kind, body)
	switch {
	case errors.Is(err, errBadPayload):
		b.log.Warn("unreadable request", "path", r.URL.Path, "err", err)
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	case err != nil:
		// Not stored: a 500 makes Slack try again (events) or tell the
		// person it failed (buttons, commands).
		b.log.Error("could not store an update", "path", r.URL.Path, "err", err)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

func (b *Bot) serveEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	var e eventCallback
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	if e.Type == "url_verification" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"challenge": e.Challenge})
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		b.log.Debug("event retried", "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"), "event", e.EventID)
	}
	b.stored(w, r, kindEvent, body, nil)
}

func (b *Bot) serveInteractions(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	b.stored(w, r, kindInteraction, []byte(form.Get("payload")), nil)
}

func (b *Bot) serveCommands(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	if form.Get("ssl_check") == "1" {
		// Slack checking the certificate of the command URL: nothing to do.
		w.WriteHeader(http.StatusOK)
		return
	}
	c := command{
		TeamID:      form.Get("team_id"),
		UserID:      form.Get("user_id"),
		Command:     form.Get("command"),
		Text:        form.Get("text"),
		TriggerID:   form.Get("trigger_id"),
		ChannelID:   form.Get("channel_id"),
		ChannelName: form.Get("channel_name"),
	}
	js, err := json.Marshal(c)
	if err != nil {
		http.Error(w, "unreadable payload", http.StatusBadRequest)
		return
	}
	var answer any
	if a := b.commandAck(js); a != nil {
		answer = a
	}
	b.stored(w, r, kindCommand, js, answer)
}
