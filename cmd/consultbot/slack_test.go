package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slackStandIn is the least of the Web API that `consultbot run` needs to
// answer one slash command: it checks the wiring from settings to the Slack
// channel in HTTP mode. The channel's own tests check every request against
// the published API.
type slackStandIn struct {
	mu    sync.Mutex
	posts []string // chat.postMessage bodies
	sent  chan struct{}
}

func (f *slackStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(r.Body)
	var res map[string]any
	switch method {
	case "auth.test":
		res = map[string]any{"ok": true, "team_id": "T1", "user_id": "UBOT"}
	case "conversations.open":
		res = map[string]any{"ok": true, "channel": map[string]any{"id": "D1"}}
	case "chat.postMessage":
		f.mu.Lock()
		f.posts = append(f.posts, string(body))
		f.mu.Unlock()
		select {
		case f.sent <- struct{}{}:
		default:
		}
		res = map[string]any{"ok": true, "channel": "D1", "ts": strconv.FormatInt(time.Now().UnixNano(), 10)}
	default:
		res = map[string]any{"ok": true}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

func TestRunServesSlackOverHTTP(t *testing.T) {
	fake := &slackStandIn{sent: make(chan struct{}, 1)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	env := []string{
		"CONSULTBOT_DATA_DIR=" + t.TempDir(),
		"SLACK_BOT_TOKEN=xoxb-test",
		"SLACK_SIGNING_SECRET=" + secret,
		"SLACK_API_URL=" + srv.URL + "/api", // no trailing slash: one is added
	}
	cmd := testCommand(t, t.Context(), env, "run", "--http-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The listener's address is in the log.
	addrc := make(chan string, 1)
	var logMu sync.Mutex
	var logText strings.Builder
	go func() {
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logText.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		logMu.Lock()
		t.Fatalf("run exited early: %v\n%s", err, logText.String())
	case <-time.After(60 * time.Second):
		t.Fatal("run did not log its listener within 60s")
	}

	post := func(form url.Values, sign string) int {
		t.Helper()
		body := form.Encode()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(sign))
		io.WriteString(mac, "v0:"+ts+":"+body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("posting the slash command: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	form := url.Values{"command": {"/consult"}, "text": {""}, "team_id": {"T1"}, "user_id": {"U1"},
		"channel_id": {"D1"}, "trigger_id": {"1.2.abc"}, "response_url": {srv.URL + "/response"}}
	if code := post(form, "not the secret"); code != http.StatusUnauthorized {
		t.Errorf("a bad signature got %d, want 401", code)
	}
	if code := post(form, secret); code != http.StatusOK {
		t.Fatalf("the slash command got %d, want 200", code)
	}

	deadline := time.After(60 * time.Second)
	for {
		fake.mu.Lock()
		posts := strings.Join(fake.posts, "\n")
		fake.mu.Unlock()
		if strings.Contains(posts, "Which+consultation") || strings.Contains(posts, "Which consultation") {
			break
		}
		select {
		case <-fake.sent:
		case <-deadline:
			logMu.Lock()
			t.Fatalf("no reply to /consult within 60s; posts: %s\nlog:\n%s", posts, logText.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of SIGTERM")
	}
}
