package slackbot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// specMethod is what the Slack Web API spec says about one method.
type specMethod struct {
	required []string        // parameter names, token included
	known    map[string]bool // every parameter the method takes
}

// loadSpec reads the Slack Web API OpenAPI spec from ../shared/specs
// (relative to the module root). It returns nil, after saying so, when the
// folder is absent.
func loadSpec(t testing.TB) map[string]specMethod {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Log("no go.mod above the package: requests are not checked against the Slack spec")
			return nil
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "specs", "slack-web-api", "slack_web_openapi_v2.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("Slack Web API spec not found (%v): requests are not checked against it", err)
		return nil
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("reading the Slack spec: %v", err)
	}
	spec := make(map[string]specMethod, len(doc.Paths))
	for p, ops := range doc.Paths {
		m := specMethod{known: map[string]bool{}}
		for _, op := range ops {
			for _, prm := range op.Parameters {
				m.known[prm.Name] = true
				if prm.Required {
					m.required = append(m.required, prm.Name)
				}
			}
		}
		spec[strings.TrimPrefix(p, "/")] = m
	}
	return spec
}

// fakeMessage is a message the bot posted, as the fake Slack keeps it.
type fakeMessage struct {
	Channel string
	TS      string
	Text    string
	Blocks  []fakeBlock
	Raw     json.RawMessage // the blocks as sent
	Updates int
	At      time.Time // when it was posted
}

type fakeBlock struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id"`
	Text     *fakeText     `json:"text"`
	Elements []fakeElement `json:"elements"`
}

type fakeElement struct {
	Type           string      `json:"type"`
	Text           *fakeText   `json:"text"`
	ActionID       string      `json:"action_id"`
	Value          string      `json:"value"`
	Options        []fakeOpt   `json:"options"`
	InitialOptions []fakeOpt   `json:"initial_options"`
	Style          string      `json:"style"`
	Elements       []fakeBlock `json:"elements"` // context blocks' elements are text objects
}

