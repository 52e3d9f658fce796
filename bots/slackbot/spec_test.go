package slackbot

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// errRecorder is a testing.TB that keeps the errors reported to it.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The fake's spec check catches what the real Slack would refuse.
func TestFakeChecksRequestsAgainstSpec(t *testing.T) {
	if loadSpec(t) == nil {
		t.Skip("the Slack Web API spec (../shared/specs from the module root) is absent: nothing to check against")
	}
	tests := []struct {
		name    string
		method  string
		vals    url.Values
		token   string
		wantErr string // "" for none
	}{
		{"a good post", "chat.postMessage", url.Values{"channel": {"D1"}, "text": {"hi"}, "blocks": {"[]"}}, "xoxb-1", ""},
		{"post without channel", "chat.postMessage", url.Values{"text": {"hi"}}, "xoxb-1", `required parameter "channel"`},
		{"update without ts", "chat.update", url.Values{"channel": {"D1"}, "text": {"hi"}}, "xoxb-1", `required parameter "ts"`},
		{"a parameter the method does not take", "chat.postMessage", url.Values{"channel": {"D1"}, "colour": {"red"}}, "xoxb-1", `parameter "colour"`},
		{"no token", "conversations.open", url.Values{"users": {"U1"}}, "", "without a token"},
		{"a method that does not exist", "chat.postMassage", url.Values{"channel": {"D1"}}, "xoxb-1", "not a Slack Web API method"},
		{"apps.connections.open with a bot token", "apps.connections.open", url.Values{}, "xoxb-1", "app-level token"},
		{"apps.connections.open", "apps.connections.open", url.Values{}, "xapp-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &errRecorder{TB: t}
			f := newFakeSlack(rec)
			f.check(tt.method, tt.vals, tt.token)
			got := strings.Join(rec.errs, "; ")
			if tt.wantErr == "" && got != "" || tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
				t.Errorf("got %q, want %q", got, tt.wantErr)
			}
		})
	}
}

// And Block Kit's limits, which the spec states only in prose.
func TestFakeChecksBlockLimits(t *testing.T) {
	button := func(text, value, id string) fakeElement {
		return fakeElement{Type: "button", Text: &fakeText{Type: "plain_text", Text: text}, Value: value, ActionID: id}
	}
	many := func(n int) []fakeElement {
		out := make([]fakeElement, n)
		for i := range out {
			out[i] = button("b", "v", fmt.Sprint("a", i))
		}
		return out
	}
	tests := []struct {
		name    string
		blocks  []fakeBlock
		wantErr string
	}{
		{"fine", []fakeBlock{{Type: "actions", Elements: many(25)}}, ""},
		{"51 blocks", make([]fakeBlock, 51), "over 50"},
		{"26 buttons in a block", []fakeBlock{{Type: "actions", Elements: many(26)}}, "want 1 to 25"},
		{"long button text", []fakeBlock{{Type: "actions", Elements: []fakeElement{button(strings.Repeat("x", 76), "v", "a")}}}, "1 to 75"},
		{"long value", []fakeBlock{{Type: "actions", Elements: []fakeElement{button("b", strings.Repeat("x", 2001), "a")}}}, "over 2000"},
		{"long action id", []fakeBlock{{Type: "actions", Elements: []fakeElement{button("b", "v", strings.Repeat("x", 256))}}}, "1 to 255"},
		{"action id twice", []fakeBlock{{Type: "actions", Elements: []fakeElement{button("b", "v", "a"), button("c", "w", "a")}}}, "used twice"},
		{"long section", []fakeBlock{{Type: "section", Text: &fakeText{Type: "mrkdwn", Text: strings.Repeat("x", 3001)}}}, "over 3000"},
	}
	for _, tt := range tests {
		err := checkBlocks(tt.blocks)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if tt.wantErr == "" && got != "" || tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.wantErr)
		}
	}
}
