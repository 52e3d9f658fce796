package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// testLogger logs to the test output when -v is given, else nowhere.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() || os.Getenv("SLACKBOT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startBot makes a bot talking to the fake Slack and runs it until the test
// ends. With socket true it connects over Socket Mode.
func startBot(t testing.TB, f *fakeSlack, conv Conversation, store Store, socket bool, mods ...func(*Config)) *Bot {
	t.Helper()
	cfg := Config{
		BotToken:      f.BotToken,
		SigningSecret: testSecret,
		APIURL:        f.URL(),
		ChannelRate:   1000,
		WorkspaceRate: 1000,
		PollInterval:  20 * time.Millisecond,
		PingInterval:  time.Second,
		Logger:        testLogger(t),
	}
	if socket {
		cfg.AppToken = f.AppToken
	}
	for _, m := range mods {
		m(&cfg)
	}
	b, err := New(cfg, conv, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return b
}

// slackRequest is a request to the bot's HTTP endpoints, signed with secret
// at the given time.
func slackRequest(t testing.TB, h http.Handler, path string, body []byte, secret string, at time.Time, extra http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if strings.HasSuffix(path, "/events") {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range sign(secret, at, body) {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func jsonBody(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func formBody(v map[string]string) []byte {
	form := url.Values{}
	for k, s := range v {
		form.Set(k, s)
	}
	return []byte(form.Encode())
}

func TestHTTPRefusesUnverified(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	b, err := New(Config{BotToken: f.BotToken, SigningSecret: testSecret, APIURL: f.URL(), Now: func() time.Time { return now }}, &recorder{store: store}, store)
	if err != nil {
		t.Fatal(err)
	}
	h := b.EventsHandler()
	event := jsonBody(t, f.dmEvent("Ev1", "U1", "hello"))
	tampered := bytes.Replace(event, []byte("hello"), []byte("hullo"), 1)

	tests := []struct {
		name   string
		path   string
		body   []byte
		secret string
		at     time.Time
		strip  bool // no signature headers at all
		signed []byte
	}{
		{"wrong secret", "/slack/events", event, "not-the-secret", now, false, nil},
		{"stale timestamp", "/slack/events", event, testSecret, now.Add(-5*time.Minute - time.Second), false, nil},
		{"timestamp from the future", "/slack/events", event, testSecret, now.Add(6 * time.Minute), false, nil},
		{"no signature", "/slack/events", event, testSecret, now, true, nil},
		{"body changed after signing", "/slack/events", tampered, testSecret, now, false, event},
		{"interaction, wrong secret", "/slack/interactions", formBody(map[string]string{"payload": "{}"}), "x", now, false, nil},
		{"command, stale", "/slack/commands", formBody(f.slash("U1", "", "D1")), testSecret, now.Add(-time.Hour), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := tt.body
			if tt.signed != nil {
				signed = tt.signed
			}
			req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
			if !tt.strip {
				for k, v := range sign(tt.secret, tt.at, signed) {
					req.Header[k] = v
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("got status %d, want 401", w.Code)
			}
		})
	}
	if n := store.inboxCount(t); n != 0 {
		t.Errorf("got %d inbox items after refused requests, want 0", n)
	}

	// Just inside the window is accepted.
	if w := slackRequest(t, h, "/slack/events", event, testSecret, now.Add(-4*time.Minute), nil); w.Code != http.StatusOK {
		t.Errorf("got status %d for a request signed 4 minutes ago, want 200", w.Code)
	}
	if n := store.inboxCount(t); n != 1 {
		t.Errorf("got %d inbox items after an accepted request, want 1", n)
	}
}

func TestHTTPURLVerification(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	b, err := New(Config{BotToken: f.BotToken, SigningSecret: testSecret, APIURL: f.URL()}, &recorder{store: store}, store)
	if err != nil {
		t.Fatal(err)
	}
	body := jsonBody(t, map[string]string{"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
	w := slackRequest(t, b.EventsHandler(), "/slack/events", body, testSecret, time.Now(), nil)
	var got struct{ Challenge string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusOK {
		t.Fatalf("got status %d body %q, want 200 and the challenge", w.Code, w.Body.String())
	}
	if got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("got challenge %q, want it echoed", got.Challenge)
	}
	if w := slackRequest(t, b.EventsHandler(), "/slack/events", body, "wrong", time.Now(), nil); w.Code != http.StatusUnauthorized {
		t.Errorf("got status %d for an unsigned handshake, want 401", w.Code)
	}

	off, _ := New(Config{BotToken: f.BotToken, APIURL: f.URL()}, &recorder{store: store}, store)
	if w := slackRequest(t, off.EventsHandler(), "/slack/events", body, testSecret, time.Now(), nil); w.Code != http.StatusNotFound {
		t.Errorf("got status %d without a signing secret, want 404", w.Code)
	}
}

func TestHTTPRetriesHaveOneEffect(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	conv := &recorder{store: store, reply: func(in flows.Input) []flows.Reply {
		return []flows.Reply{{Text: "got " + in.Text + in.Choice + string(in.Command)}}
	}}
	b := startBot(t, f, conv, store, false)
	h := b.EventsHandler()

	event := jsonBody(t, f.dmEvent("Ev42", "U1", "my answer"))
	retry := http.Header{"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_timeout"}}
	for i, extra := range []http.Header{nil, retry, nil} {
		// Each delivery signed afresh, as Slack signs a retry.
		if w := slackRequest(t, h, "/slack/events", event, testSecret, time.Now(), extra); w.Code != http.StatusOK {
			t.Fatalf("delivery %d: got status %d, want 200", i, w.Code)
		}
	}
	// Interactions and commands: a replayed request (same trigger id) too.
	_, blocks := rendered(t, flows.Reply{Text: "Pick", Choices: []flows.Choice{{Label: "Yes", Data: "y.1"}}})
	press := jsonBody(t, f.press("U1", &fakeMessage{Channel: "DU1", TS: "9.9", Blocks: blocks}, valuePrefix+"y.1", nil))
	cmd := formBody(f.slash("U1", "pause", "C1"))
	for range 2 {
		if w := slackRequest(t, h, "/slack/interactions", formBody(map[string]string{"payload": string(press)}), testSecret, time.Now(), nil); w.Code != http.StatusOK {
			t.Fatalf("interaction: got status %d, want 200", w.Code)
		}
		w := slackRequest(t, h, "/slack/commands", cmd, testSecret, time.Now(), nil)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ephemeral") {
			t.Fatalf("command: got status %d body %q, want 200 with an ephemeral note", w.Code, w.Body.String())
		}
	}

	waitFor(t, "three replies posted", func() bool { return len(f.posted("DU1")) >= 3 })
	got := conv.got()
	if len(got) != 3 {
		t.Fatalf("got %d inputs %+v, want 3 (one per distinct update)", len(got), got)
	}
	want := []flows.Input{
		{ID: "slack:e:Ev42", Participant: "slack:T0TEAM:U1", Channel: Channel, Text: "my answer", ReplyTo: "DU1"},
		{ID: "slack:i:T0TEAM:trig-1", Participant: "slack:T0TEAM:U1", Channel: Channel, Choice: "y.1", ReplyTo: "DU1", Ref: "DU1:9.9"},
		{ID: "slack:c:trig-2", Participant: "slack:T0TEAM:U1", Channel: Channel, Command: flows.CmdPause, ReplyTo: "DU1"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("input %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(f.posted("DU1")); n != 3 {
		t.Errorf("got %d messages posted, want 3", n)
	}
}

func TestHTTPNotStoredIsNotAcknowledged(t *testing.T) {
	f := newFakeSlack(t)
	store := newTestStore(t)
	b, err := New(Config{BotToken: f.BotToken, SigningSecret: testSecret, APIURL: f.URL()}, &recorder{store: store}, failingStore{store.Store, errors.New("disk full")})
	if err != nil {
		t.Fatal(err)
	}
	w := slackRequest(t, b.EventsHandler(), "/slack/events", jsonBody(t, f.dmEvent("Ev1", "U1", "x")), testSecret, time.Now(), nil)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("got status %d when the inbox write failed, want 500 (Slack retries)", w.Code)
	}
	w = slackRequest(t, b.EventsHandler(), "/slack/events", []byte(`{"type":"event_callback","event_id":"E2"`), testSecret, time.Now(), nil)
	if w.Code != http.StatusBadRequest {
		t.Errorf("got status %d for unreadable JSON, want 400", w.Code)
	}
}