type fakeOpt struct {
	Text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"text"`
	Value string `json:"value"`
}

// fakeText is a text object, or the string a context block's text
// element holds.
type fakeText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t *fakeText) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Text)
	}
	type plain fakeText
	return json.Unmarshal(b, (*plain)(t))
}

// text is everything the message says, sections joined by new lines.
func (m *fakeMessage) text() string {
	var parts []string
	for _, b := range m.Blocks {
		if b.Type == "section" && b.Text != nil {
			parts = append(parts, b.Text.Text)
		}
	}
	if len(parts) == 0 {
		return m.Text
	}
	return strings.Join(parts, "\n")
}

// buttons returns the message's buttons, in order.
func (m *fakeMessage) buttons() []fakeElement {
	var out []fakeElement
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, e)
			}
		}
	}
	return out
}

// checkboxes returns the options of the message's checkbox groups, in order.
func (m *fakeMessage) checkboxes() []fakeOpt {
	var out []fakeOpt
	for _, b := range m.Blocks {
		for _, e := range b.Elements {
			if e.Type == "checkboxes" {
				out = append(out, e.Options...)
			}
		}
	}
	return out
}

// fakeSlack is a Slack for tests: the Web API methods the bot calls, over
// httptest, each request checked against Slack's published spec and Block
// Kit's limits; and a Socket Mode websocket that says hello, sends
// envelopes, redelivers what was not acknowledged on the next connection,
// and records acknowledgements.
type fakeSlack struct {
	t    testing.TB
	srv  *httptest.Server
	spec map[string]specMethod

	Team, BotToken, AppToken string

	mu       sync.Mutex
	calls    map[string]int
	messages []*fakeMessage
	byRef    map[string]*fakeMessage
	dms      map[string]string // user -> DM channel
	ts       int
	inject   map[string][]func(w http.ResponseWriter) bool // per method: answer the next call instead

	// Socket Mode
	pingEvery time.Duration
	conns     int
	cur       *fakeConn
	unacked   []*fakeEnvelope
	acks      map[string][]fakeAck
	envSeq    int
	trigSeq   int
}

type fakeEnvelope struct {
	ID      string
	Type    string
	Payload json.RawMessage
	Sent    time.Time
	Tries   int
}

type fakeAck struct {
	At      time.Time
	Latency time.Duration // since the envelope was last sent
	Payload json.RawMessage
}

type fakeConn struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	silent bool
	done   chan struct{}
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{
		t:         t,
		spec:      loadSpec(t),
		Team:      "T0TEAM",
		BotToken:  "xoxb-test-token",
		AppToken:  "xapp-test-token",
		calls:     map[string]int{},
		byRef:     map[string]*fakeMessage{},
		dms:       map[string]string{},
		inject:    map[string][]func(http.ResponseWriter) bool{},
		acks:      map[string][]fakeAck{},
		pingEvery: 20 * time.Millisecond,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveAPI)
	mux.HandleFunc("/link", f.serveSocket)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

// URL is the Web API base URL to give the bot.
func (f *fakeSlack) URL() string { return f.srv.URL + "/api/" }

func (f *fakeSlack) close() {
	f.mu.Lock()
	if f.cur != nil {
		f.cur.ws.Close()
	}
	f.mu.Unlock()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

func (f *fakeSlack) errorf(format string, args ...any) {
	f.t.Errorf("fake Slack: "+format, args...)
}

// params returns a request's parameters (form or JSON body, and query) and
// its token (Authorization header or token field).
func (f *fakeSlack) params(r *http.Request) (url.Values, string) {
	body, _ := io.ReadAll(r.Body)
	vals := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if len(body) > 0 {
			if err := json.Unmarshal(body, &m); err != nil {
				f.errorf("%s: JSON body: %v", r.URL.Path, err)
			}
		}
		for k, v := range m {
			vals.Set(k, fmt.Sprint(v))
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			f.errorf("%s: form body: %v", r.URL.Path, err)
		}
		vals = form
	}
	for k, v := range r.URL.Query() {
		vals[k] = v
	}
	token := vals.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	vals.Del("token")
	return vals, token
}

// check compares a request with the spec: the method exists, every required
// parameter is there, and no parameter is one the method does not take.
func (f *fakeSlack) check(method string, vals url.Values, token string) {
	if method == "apps.connections.open" {
		// Newer than the spec: checked by hand (an app-level token, no parameters).
		if !strings.HasPrefix(token, "xapp-") {
			f.errorf("apps.connections.open with token %q, want an app-level token", token)
		}
		if len(vals) != 0 {
			f.errorf("apps.connections.open with parameters %v, want none", vals)
		}
		return
	}
	if token == "" {
		f.errorf("%s without a token", method)
	}
	if f.spec == nil {
		return
	}
	m, ok := f.spec[method]
	if !ok {
		f.errorf("%s is not a Slack Web API method", method)
		return
	}
	for _, p := range m.required {
		if p == "token" {
			continue
		}
		if vals.Get(p) == "" {
			f.errorf("%s without its required parameter %q", method, p)
		}
	}
	for p := range vals {
		if !m.known[p] {
			f.errorf("%s with parameter %q, which the method does not take", method, p)
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSlack) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	vals, token := f.params(r)
	f.check(method, vals, token)

	f.mu.Lock()
	f.calls[method]++
	var injected func(http.ResponseWriter) bool
	if q := f.inject[method]; len(q) > 0 {
		injected = q[0]
		f.inject[method] = q[1:]
	}
	f.mu.Unlock()
	if injected != nil && injected(w) {
		return
	}

	switch method {
	case "apps.connections.open":
		if token != f.AppToken {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/link"
		writeJSON(w, map[string]any{"ok": true, "url": u})
		return
	}
	if token != f.BotToken {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	switch method {
	case "auth.test":
		writeJSON(w, map[string]any{"ok": true, "team_id": f.Team, "user_id": "UBOT", "bot_id": "BBOT", "team": "Test", "user": "consultbot"})
	case "conversations.open":
		users := vals.Get("users")
		if users == "" || strings.Contains(users, ",") {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
			return
		}
		if strings.HasPrefix(users, "UGONE") {
			writeJSON(w, map[string]any{"ok": false, "error": "user_not_found"})
			return
		}
		f.mu.Lock()
		ch, ok := f.dms[users]
		if !ok {
			ch = "D" + users
			f.dms[users] = ch
		}
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ok": true, "channel": map[string]any{"id": ch}})
	case "chat.postMessage", "chat.update":
		msg := f.checkMessage(method, vals)
		if msg == nil {
			writeJSON(w, map[string]any{"ok": false, "error": "invalid_blocks"})
			return
		}
		f.mu.Lock()
		if method == "chat.update" {
			old, ok := f.byRef[msg.Channel+":"+vals.Get("ts")]
			if !ok {
				f.mu.Unlock()
				writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
				return
			}
			old.Text, old.Blocks, old.Raw = msg.Text, msg.Blocks, msg.Raw
			old.Updates++
			f.mu.Unlock()
			writeJSON(w, map[string]any{"ok": true, "channel": old.Channel, "ts": old.TS, "text": old.Text})
			return
		}
		if strings.HasPrefix(msg.Channel, "DGONE") {
			f.mu.Unlock()
			writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		f.ts++
		msg.TS = fmt.Sprintf("1700000000.%06d", f.ts)
		msg.At = time.Now()
		f.messages = append(f.messages, msg)
		f.byRef[msg.Channel+":"+msg.TS] = msg
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ok": true, "channel": msg.Channel, "ts": msg.TS})
	default:
		writeJSON(w, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// checkMessage reads a post or an update and checks its blocks against
// Block Kit's limits.
func (f *fakeSlack) checkMessage(method string, vals url.Values) *fakeMessage {
	msg := &fakeMessage{Channel: vals.Get("channel"), Text: vals.Get("text")}
	if n := utf8.RuneCountInString(msg.Text); n > 40000 {
		f.errorf("%s: text of %d characters, over 40000", method, n)
	}
	raw := vals.Get("blocks")
	if raw == "" {
		if msg.Text == "" {
			f.errorf("%s: neither text nor blocks", method)
		}
		return msg
	}
	msg.Raw = json.RawMessage(raw)
	if err := json.Unmarshal([]byte(raw), &msg.Blocks); err != nil {
		f.errorf("%s: blocks: %v", method, err)
		return nil
	}
	if err := checkBlocks(msg.Blocks); err != nil {
		f.errorf("%s: %v", method, err)
		return nil
	}
	return msg
}

// checkBlocks checks the Block Kit limits the bot must keep.
func checkBlocks(blocks []fakeBlock) error {
	if len(blocks) > 50 {
		return fmt.Errorf("%d blocks, over 50", len(blocks))
	}
	blockIDs := map[string]bool{}
	actionIDs := map[string]bool{}
	chars := utf8.RuneCountInString
	for i, b := range blocks {
		if chars(b.BlockID) > 255 {
			return fmt.Errorf("block %d: block_id of %d characters, over 255", i, chars(b.BlockID))
		}
		if b.BlockID != "" {
			if blockIDs[b.BlockID] {
				return fmt.Errorf("block %d: block_id %q used twice", i, b.BlockID)
			}
			blockIDs[b.BlockID] = true
		}
		switch b.Type {
		case "section":
			if b.Text == nil || b.Text.Text == "" {
				return fmt.Errorf("block %d: section without text", i)
			}
			if n := chars(b.Text.Text); n > 3000 {
				return fmt.Errorf("block %d: section text of %d characters, over 3000", i, n)
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				return fmt.Errorf("block %d: %d elements in an actions block, want 1 to 25", i, len(b.Elements))
			}
			for j, e := range b.Elements {
				if e.ActionID == "" || chars(e.ActionID) > 255 {
					return fmt.Errorf("block %d element %d: action_id %q, want 1 to 255 characters", i, j, e.ActionID)
				}
				if actionIDs[e.ActionID] {
					return fmt.Errorf("block %d element %d: action_id %q used twice", i, j, e.ActionID)
				}
				actionIDs[e.ActionID] = true
				switch e.Type {
				case "button":
					if e.Text == nil || e.Text.Type != "plain_text" || e.Text.Text == "" || chars(e.Text.Text) > 75 {
						return fmt.Errorf("block %d element %d: button text must be plain_text of 1 to 75 characters", i, j)
					}
					if chars(e.Value) > 2000 {
						return fmt.Errorf("block %d element %d: button value of %d characters, over 2000", i, j, chars(e.Value))
					}
				case "checkboxes":
					if len(e.Options) == 0 || len(e.Options) > 10 {
						return fmt.Errorf("block %d element %d: %d checkbox options, want 1 to 10", i, j, len(e.Options))
					}
					for _, o := range append(append([]fakeOpt{}, e.Options...), e.InitialOptions...) {
						if o.Text.Text == "" || chars(o.Text.Text) > 75 || o.Value == "" || chars(o.Value) > 150 {
							return fmt.Errorf("block %d element %d: option %q/%q out of limits", i, j, o.Text.Text, o.Value)
						}
					}
				default:
					return fmt.Errorf("block %d element %d: unexpected element type %q", i, j, e.Type)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("block %d: %d context elements, want 1 to 10", i, len(b.Elements))
			}
		default:
			return fmt.Errorf("block %d: unexpected block type %q", i, b.Type)
		}
	}
	return nil
}

// failNext makes the next call of method answer with status and headers
// (and an HTML body for a 5xx, as Slack does), instead of doing its work.
func (f *fakeSlack) failNext(method string, status int, header map[string]string, errCode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[method] = append(f.inject[method], func(w http.ResponseWriter) bool {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if errCode != "" {
			writeJSON(w, map[string]any{"ok": false, "error": errCode})
			return true
		}
		w.WriteHeader(status)
		io.WriteString(w, "<html>error</html>")
		return true
	})
}

// postThenCut makes the next call of method do its work and then cut the
// connection without an answer: the message is posted, the bot cannot know.
func (f *fakeSlack) postThenCut(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[method] = append(f.inject[method], func(w http.ResponseWriter) bool {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		f.mu.Lock()
		f.ts++
		f.messages = append(f.messages, &fakeMessage{Channel: "?", TS: fmt.Sprintf("1700000000.%06d", f.ts), Text: "(posted, answer lost)"})
		f.mu.Unlock()
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	})
}

func (f *fakeSlack) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// posted returns the messages in a channel, oldest first.
func (f *fakeSlack) posted(channel string) []*fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeMessage
	for _, m := range f.messages {
		if m.Channel == channel {
			c := *m
			out = append(out, &c)
		}
	}
	return out
}

// allPosted returns every message posted, oldest first.
func (f *fakeSlack) allPosted() []*fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*fakeMessage, len(f.messages))
	for i, m := range f.messages {
		c := *m
		out[i] = &c
	}
	return out
}

// --- Socket Mode ---

func (f *fakeSlack) serveSocket(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://api.slack.com" // what slack-go sends
	}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		f.errorf("websocket upgrade: %v", err)
		return
	}
	c := &fakeConn{ws: ws, done: make(chan struct{})}
	f.mu.Lock()
	if f.cur != nil {
		f.cur.ws.Close()
	}
	f.conns++
	f.cur = c
	pending := append([]*fakeEnvelope(nil), f.unacked...)
	f.mu.Unlock()

	c.write(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"}, "debug_info": map[string]any{"host": "fake"}})
	for _, e := range pending {
		f.deliver(c, e)
	}
	go func() {
		t := time.NewTicker(f.pingEvery)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				f.mu.Lock()
				silent := c.silent
				f.mu.Unlock()
				if !silent {
					ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
				}
			}
		}
	}()
	defer close(c.done)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			f.errorf("socket mode: unexpected message %s", data)
			continue
		}
		now := time.Now()
		f.mu.Lock()
		var lat time.Duration
		for i, e := range f.unacked {
			if e.ID == ack.EnvelopeID {
				lat = now.Sub(e.Sent)
				f.unacked = append(f.unacked[:i], f.unacked[i+1:]...)
				break
			}
		}
		f.acks[ack.EnvelopeID] = append(f.acks[ack.EnvelopeID], fakeAck{At: now, Latency: lat, Payload: ack.Payload})
		f.mu.Unlock()
	}
}

func (c *fakeConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(v)
}

func (f *fakeSlack) deliver(c *fakeConn, e *fakeEnvelope) {
	f.mu.Lock()
	if c.silent {
		f.mu.Unlock()
		return
	}
	e.Tries++
	e.Sent = time.Now()
	msg := map[string]any{
		"envelope_id":              e.ID,
		"type":                     e.Type,
		"payload":                  e.Payload,
		"accepts_response_payload": e.Type != "events_api",
		"retry_attempt":            e.Tries - 1,
	}
	if e.Tries > 1 {
		msg["retry_reason"] = "timeout"
	}
	f.mu.Unlock()
	c.write(msg)
}

// envelope sends a Socket Mode envelope (events_api, interactive or
// slash_commands) on the current connection, and again on each new
// connection until it is acknowledged. It returns the envelope id.
func (f *fakeSlack) envelope(typ string, payload any) string {
	raw, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.envSeq++
	e := &fakeEnvelope{ID: fmt.Sprintf("env-%d", f.envSeq), Type: typ, Payload: raw}
	f.unacked = append(f.unacked, e)
	c := f.cur
	f.mu.Unlock()
	if c != nil {
		f.deliver(c, e)
	}
	return e.ID
}

// dropConnection cuts the current websocket without a close frame.
func (f *fakeSlack) dropConnection() {
	f.mu.Lock()
	c := f.cur
	f.cur = nil
	f.mu.Unlock()
	if c != nil {
		c.ws.UnderlyingConn().Close()
	}
}

// silence makes the current connection dead without closing it: no pings,
// no envelopes.
func (f *fakeSlack) silence() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.silent = true
		f.cur = nil
	}
}

// disconnect sends Slack's disconnect frame (reason refresh_requested or
// warning) on the current connection.
func (f *fakeSlack) disconnect(reason string) {
	f.mu.Lock()
	c := f.cur
	f.cur = nil
	f.mu.Unlock()
	if c != nil {
		c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fake"}})
	}
}

func (f *fakeSlack) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *fakeSlack) connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur != nil
}

func (f *fakeSlack) ackCount(envelope string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acks[envelope])
}

func (f *fakeSlack) unackedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.unacked)
}

func (f *fakeSlack) trigger() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trigSeq++
	return fmt.Sprintf("trig-%d", f.trigSeq)
}

// --- what Slack sends the bot ---

// dmEvent is a message a user typed in their DM with the bot, as an Events
// API event_callback.
func (f *fakeSlack) dmEvent(eventID, user, text string) map[string]any {
	return map[string]any{
		"token": "verif", "team_id": f.Team, "api_app_id": "A1", "type": "event_callback",
		"event_id": eventID, "event_time": 1700000000,
		"event": map[string]any{
			"type": "message", "channel_type": "im", "channel": "D" + user, "user": user,
			"text": text, "ts": "1700000001.000100", "team": f.Team,
		},
	}
}

// slash is a /consult command.
func (f *fakeSlack) slash(user, text, channel string) map[string]string {
	return map[string]string{
		"token": "verif", "team_id": f.Team, "team_domain": "test", "channel_id": channel, "channel_name": "directmessage",
		"user_id": user, "user_name": "someone", "command": "/consult", "text": text, "api_app_id": "A1",
		"response_url": "https://hooks.example/commands/1", "trigger_id": f.trigger(),
	}
}

// press is the block_actions payload of user pressing the button with the
// given value in msg, with the checkboxes ticked as ticked says (values;
// nil leaves them as the message shows them).
func (f *fakeSlack) press(user string, msg *fakeMessage, value string, ticked []string) map[string]any {
	var action map[string]any
	values := map[string]any{}
	blocks := make([]any, 0, len(msg.Blocks))
	for _, b := range msg.Blocks {
		for _, e := range b.Elements {
			switch {
			case e.Type == "button" && e.Value == value && action == nil:
				action = map[string]any{
					"type": "button", "action_id": e.ActionID, "block_id": b.BlockID, "value": e.Value,
					"text": map[string]any{"type": "plain_text", "text": e.Text.Text}, "action_ts": "1700000002.000200",
				}
			case e.Type == "checkboxes":
				sel := []any{}
				for _, o := range e.Options {
					on := false
					if ticked == nil {
						for _, io := range e.InitialOptions {
							on = on || io.Value == o.Value
						}
					} else {
						for _, v := range ticked {
							on = on || v == o.Value
						}
					}
					if on {
						sel = append(sel, o)
					}
				}
				if values[b.BlockID] == nil {
					values[b.BlockID] = map[string]any{}
				}
				values[b.BlockID].(map[string]any)[e.ActionID] = map[string]any{"type": "checkboxes", "selected_options": sel}
			}
		}
		blocks = append(blocks, b)
	}
	if action == nil {
		f.t.Fatalf("no button with value %q in the message %q", value, msg.text())
	}
	return map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": f.Team, "domain": "test"},
		"user":       map[string]any{"id": user, "username": "someone", "team_id": f.Team},
		"api_app_id": "A1", "token": "verif", "trigger_id": f.trigger(),
		"container": map[string]any{"type": "message", "message_ts": msg.TS, "channel_id": msg.Channel, "is_ephemeral": false},
		"channel":   map[string]any{"id": msg.Channel, "name": "directmessage"},
		"message":   map[string]any{"type": "message", "ts": msg.TS, "text": msg.Text, "blocks": blocks, "user": "UBOT", "bot_id": "BBOT"},
		"state":     map[string]any{"values": values},
		"actions":   []any{action},
	}
}

// sign returns the headers of a request signed as Slack signs it.
func sign(secret string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
