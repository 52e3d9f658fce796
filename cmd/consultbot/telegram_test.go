package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tgStandIn is the least of the Bot API that `consultbot run` needs to serve
// one /start: it checks the wiring from settings to the Telegram channel. The
// channel's own tests check every request against the published API.
type tgStandIn struct {
	mu      sync.Mutex
	served  bool     // the /start update was handed out
	texts   []string // sendMessage texts, in order
	methods map[string]int
	sent    chan struct{}
}

func (f *tgStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	if !strings.HasPrefix(r.URL.Path, "/bot123:secret/") {
		http.Error(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		r.ParseForm()
	}
	f.mu.Lock()
	f.methods[method]++
	f.mu.Unlock()
	var result any = true
	switch method {
	case "getMe":
		result = map[string]any{"id": 1, "is_bot": true, "first_name": "Consult", "username": "consult_test_bot"}
	case "getUpdates":
		f.mu.Lock()
		first := !f.served
		f.served = true
		f.mu.Unlock()
		if first {
			result = []any{map[string]any{"update_id": 100, "message": map[string]any{
				"message_id": 1, "date": time.Now().Unix(), "text": "/start",
				"chat":     map[string]any{"id": 42, "type": "private", "first_name": "Ana"},
				"from":     map[string]any{"id": 42, "is_bot": false, "first_name": "Ana", "language_code": "en"},
				"entities": []any{map[string]any{"type": "bot_command", "offset": 0, "length": 6}},
			}}}
		} else {
			select { // a long poll with nothing new
			case <-r.Context().Done():
			case <-time.After(200 * time.Millisecond):
			}
			result = []any{}
		}
	case "sendMessage":
		f.mu.Lock()
		f.texts = append(f.texts, r.FormValue("text"))
		n := len(f.texts)
		f.mu.Unlock()
		select {
		case f.sent <- struct{}{}:
		default:
		}
		result = map[string]any{"message_id": 1000 + n, "date": time.Now().Unix(), "chat": map[string]any{"id": 42, "type": "private"}, "text": r.FormValue("text")}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func TestRunServesTelegram(t *testing.T) {
	fake := &tgStandIn{methods: map[string]int{}, sent: make(chan struct{}, 1)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := []string{
		"CONSULTBOT_DATA_DIR=" + t.TempDir(),
		"TELEGRAM_BOT_TOKEN=123:secret",
		"TELEGRAM_API_URL=" + srv.URL,
	}
	cmd := testCommand(t, t.Context(), env, "run")
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The /start is answered with the choice of open consultations.
	deadline := time.After(60 * time.Second)
	for {
		fake.mu.Lock()
		texts := strings.Join(fake.texts, "\n---\n")
		fake.mu.Unlock()
		if strings.Contains(texts, "Which consultation would you like to take part in?") {
			break
		}
		select {
		case <-fake.sent:
		case err := <-done:
			t.Fatalf("run exited early: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatalf("no reply to /start within 60s; sent: %q\nstderr:\n%s", texts, errb.String())
		}
	}

	// Invite links come from getMe, through the running bot.
	out, errOut, err := consultbot(t, env, "", "invite", "draft-questions", "--count", "2")
	if err != nil {
		t.Fatalf("invite: %v\n%s", err, errOut)
	}
	if n := strings.Count(out, "https://t.me/consult_test_bot?start="); n != 2 {
		t.Errorf("invite printed %q, want 2 links", out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop within 30s of SIGTERM")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, m := range []string{"getMe", "setMyCommands", "getUpdates", "sendMessage"} {
		if fake.methods[m] == 0 {
			t.Errorf("run never called %s; calls: %v", m, fmt.Sprint(fake.methods))
		}
	}
}
