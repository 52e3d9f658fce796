package tgbot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// tgSpec is what the Bot API spec (api.json) says about methods and types.
type tgSpec struct {
	methods map[string][]specField
	types   map[string]specType
}

type specField struct {
	Name     string   `json:"name"`
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

type specType struct {
	Fields   []specField `json:"fields"`
	Subtypes []string    `json:"subtypes"`
}

// loadedSpec reads ../shared/specs/telegram-bot-api/api.json (relative to the
// module root) once for the whole test binary.
var loadedSpec = sync.OnceValues(func() (*tgSpec, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
	data, err := os.ReadFile(filepath.Join(dir, "..", "shared", "specs", "telegram-bot-api", "api.json"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Methods map[string]struct {
			Fields []specField `json:"fields"`
		} `json:"methods"`
		Types map[string]specType `json:"types"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading the Bot API spec: %w", err)
	}
	s := &tgSpec{methods: map[string][]specField{}, types: doc.Types}
	for name, m := range doc.Methods {
		s.methods[name] = m.Fields
	}
	return s, nil
})

// specFor returns the spec, or nil (after saying so) when it is absent.
func specFor(t testing.TB) *tgSpec {
	t.Helper()
	s, err := loadedSpec()
	if err != nil {
		t.Logf("Telegram Bot API spec not available (%v): requests are not checked against it", err)
		return nil
	}
	return s
}

// utf16Len counts a text as Telegram does.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// param is one request parameter as sent: the text of a form field, or a
// JSON value from a JSON body.
type param struct {
	raw  string
	json bool
}

// checkRequest returns what is wrong with a call of method with params.
func (s *tgSpec) checkRequest(method string, params map[string]param) []string {
	fields, ok := s.methods[method]
	if !ok {
		return []string{fmt.Sprintf("%s: no such method in the Bot API", method)}
	}
	var bad []string
	known := map[string]specField{}
	for _, f := range fields {
		known[f.Name] = f
		if _, ok := params[f.Name]; f.Required && !ok {
			bad = append(bad, fmt.Sprintf("%s: required field %s missing", method, f.Name))
		}
	}
	for name, p := range params {
		f, ok := known[name]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: unknown field %s", method, name))
			continue
		}
		if probs := s.checkParam(p, f.Types, method+"."+name); len(probs) > 0 {
			bad = append(bad, probs...)
		}
	}
	return bad
}

// checkParam checks a parameter against the types the spec allows for it.
func (s *tgSpec) checkParam(p param, types []string, path string) []string {
	var first []string
	for _, t := range types {
		var probs []string
		switch {
		case p.json:
			v, err := decodeJSON(p.raw)
			if err != nil {
				probs = []string{fmt.Sprintf("%s: not JSON: %v", path, err)}
			} else {
				probs = s.validate(t, v, path)
			}
		case t == "String", t == "InputFile":
		case t == "Integer":
			if _, err := strconv.ParseInt(p.raw, 10, 64); err != nil {
				probs = []string{fmt.Sprintf("%s: %q is not an Integer", path, p.raw)}
			}
		case t == "Float":
			if _, err := strconv.ParseFloat(p.raw, 64); err != nil {
				probs = []string{fmt.Sprintf("%s: %q is not a Float", path, p.raw)}
			}
		case t == "Boolean":
			if p.raw != "true" && p.raw != "false" {
				probs = []string{fmt.Sprintf("%s: %q is not a Boolean", path, p.raw)}
			}
		default:
			v, err := decodeJSON(p.raw)
			if err != nil {
				probs = []string{fmt.Sprintf("%s: want JSON-serialized %s, got %q", path, t, p.raw)}
			} else {
				probs = s.validate(t, v, path)
			}
		}
		if len(probs) == 0 {
			return nil
		}
		if first == nil {
			first = probs
		}
	}
	return first
}

func decodeJSON(raw string) (any, error) {
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// validate checks a decoded JSON value against a spec type.
func (s *tgSpec) validate(t string, v any, path string) []string {
	if elem, ok := strings.CutPrefix(t, "Array of "); ok {
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want %s, got %T", path, t, v)}
		}
		var probs []string
		for i, e := range arr {
			probs = append(probs, s.validate(elem, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return probs
	}
	switch t {
	case "String":
		if _, ok := v.(string); !ok {
			return []string{fmt.Sprintf("%s: want String, got %T", path, v)}
		}
		return nil
	case "Integer":
		n, ok := v.(json.Number)
		if ok {
			_, err := n.Int64()
			ok = err == nil
		}
		if !ok {
			return []string{fmt.Sprintf("%s: want Integer, got %v", path, v)}
		}
		return nil
	case "Float":
		if _, ok := v.(json.Number); !ok {
			return []string{fmt.Sprintf("%s: want Float, got %T", path, v)}
		}
		return nil
	case "Boolean", "True":
		b, ok := v.(bool)
		if !ok || (t == "True" && !b) {
			return []string{fmt.Sprintf("%s: want %s, got %v", path, t, v)}
		}
		return nil
	case "InputFile":
		if _, ok := v.(string); !ok {
			return []string{fmt.Sprintf("%s: want InputFile, got %T", path, v)}
		}
		return nil
	}
	st, ok := s.types[t]
	if !ok {
		return []string{fmt.Sprintf("%s: unknown type %s in the spec", path, t)}
	}
	if len(st.Subtypes) > 0 {
		var first []string
		for _, sub := range st.Subtypes {
			probs := s.validate(sub, v, path)
			if len(probs) == 0 {
				return nil
			}
			if first == nil {
				first = probs
			}
		}
		return append([]string{fmt.Sprintf("%s: matches no kind of %s", path, t)}, first...)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want %s object, got %T", path, t, v)}
	}
	var probs []string
	known := map[string]specField{}
	for _, f := range st.Fields {
		known[f.Name] = f
		if _, ok := obj[f.Name]; f.Required && !ok {
			probs = append(probs, fmt.Sprintf("%s: %s needs %s", path, t, f.Name))
		}
	}
	for k, fv := range obj {
		f, ok := known[k]
		if !ok {
			probs = append(probs, fmt.Sprintf("%s: %s has no field %s", path, t, k))
			continue
		}
		var first []string
		matched := false
		for _, ft := range f.Types {
			p := s.validate(ft, fv, path+"."+k)
			if len(p) == 0 {
				matched = true
				break
			}
			if first == nil {
				first = p
			}
		}
		if !matched {
			probs = append(probs, first...)
		}
	}
	// Limits the spec states in prose.
	switch t {
	case "InlineKeyboardButton":
		kinds := 0
		for k := range obj {
			if k != "text" && k != "icon_custom_emoji_id" && k != "style" {
				kinds++
			}
		}
		if kinds != 1 {
			probs = append(probs, fmt.Sprintf("%s: an InlineKeyboardButton needs exactly one kind of action, has %d", path, kinds))
		}
		if txt, _ := obj["text"].(string); strings.TrimSpace(txt) == "" {
			probs = append(probs, fmt.Sprintf("%s: button text is empty", path))
		}
		if cb, ok := obj["callback_data"].(string); ok && (len(cb) < 1 || len(cb) > 64) {
			probs = append(probs, fmt.Sprintf("%s: callback_data is %d bytes, want 1-64", path, len(cb)))
		}
	case "BotCommand":
		c, _ := obj["command"].(string)
		d, _ := obj["description"].(string)
		if len(c) < 1 || len(c) > 32 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			probs = append(probs, fmt.Sprintf("%s: command %q: want 1-32 of a-z 0-9 _", path, c))
		}
		if n := len([]rune(d)); n < 1 || n > 256 {
			probs = append(probs, fmt.Sprintf("%s: description is %d characters, want 1-256", path, n))
		}
	}
	return probs
}

// fakeMsg is a message the bot sent, as the fake keeps it.
type fakeMsg struct {
	ID      int
	Chat    int64
	Text    string
	Buttons [][]fakeButton
	Edits   int
	At      time.Time
}

type fakeButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// labels lists the buttons' texts, row by row.
func (m fakeMsg) labels() []string {
	var out []string
	for _, row := range m.Buttons {
		for _, b := range row {
			out = append(out, b.Text)
		}
	}
	return out
}

// fakeCall is one request the fake answered.
type fakeCall struct {
	Method string
	Chat   int64
	At     time.Time
	Params map[string]string
	Status int // statusHeld: held open until the client went away
	Seq    int // orders calls and pushed updates
	MsgID  int // sendMessage: the id of the message it made, if any
}

// statusHeld is the Status of a call held open without an answer (see hold).
const statusHeld = -2

// fakePush is an update the fake made for a participant (not a redelivery).
type fakePush struct {
	Seq  int
	ID   int64
	From int64
}

// hold keeps one matching request open and unanswered until the client goes
// away, as when the bot's process is killed mid-request.
type hold struct {
	method  string
	chat    int64 // 0: any
	update  int64 // getUpdates: held when its offset would confirm this update
	deliver bool  // sendMessage: the message reaches the chat although no answer comes back
	arrived chan struct{}
}

// failRule makes the fake answer one matching request with an error.
type failRule struct {
	method     string
	chat       int64 // 0: any
	code       int
	desc       string
	retryAfter int
	cut        bool // read the request, then drop the connection without answering
}

// fakeTG is a fake Bot API server. It answers the methods the bot uses,
// checks every request against the published spec (and the limits the spec
// states in prose), enforces the rate limits, and plays participants who
// send messages and press buttons.
type fakeTG struct {
	t        testing.TB
	spec     *tgSpec
	srv      *httptest.Server
	token    string
	botID    int64
	username string

	// limits enforced on messages sent or edited (0: not enforced)
	botPerSec   int
	chatPerSec  int
	groupPerMin int

	mu              sync.Mutex
	closed          bool
	updates         []json.RawMessage // not yet confirmed
	updateIDs       []int64
	nextUpdate      int64
	newUpdate       chan struct{} // closed when an update is added
	pollGen         int           // getUpdates calls: a newer one ends an older
	chats           map[int64][]*fakeMsg
	nextMsg         int
	calls           []*fakeCall
	problems        []string
	limitViolations int
	blocked         map[int64]bool
	fails           []failRule
	answered        map[string]string // callback query id -> text
	commands        []byte
	webhook         struct{ url, secret string }
	sendTimes       []time.Time
	chatTimes       map[int64][]time.Time
	nextQuery       int
	seq             int           // last Seq given to a call or a push
	pushes          []fakePush    // updates made, in order
	holds           []*hold       // armed, not yet triggered
	deliveries      map[int64]int // update id -> times getUpdates returned it
}

// newFake starts a fake Bot API server; it closes when the test ends.
func newFake(t testing.TB) *fakeTG {
	f := &fakeTG{
		t:          t,
		spec:       specFor(t),
		token:      "123456:TEST-token_abc",
		botID:      123456,
		username:   "consult_test_bot",
		botPerSec:  30,
		chatPerSec: 1,
		nextUpdate: 1000,
		newUpdate:  make(chan struct{}),
		chats:      map[int64][]*fakeMsg{},
		nextMsg:    100,
		blocked:    map[int64]bool{},
		answered:   map[string]string{},
		chatTimes:  map[int64][]time.Time{},
		deliveries: map[int64]int{},
	}
	f.groupPerMin = 20
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.close)
	return f
}

func (f *fakeTG) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// URL is the API base URL to give the bot.
func (f *fakeTG) URL() string { return f.srv.URL }

// problem records a request that breaks the Bot API contract and fails the test.
func (f *fakeTG) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	closed := f.closed
	f.mu.Unlock()
	if !closed {
		f.t.Errorf("fake Telegram: %s", msg)
	}
}

// readParams reads a request's parameters: multipart or URL-encoded form
// fields, or the fields of a JSON object body.
func (f *fakeTG) readParams(r *http.Request) (map[string]param, error) {
	params := map[string]param{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		var obj map[string]json.RawMessage
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &obj); err != nil {
				return nil, fmt.Errorf("JSON body: %w", err)
			}
		}
		for k, v := range obj {
			params[k] = param{raw: string(v), json: true}
		}
	case "multipart/form-data":
		// go-telegram/bot sends a method without parameters (getMe) as an
		// empty body: no parts, not even the closing boundary.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if len(body) == 0 {
			return params, nil
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			return nil, fmt.Errorf("multipart body: %w", err)
		}
		for k, v := range r.MultipartForm.Value {
			if len(v) != 1 {
				return nil, fmt.Errorf("field %s sent %d times", k, len(v))
			}
			params[k] = param{raw: v[0]}
		}
		for k := range r.MultipartForm.File {
			params[k] = param{raw: "<file>"}
		}
	case "application/x-www-form-urlencoded", "":
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, v := range r.PostForm {
			if len(v) != 1 {
				return nil, fmt.Errorf("field %s sent %d times", k, len(v))
			}
			params[k] = param{raw: v[0]}
		}
	default:
		return nil, fmt.Errorf("content type %q", ct)
	}
	return params, nil
}

// str is a parameter's value as a string.
func (p param) str() string {
	if p.json {
		var s string
		if json.Unmarshal([]byte(p.raw), &s) == nil {
			return s
		}
	}
	return p.raw
}

func writeOK(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func writeErr(w http.ResponseWriter, code int, desc string, retryAfter int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	json.NewEncoder(w).Encode(body)
}

// sends reports whether a method sends or changes a message: those count
// against the rate limits.
func sends(method string) bool {
	return method == "sendMessage" || method == "editMessageText" || method == "editMessageReplyMarkup"
}

func (f *fakeTG) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(path, "/")
	if !ok || !ok2 || r.Method != http.MethodPost && r.Method != http.MethodGet {
		f.problem("request to %s %s", r.Method, r.URL.Path)
		writeErr(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	if token != f.token {
		writeErr(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	params, err := f.readParams(r)
	if err != nil {
		f.problem("%s: unreadable request: %v", method, err)
		writeErr(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	if f.spec != nil {
		for _, p := range f.spec.checkRequest(method, params) {
			f.problem("%s", p)
		}
	}
	f.checkLimits(method, params)

	var chat int64
	if p, ok := params["chat_id"]; ok {
		chat, _ = strconv.ParseInt(p.str(), 10, 64)
	}
	now := time.Now()
	flat := map[string]string{}
	for k, p := range params {
		flat[k] = p.str()
	}
	// The call is logged before it is answered: a test that sees the
	// answer's effect sees the call.
	call := &fakeCall{Method: method, Chat: chat, At: now, Params: flat, Status: http.StatusOK}
	f.mu.Lock()
	f.seq++
	call.Seq = f.seq
	f.calls = append(f.calls, call)
	h := f.takeHold(method, chat, params)
	f.mu.Unlock()
	status := func(code int) {
		f.mu.Lock()
		call.Status = code
		f.mu.Unlock()
	}
	if h != nil {
		f.holdOpen(r, h, call, params)
		return
	}

	f.mu.Lock()
	rule, failing := f.takeFail(method, chat)
	f.mu.Unlock()
	if failing {
		if rule.cut {
			status(-1)
			hj, ok := w.(http.Hijacker)
			if !ok {
				f.problem("cannot cut the connection")
				return
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		status(rule.code)
		writeErr(w, rule.code, rule.desc, rule.retryAfter)
		return
	}
	if sends(method) {
		f.mu.Lock()
		blocked := f.blocked[chat]
		over := !blocked && f.overLimit(chat, now)
		f.mu.Unlock()
		if blocked {
			status(http.StatusForbidden)
			writeErr(w, http.StatusForbidden, "Forbidden: bot was blocked by the user", 0)
			return
		}
		if over {
			status(http.StatusTooManyRequests)
			writeErr(w, http.StatusTooManyRequests, "Too Many Requests: retry after 1", 1)
			return
		}
	}

	switch method {
	case "getMe":
		writeOK(w, map[string]any{"id": f.botID, "is_bot": true, "first_name": "Consult", "username": f.username})
	case "setMyCommands":
		f.mu.Lock()
		f.commands = []byte(params["commands"].str())
		f.mu.Unlock()
		writeOK(w, true)
	case "setWebhook":
		f.mu.Lock()
		f.webhook.url, f.webhook.secret = params["url"].str(), params["secret_token"].str()
		f.mu.Unlock()
		writeOK(w, true)
	case "deleteWebhook":
		f.mu.Lock()
		f.webhook.url, f.webhook.secret = "", ""
		f.mu.Unlock()
		writeOK(w, true)
	case "answerCallbackQuery":
		f.mu.Lock()
		f.answered[params["callback_query_id"].str()] = params["text"].str()
		f.mu.Unlock()
		writeOK(w, true)
	case "getUpdates":
		f.getUpdates(w, r, params, status)
	case "sendMessage":
		m := &fakeMsg{Chat: chat, Text: params["text"].str(), At: now}
		if p, ok := params["reply_markup"]; ok {
			m.Buttons = keyboardOf(p.str())
		}
		f.mu.Lock()
		f.nextMsg++
		m.ID = f.nextMsg
		call.MsgID = m.ID
		f.chats[chat] = append(f.chats[chat], m)
		out := f.messageJSON(m)
		f.mu.Unlock()
		writeOK(w, out)
	case "editMessageText", "editMessageReplyMarkup":
		id, _ := strconv.Atoi(params["message_id"].str())
		f.mu.Lock()
		m := f.find(chat, id)
		if m == nil {
			f.mu.Unlock()
			status(http.StatusBadRequest)
			writeErr(w, http.StatusBadRequest, "Bad Request: message to edit not found", 0)
			return
		}
		text, buttons := m.Text, [][]fakeButton(nil)
		if method == "editMessageText" {
			text = params["text"].str()
		}
		if p, ok := params["reply_markup"]; ok {
			buttons = keyboardOf(p.str())
		}
		if text == m.Text && slices.EqualFunc(buttons, m.Buttons, slices.Equal) {
			f.mu.Unlock()
			status(http.StatusBadRequest)
			writeErr(w, http.StatusBadRequest, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message", 0)
			return
		}
		m.Text, m.Buttons = text, buttons
		m.Edits++
		out := f.messageJSON(m)
		f.mu.Unlock()
		writeOK(w, out)
	default:
		f.problem("unexpected method %s", method)
		writeErr(w, http.StatusNotFound, "Not Found", 0)
	}
}

// checkLimits checks the limits of values the spec states in prose.
func (f *fakeTG) checkLimits(method string, params map[string]param) {
	if p, ok := params["text"]; ok && (method == "sendMessage" || method == "editMessageText") {
		n := utf16Len(p.str())
		if n < 1 || n > 4096 || strings.TrimSpace(p.str()) == "" {
			f.problem("%s: text is %d characters, want 1-4096 and not blank", method, n)
		}
	}
	if p, ok := params["text"]; ok && method == "answerCallbackQuery" && utf16Len(p.str()) > 200 {
		f.problem("answerCallbackQuery: text is %d characters, want 0-200", utf16Len(p.str()))
	}
	if p, ok := params["secret_token"]; ok && method == "setWebhook" {
		if err := checkSecret(p.str()); err != nil {
			f.problem("setWebhook: secret_token %q: %v", p.str(), err)
		}
	}
	if method == "sendMessage" || strings.HasPrefix(method, "editMessage") {
		if p, ok := params["chat_id"]; ok {
			if _, err := strconv.ParseInt(p.str(), 10, 64); err != nil {
				f.problem("%s: chat_id %q is not a chat id", method, p.str())
			}
		}
	}
	if strings.HasPrefix(method, "editMessage") {
		if _, ok := params["message_id"]; !ok {
			f.problem("%s: without message_id (and no inline_message_id)", method)
		}
	}
}

// overLimit records a message to chat at now and reports whether it breaks
// a rate limit (counted as a violation). f.mu must be held.
func (f *fakeTG) overLimit(chat int64, now time.Time) bool {
	var why string
	if f.botPerSec > 0 {
		n := 0
		for i := len(f.sendTimes) - 1; i >= 0 && now.Sub(f.sendTimes[i]) < time.Second; i-- {
			n++
		}
		if n >= f.botPerSec {
			var gaps []string
			for i := len(f.sendTimes) - n; i < len(f.sendTimes); i++ {
				gaps = append(gaps, f.sendTimes[i].Sub(f.sendTimes[max(i-1, 0)]).Round(time.Millisecond).String())
			}
			why = fmt.Sprintf("%d messages within a second from the bot (gaps %s, then %s)", n+1, strings.Join(gaps, " "), now.Sub(f.sendTimes[len(f.sendTimes)-1]).Round(time.Millisecond))
		}
	}
	times := f.chatTimes[chat]
	if chat < 0 && f.groupPerMin > 0 {
		n := 0
		for i := len(times) - 1; i >= 0 && now.Sub(times[i]) < time.Minute; i-- {
			n++
		}
		if n >= f.groupPerMin {
			why = fmt.Sprintf("%d messages within a minute to group %d", n+1, chat)
		}
	}
	if chat > 0 && f.chatPerSec > 0 {
		n := 0
		for i := len(times) - 1; i >= 0 && now.Sub(times[i]) < time.Second; i-- {
			n++
		}
		if n >= f.chatPerSec {
			why = fmt.Sprintf("%d messages within a second to chat %d (last %v ago)", n+1, chat, now.Sub(times[len(times)-1]))
		}
	}
	if why != "" {
		f.limitViolations++
		f.problems = append(f.problems, "rate limit: "+why)
		if !f.closed {
			f.t.Errorf("fake Telegram: rate limit broken: %s", why)
		}
		return true
	}
	f.sendTimes = append(f.sendTimes, now)
	f.chatTimes[chat] = append(times, now)
	return false
}

// takeFail returns and removes the first failure rule matching a request.
// f.mu must be held.
func (f *fakeTG) takeFail(method string, chat int64) (failRule, bool) {
	for i, r := range f.fails {
		if r.method == method && (r.chat == 0 || r.chat == chat) {
			f.fails = slices.Delete(f.fails, i, i+1)
			return r, true
		}
	}
	return failRule{}, false
}

// failNext makes the next matching request fail as rule says.
func (f *fakeTG) failNext(rule failRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, rule)
}

// holdNext holds the next request of method (to chat, unless 0) open
// without an answer until the client goes away. With deliver, a held
// sendMessage reaches the chat all the same: Telegram did its work, the
// answer was lost.
func (f *fakeTG) holdNext(method string, chat int64, deliver bool) *hold {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &hold{method: method, chat: chat, deliver: deliver, arrived: make(chan struct{})}
	f.holds = append(f.holds, h)
	return h
}

// holdNextConfirm holds open the getUpdates call that would confirm the
// next update pushed: Telegram keeps that update and delivers it again.
func (f *fakeTG) holdNextConfirm() *hold {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &hold{method: "getUpdates", update: f.nextUpdate + 1, arrived: make(chan struct{})}
	f.holds = append(f.holds, h)
	return h
}

// takeHold returns and removes the first hold a request matches; f.mu
// must be held.
func (f *fakeTG) takeHold(method string, chat int64, params map[string]param) *hold {
	for i, h := range f.holds {
		if h.method != method || (h.chat != 0 && h.chat != chat) {
			continue
		}
		if h.update != 0 {
			offset, _ := strconv.ParseInt(params["offset"].str(), 10, 64)
			if offset <= h.update {
				continue
			}
		}
		f.holds = slices.Delete(f.holds, i, i+1)
		return h
	}
	return nil
}

// holdOpen answers nothing until the client goes away; then a held
// sendMessage that delivers reaches the chat.
func (f *fakeTG) holdOpen(r *http.Request, h *hold, call *fakeCall, params map[string]param) {
	f.mu.Lock()
	call.Status = statusHeld
	f.mu.Unlock()
	close(h.arrived)
	<-r.Context().Done()
	if !h.deliver || h.method != "sendMessage" {
		return
	}
	m := &fakeMsg{Chat: call.Chat, Text: params["text"].str(), At: time.Now()}
	if p, ok := params["reply_markup"]; ok {
		m.Buttons = keyboardOf(p.str())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked[m.Chat] || f.overLimit(m.Chat, m.At) {
		return
	}
	f.nextMsg++
	m.ID = f.nextMsg
	call.MsgID = m.ID
	f.chats[m.Chat] = append(f.chats[m.Chat], m)
}

// wait waits until the held request has arrived, failing the test after a
// deadline.
func (h *hold) wait(t testing.TB) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for a %s request to hold", h.method)
	}
}

// delivered is how many times getUpdates returned update id.
func (f *fakeTG) delivered(id int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deliveries[id]
}

// block makes every message to chat fail with 403, as when the person
// blocked the bot.
func (f *fakeTG) block(chat int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[chat] = true
}

func keyboardOf(raw string) [][]fakeButton {
	var kb struct {
		InlineKeyboard [][]fakeButton `json:"inline_keyboard"`
	}
	json.Unmarshal([]byte(raw), &kb)
	if len(kb.InlineKeyboard) == 0 {
		return nil
	}
	return kb.InlineKeyboard
}

// find returns a message by chat and id; f.mu must be held.
func (f *fakeTG) find(chat int64, id int) *fakeMsg {
	for _, m := range f.chats[chat] {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func chatJSON(chat int64) map[string]any {
	if chat < 0 {
		return map[string]any{"id": chat, "type": "supergroup", "title": "Action group"}
	}
	return map[string]any{"id": chat, "type": "private", "first_name": "P" + strconv.FormatInt(chat, 10)}
}

// messageJSON is a message of the bot's as the API returns it; f.mu must be held.
func (f *fakeTG) messageJSON(m *fakeMsg) map[string]any {
	out := map[string]any{
		"message_id": m.ID,
		"date":       m.At.Unix(),
		"chat":       chatJSON(m.Chat),
		"from":       map[string]any{"id": f.botID, "is_bot": true, "first_name": "Consult", "username": f.username},
		"text":       m.Text,
	}
	if len(m.Buttons) > 0 {
		out["reply_markup"] = map[string]any{"inline_keyboard": m.Buttons}
	}
	return out
}

// getUpdates answers a long poll, telling status how.
func (f *fakeTG) getUpdates(w http.ResponseWriter, r *http.Request, params map[string]param, status func(int)) {
	offset, _ := strconv.ParseInt(params["offset"].str(), 10, 64)
	limit, _ := strconv.Atoi(params["limit"].str())
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(params["timeout"].str())
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	f.mu.Lock()
	f.pollGen++
	gen := f.pollGen
	f.mu.Unlock()
	for {
		f.mu.Lock()
		if gen != f.pollGen {
			f.mu.Unlock()
			status(http.StatusConflict)
			writeErr(w, http.StatusConflict, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running", 0)
			return
		}
		if f.webhook.url != "" {
			f.mu.Unlock()
			status(http.StatusConflict)
			writeErr(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0)
			return
		}
		// An offset confirms every update before it.
		for len(f.updateIDs) > 0 && offset > 0 && f.updateIDs[0] < offset {
			f.updateIDs, f.updates = f.updateIDs[1:], f.updates[1:]
		}
		var out []json.RawMessage
		for i, id := range f.updateIDs {
			if id >= offset && len(out) < limit {
				out = append(out, f.updates[i])
			}
		}
		wait := f.newUpdate
		for _, raw := range out {
			if id, err := updateID(raw); err == nil {
				f.deliveries[id]++
			}
		}
		f.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(deadline) {
			if out == nil {
				out = []json.RawMessage{}
			}
			writeOK(w, out)
			return
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-wait:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			status(0)
			return
		}
		t.Stop()
	}
}

// push queues an update (update_id is filled in) and returns its id.
func (f *fakeTG) push(u map[string]any) int64 {
	f.mu.Lock()
	f.nextUpdate++
	id := f.nextUpdate
	u["update_id"] = id
	raw, err := json.Marshal(u)
	if err != nil {
		f.mu.Unlock()
		f.t.Fatalf("fake Telegram: %v", err)
	}
	f.updates = append(f.updates, raw)
	f.updateIDs = append(f.updateIDs, id)
	f.seq++
	f.pushes = append(f.pushes, fakePush{Seq: f.seq, ID: id, From: fromOf(u)})
	close(f.newUpdate)
	f.newUpdate = make(chan struct{})
	f.mu.Unlock()
	f.checkUpdate(raw)
	return id
}

// fromOf is the user an update the fake made comes from; 0 when none.
func fromOf(u map[string]any) int64 {
	for _, kind := range []string{"message", "callback_query"} {
		if m, ok := u[kind].(map[string]any); ok {
			if from, ok := m["from"].(map[string]any); ok {
				id, _ := from["id"].(int64)
				return id
			}
		}
	}
	return 0
}

// redeliver queues an update again as it was, as Telegram does when it was
// not confirmed.
func (f *fakeTG) redeliver(raw json.RawMessage) {
	id, err := updateID(raw)
	if err != nil {
		f.t.Fatalf("fake Telegram: %v", err)
	}
	f.mu.Lock()
	f.updates = append(f.updates, raw)
	f.updateIDs = append(f.updateIDs, id)
	close(f.newUpdate)
	f.newUpdate = make(chan struct{})
	f.mu.Unlock()
}

// checkUpdate checks an update the fake made against the spec, so the
// tests feed the bot what Telegram would.
func (f *fakeTG) checkUpdate(raw []byte) {
	if f.spec == nil {
		return
	}
	v, err := decodeJSON(string(raw))
	if err != nil {
		f.t.Errorf("fake Telegram made an unreadable update: %v", err)
		return
	}
	for _, p := range f.spec.validate("Update", v, "update") {
		f.t.Errorf("fake Telegram made an update the spec refuses: %s", p)
	}
}

func (f *fakeTG) userJSON(user int64) map[string]any {
	return map[string]any{"id": user, "is_bot": false, "first_name": "P" + strconv.FormatInt(user, 10), "language_code": "en"}
}

// message is an update: user types text in chat.
func (f *fakeTG) message(user, chat int64, text string) map[string]any {
	f.mu.Lock()
	f.nextMsg++
	id := f.nextMsg
	f.mu.Unlock()
	return map[string]any{"message": map[string]any{
		"message_id": id,
		"date":       time.Now().Unix(),
		"chat":       chatJSON(chat),
		"from":       f.userJSON(user),
		"text":       text,
	}}
}

// say has user type text in their private chat.
func (f *fakeTG) say(user int64, text string) int64 {
	return f.push(f.message(user, user, text))
}

// callback is an update: user presses a button with data on message msg.
func (f *fakeTG) callback(user int64, msg fakeMsg, data string) map[string]any {
	f.mu.Lock()
	f.nextQuery++
	q := "q" + strconv.Itoa(f.nextQuery)
	f.mu.Unlock()
	m := map[string]any{
		"message_id": msg.ID,
		"date":       msg.At.Unix(),
		"chat":       chatJSON(msg.Chat),
		"from":       map[string]any{"id": f.botID, "is_bot": true, "first_name": "Consult", "username": f.username},
		"text":       msg.Text,
	}
	if msg.At.IsZero() {
		m["date"] = 1
	}
	return map[string]any{"callback_query": map[string]any{
		"id":            q,
		"from":          f.userJSON(user),
		"message":       m,
		"chat_instance": "ci" + strconv.FormatInt(msg.Chat, 10),
		"data":          data,
	}}
}

// press has user press the button labelled label (ticks aside) on msg. It
// returns the update's id and the callback query's id.
func (f *fakeTG) press(user int64, msg fakeMsg, label string) (int64, string) {
	f.t.Helper()
	for _, row := range msg.Buttons {
		for _, b := range row {
			if strings.TrimPrefix(b.Text, "✓ ") == label {
				u := f.callback(user, msg, b.CallbackData)
				q := u["callback_query"].(map[string]any)["id"].(string)
				return f.push(u), q
			}
		}
	}
	f.t.Fatalf("no button %q on message %d (%q); buttons: %q", label, msg.ID, msg.Text, msg.labels())
	return 0, ""
}

// pressData has user press a button whose data is data (forged, when the
// bot did not make it).
func (f *fakeTG) pressData(user int64, msg fakeMsg, data string) (int64, string) {
	u := f.callback(user, msg, data)
	q := u["callback_query"].(map[string]any)["id"].(string)
	return f.push(u), q
}

// sent returns copies of the messages the bot has in chat, oldest first.
func (f *fakeTG) sent(chat int64) []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fakeMsg, len(f.chats[chat]))
	for i, m := range f.chats[chat] {
		out[i] = *m
		out[i].Buttons = slices.Clone(m.Buttons)
	}
	return out
}

// last returns the bot's latest message in chat.
func (f *fakeTG) last(chat int64) (fakeMsg, bool) {
	s := f.sent(chat)
	if len(s) == 0 {
		return fakeMsg{}, false
	}
	return s[len(s)-1], true
}

// callsOf returns the requests of a method, oldest first.
func (f *fakeTG) callsOf(method string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, *c)
		}
	}
	return out
}

// answer returns the text a callback query was answered with.
func (f *fakeTG) answer(query string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.answered[query]
	return s, ok
}

// pendingUpdates is how many updates Telegram still holds unconfirmed.
func (f *fakeTG) pendingUpdates() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.updates)
}

// violations returns the rate-limit violations seen.
func (f *fakeTG) violations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limitViolations
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ctxFor is a context that ends with the test.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
