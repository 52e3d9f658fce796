package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consultbot/consultbot/storage"
)

// metricsTimeout bounds the store reads of one scrape.
const metricsTimeout = 10 * time.Second

// metricsContentType is the Prometheus text exposition format, version 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metricsSource is what the metrics endpoint reads from the store.
type metricsSource interface {
	OutboxCounts(ctx context.Context, channel string) (map[string]int, error)
	InboxCount(ctx context.Context, channel string) (int, error)
}

var _ metricsSource = (*storage.Store)(nil)

// outboxStatuses is the order the outbox statuses are written in; any other
// status the store reports follows, sorted.
func outboxStatuses() []string {
	return []string{storage.OutPending, storage.OutClaimed, storage.OutSending, storage.OutUnknown, storage.OutFailed}
}

// metricsHandler serves GET /metrics in the Prometheus text format: outbox
// items by channel and status, inbox items waiting by channel, and the
// process's goroutines. When the store cannot be read the scrape fails
// (500), so no stale or partial figures are recorded.
func metricsHandler(st *storage.Store, channels []string) http.Handler {
	return &metrics{src: st, channels: slices.Clone(channels)}
}

type metrics struct {
	src      metricsSource
	channels []string
}

func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), metricsTimeout)
	defer cancel()
	var buf bytes.Buffer
	if err := m.write(ctx, &buf); err != nil {
		http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", metricsContentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// write reads the figures and writes them in the exposition format.
func (m *metrics) write(ctx context.Context, w io.Writer) error {
	type sample struct {
		labels [][2]string
		value  int
	}
	var outbox, inbox []sample
	for _, ch := range m.channels {
		counts, err := m.src.OutboxCounts(ctx, ch)
		if err != nil {
			return err
		}
		statuses := outboxStatuses()
		var others []string
		for st := range counts {
			if !slices.Contains(statuses, st) {
				others = append(others, st)
			}
		}
		slices.Sort(others)
		for _, st := range append(statuses, others...) {
			outbox = append(outbox, sample{[][2]string{{"channel", ch}, {"status", st}}, counts[st]})
		}
		n, err := m.src.InboxCount(ctx, ch)
		if err != nil {
			return err
		}
		inbox = append(inbox, sample{[][2]string{{"channel", ch}}, n})
	}

	family := func(name, help, kind string, samples []sample) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, kind)
		for _, s := range samples {
			io.WriteString(w, name)
			if len(s.labels) > 0 {
				io.WriteString(w, "{")
				for i, l := range s.labels {
					if i > 0 {
						io.WriteString(w, ",")
					}
					fmt.Fprintf(w, "%s=\"%s\"", l[0], escapeLabelValue(l[1]))
				}
				io.WriteString(w, "}")
			}
			fmt.Fprintf(w, " %d\n", s.value)
		}
	}
	family("consultbot_outbox_items",
		"Outbox items by channel and status: pending, claimed and sending are still to be delivered; unknown (the request left, no answer came) and failed are kept from those that went out.",
		"gauge", outbox)
	family("consultbot_inbox_pending", "Received updates stored but not yet processed, by channel.", "gauge", inbox)
	family("go_goroutines", "Number of goroutines that currently exist.", "gauge",
		[]sample{{value: runtime.NumGoroutine()}})
	return nil
}

// escapeLabelValue escapes a label value: backslash, double quote and line feed.
func escapeLabelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
