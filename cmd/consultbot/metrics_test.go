package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

func openTestStore(t *testing.T) *storage.Store {
	t.Helper()
	st, err := storage.Open(t.Context(), storage.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return st
}

// checkExposition checks text against the Prometheus text format 0.0.4:
// every line a HELP, a TYPE or a sample; one HELP and one TYPE per family,
// before its samples; no series twice; a final line feed.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("got output not ending in a line feed: %q", text)
	}
	name := `[a-zA-Z_:][a-zA-Z0-9_:]*`
	help := regexp.MustCompile(`^# HELP (` + name + `) (?:[^\\\n]|\\\\|\\n)*$`)
	typ := regexp.MustCompile(`^# TYPE (` + name + `) (counter|gauge|histogram|summary|untyped)$`)
	label := `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"`
	sample := regexp.MustCompile(`^(` + name + `)(\{(?:` + label + `)(?:,` + label + `)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$`)
	helped, typed, series := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case help.MatchString(line):
			n := help.FindStringSubmatch(line)[1]
			if helped[n] {
				t.Errorf("line %d: got a second HELP for %s", i+1, n)
			}
			helped[n] = true
		case typ.MatchString(line):
			n := typ.FindStringSubmatch(line)[1]
			if typed[n] {
				t.Errorf("line %d: got a second TYPE for %s", i+1, n)
			}
			typed[n] = true
		case sample.MatchString(line):
			m := sample.FindStringSubmatch(line)
			if !typed[m[1]] || !helped[m[1]] {
				t.Errorf("line %d: got a sample of %s before its HELP and TYPE", i+1, m[1])
			}
			if series[m[1]+m[2]] {
				t.Errorf("line %d: got series %s%s twice", i+1, m[1], m[2])
			}
			series[m[1]+m[2]] = true
		default:
			t.Errorf("line %d: got %q, want a HELP, TYPE or sample line", i+1, line)
		}
	}
}

func scrape(t *testing.T, h http.Handler, method string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/metrics", nil))
	return rec.Result()
}

func TestMetricsOnARealStore(t *testing.T) {
	ctx := t.Context()
	st := openTestStore(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	out := func(channel, id string) flows.Outgoing {
		return flows.Outgoing{ID: id, Channel: channel, Participant: channel + ":1", To: "1", Reply: flows.Reply{Text: "hello"}, Created: now}
	}
	// Telegram: m1 failed, m2 sending, m3 unknown, m4 claimed, m5 pending.
	if err := st.Enqueue(ctx, out("telegram", "m1"), out("telegram", "m2"), out("telegram", "m3"), out("telegram", "m4")); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Claim(ctx, "telegram", "A", 10, time.Minute, now); err != nil || len(got) != 4 {
		t.Fatalf("Claim: got %d items, %v; want 4", len(got), err)
	}
	if err := st.Enqueue(ctx, out("telegram", "m5")); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return st.Failed(ctx, "m1", "400 Bad Request: chat not found", now) },
		func() error { return st.Sending(ctx, "m2", "A", now) },
		func() error { return st.Sending(ctx, "m3", "A", now) },
		func() error { return st.Unknown(ctx, "m3", "timeout", now) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// Slack: one pending.
	if err := st.Enqueue(ctx, out("slack", "s1")); err != nil {
		t.Fatal(err)
	}
	// Inbox: two Telegram updates waiting, one processed, one Slack processed.
	for _, r := range []flows.Received{
		{ID: "tg:u:1", Channel: "telegram", At: now},
		{ID: "tg:u:2", Channel: "telegram", At: now},
		{ID: "tg:u:3", Channel: "telegram", At: now},
		{ID: "slack:e:1", Channel: "slack", At: now},
	} {
		if _, err := st.InboxPut(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"tg:u:1", "slack:e:1"} {
		if err := st.InboxDone(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	h := metricsHandler(st, []string{"telegram", "slack"})
	res := scrape(t, h, http.MethodGet)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200; body:\n%s", res.StatusCode, body)
	}
	if got := res.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("got Content-Type %q, want the text exposition format 0.0.4", got)
	}
	checkExposition(t, string(body))

	want := `# TYPE consultbot_outbox_items gauge
consultbot_outbox_items{channel="telegram",status="pending"} 1
consultbot_outbox_items{channel="telegram",status="claimed"} 1
consultbot_outbox_items{channel="telegram",status="sending"} 1
consultbot_outbox_items{channel="telegram",status="unknown"} 1
consultbot_outbox_items{channel="telegram",status="failed"} 1
consultbot_outbox_items{channel="slack",status="pending"} 1
consultbot_outbox_items{channel="slack",status="claimed"} 0
consultbot_outbox_items{channel="slack",status="sending"} 0
consultbot_outbox_items{channel="slack",status="unknown"} 0
consultbot_outbox_items{channel="slack",status="failed"} 0
# HELP consultbot_inbox_pending Received updates stored but not yet processed, by channel.
# TYPE consultbot_inbox_pending gauge
consultbot_inbox_pending{channel="telegram"} 2
consultbot_inbox_pending{channel="slack"} 0
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines `
	text := string(body)
	if i := strings.Index(text, "# TYPE consultbot_outbox_items"); i < 0 || !strings.HasPrefix(text[i:], want) {
		t.Errorf("got\n%s\nwant it to hold\n%s<n>", text, want)
	}
	if !strings.HasPrefix(text, "# HELP consultbot_outbox_items ") {
		t.Errorf("got output starting %q, want the outbox family's HELP first", text[:min(len(text), 40)])
	}

	head := scrape(t, h, http.MethodHead)
	if b, _ := io.ReadAll(head.Body); head.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD: got status %d with %d bytes, want 200 with none", head.StatusCode, len(b))
	}
}

// fakeMetrics answers with fixed figures or an error.
type fakeMetrics struct {
	outbox map[string]int
	err    error
}

func (f fakeMetrics) OutboxCounts(context.Context, string) (map[string]int, error) {
	return f.outbox, f.err
}

func (f fakeMetrics) InboxCount(context.Context, string) (int, error) { return 0, f.err }

func TestMetricsCases(t *testing.T) {
	for _, tc := range []struct {
		name       string
		src        fakeMetrics
		channels   []string
		method     string
		wantStatus int
		wantLines  []string
	}{
		{
			name:       "no channels",
			method:     http.MethodGet,
			wantStatus: http.StatusOK,
			wantLines:  []string{"# TYPE consultbot_outbox_items gauge", "# TYPE consultbot_inbox_pending gauge"},
		},
		{
			name:       "label values escaped, unknown statuses sorted after the known ones",
			src:        fakeMetrics{outbox: map[string]int{storage.OutPending: 3, "zeta": 2, "held-ish": 1}},
			channels:   []string{"we\"ird\\chan\nnel"},
			method:     http.MethodGet,
			wantStatus: http.StatusOK,
			wantLines: []string{
				`consultbot_outbox_items{channel="we\"ird\\chan\nnel",status="pending"} 3`,
				`consultbot_outbox_items{channel="we\"ird\\chan\nnel",status="failed"} 0`,
				`consultbot_outbox_items{channel="we\"ird\\chan\nnel",status="held-ish"} 1`,
				`consultbot_outbox_items{channel="we\"ird\\chan\nnel",status="zeta"} 2`,
				`consultbot_inbox_pending{channel="we\"ird\\chan\nnel"} 0`,
			},
		},
		{
			name:       "store error fails the scrape",
			src:        fakeMetrics{err: errors.New("storage: no server")},
			channels:   []string{"telegram"},
			method:     http.MethodGet,
			wantStatus: http.StatusInternalServerError,
			wantLines:  []string{"metrics: storage: no server"},
		},
		{
			name:       "POST refused",
			method:     http.MethodPost,
			wantStatus: http.StatusMethodNotAllowed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := scrape(t, &metrics{src: tc.src, channels: tc.channels}, tc.method)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d; body:\n%s", res.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus == http.StatusOK {
				checkExposition(t, string(body))
			}
			lines := strings.Split(string(body), "\n")
			last := -1
			for _, want := range tc.wantLines {
				i := indexFrom(lines, want, last+1)
				if i < 0 {
					t.Errorf("got\n%s\nwant the line %s (after the ones before it)", body, want)
					continue
				}
				last = i
			}
		})
	}
}

func indexFrom(lines []string, want string, from int) int {
	for i := from; i < len(lines); i++ {
		if lines[i] == want {
			return i
		}
	}
	return -1
}

func TestMetricsClosedStore(t *testing.T) {
	st, err := storage.Open(t.Context(), storage.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := scrape(t, metricsHandler(st, []string{"telegram"}), http.MethodGet)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(string(body), "metrics: ") {
		t.Errorf("got status %d, body %q; want 500 saying what failed", res.StatusCode, body)
	}
	if strings.Contains(string(body), "consultbot_") {
		t.Errorf("got figures in a failed scrape: %q", body)
	}
}
