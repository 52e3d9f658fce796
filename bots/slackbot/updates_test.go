package slackbot

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/consultbot/consultbot/flows"
)

func TestCommandInput(t *testing.T) {
	tests := []struct {
		text string
		want flows.Input
	}{
		{"", flows.Input{Command: flows.CmdStart}},
		{"  ", flows.Input{Command: flows.CmdStart}},
		{"pause", flows.Input{Command: flows.CmdPause}},
		{"Withdraw", flows.Input{Command: flows.CmdWithdraw}},
		{"/skip", flows.Input{Command: flows.CmdSkip}},
		{"mydata", flows.Input{Command: flows.CmdMyData}},
		{"start  K7Q2-XY ", flows.Input{Command: flows.CmdStart, Arg: "K7Q2-XY"}},
		{"K7Q2-XY", flows.Input{Command: flows.CmdStart, Arg: "K7Q2-XY"}},
		{"pausing", flows.Input{Command: flows.CmdStart, Arg: "pausing"}},
		{"help\tme", flows.Input{Command: flows.CmdHelp, Arg: "me"}},
	}
	for _, tt := range tests {
		if got := commandInput(tt.text); got != tt.want {
			t.Errorf("commandInput(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func received(t *testing.T, kind string, body any) (flows.Received, bool) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	id, keep, err := inboxID(kind, raw)
	if err != nil {
		t.Fatalf("inboxID: %v", err)
	}
	payload, _ := json.Marshal(record{Kind: kind, Body: raw})
	return flows.Received{ID: id, Channel: Channel, Payload: payload}, keep
}

func TestDecodeEvents(t *testing.T) {
	f := &fakeSlack{t: t, Team: "T1"}
	typed := f.dmEvent("Ev1", "U1", "I&apos;d say &lt;b&gt; &amp; more ")
	botMsg := f.dmEvent("Ev2", "U1", "hello")
	botMsg["event"].(map[string]any)["bot_id"] = "B1"
	edit := f.dmEvent("Ev3", "U1", "hello")
	edit["event"].(map[string]any)["subtype"] = "message_changed"
	inChannel := f.dmEvent("Ev4", "U1", "hello")
	inChannel["event"].(map[string]any)["channel_type"] = "channel"
	other := f.dmEvent("Ev5", "U1", "")
	other["event"] = map[string]any{"type": "app_home_opened", "user": "U1"}

	tests := []struct {
		name string
		body map[string]any
		keep bool
		want flows.Input
	}{
		{"typed in the DM", typed, true, flows.Input{ID: "slack:e:Ev1", Participant: "slack:T1:U1", Channel: Channel, Text: "I&apos;d say <b> & more", ReplyTo: "DU1"}},
		{"the bot's own message", botMsg, false, flows.Input{}},
		{"an edit", edit, false, flows.Input{}},
		{"in a channel", inChannel, false, flows.Input{}},
		{"another event", other, false, flows.Input{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, keep := received(t, kindEvent, tt.body)
			if keep != tt.keep {
				t.Fatalf("got keep %v, want %v", keep, tt.keep)
			}
			u, err := decode(r)
			if !tt.keep {
				if !errors.Is(err, errIgnored) {
					t.Errorf("got error %v, want errIgnored", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(u.inputs) != 1 || u.inputs[0] != tt.want {
				t.Errorf("got %+v, want %+v", u.inputs, tt.want)
			}
		})
	}
}

func TestDecodeInteractions(t *testing.T) {
	f := &fakeSlack{t: t, Team: "T1"}
	_, blocks := rendered(t, flows.Reply{Text: "Tick", Question: "m", Multi: true, Choices: []flows.Choice{
		{Label: "A", Data: "t.a"}, {Label: "B", Data: "t.b", Selected: true}, {Label: "C", Data: "t.c"},
		{Label: "Skip", Data: "skip", Nav: true}, {Label: "Done", Data: "done", Nav: true},
	}})
	multi := &fakeMessage{Channel: "DU1", TS: "1.2", Blocks: blocks}
	_, blocks = rendered(t, flows.Reply{Text: "Pick", Question: "c", Choices: []flows.Choice{{Label: "Yes", Data: "y.1"}, {Label: "No", Data: "n.1"}}})
	plain := &fakeMessage{Channel: "DU1", TS: "3.4", Blocks: blocks}

	forged := f.press("U1", plain, valuePrefix+"y.1", nil)
	forged["actions"].([]any)[0].(map[string]any)["value"] = "not-ours"
	checkbox := f.press("U1", multi, multiNavPrefix+"done", nil)
	checkbox["actions"] = []any{map[string]any{"type": "checkboxes", "action_id": "m0", "block_id": "m:m0", "action_ts": "5.6"}}

	base := flows.Input{Participant: "slack:T1:U1", Channel: Channel, ReplyTo: "DU1"}
	in := func(suffix, choice, ref string) flows.Input { // the ID gets the payload's trigger id in front
		i := base
		i.ID, i.Choice, i.Ref = suffix, choice, ref
		return i
	}
	tests := []struct {
		name    string
		body    map[string]any
		keep    bool
		wantErr error
		want    []flows.Input
	}{
		{"a button", f.press("U1", plain, valuePrefix+"n.1", nil), true, nil,
			[]flows.Input{in("", "n.1", "DU1:3.4")}},
		{"done with ticks changed", f.press("U1", multi, multiNavPrefix+"done", []string{valuePrefix + "t.a", valuePrefix + "t.c"}), true, nil,
			[]flows.Input{in("/t1", "t.a", "DU1:1.2"), in("/t2", "t.b", "DU1:1.2"), in("/t3", "t.c", "DU1:1.2"), in("", "done", "DU1:1.2")}},
		{"done as shown", f.press("U1", multi, multiNavPrefix+"done", nil), true, nil,
			[]flows.Input{in("", "done", "DU1:1.2")}},
		{"skip with a tick", f.press("U1", multi, multiNavPrefix+"skip", []string{valuePrefix + "t.b", valuePrefix + "t.c"}), true, nil,
			[]flows.Input{in("/t1", "t.c", "DU1:1.2"), in("", "skip", "DU1:1.2")}},
		{"a value the bot did not produce", forged, false, nil, nil},
		{"ticking a checkbox", checkbox, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, keep := received(t, kindInteraction, tt.body)
			if keep != tt.keep {
				t.Fatalf("got keep %v, want %v", keep, tt.keep)
			}
			if !keep {
				// Stored anyway (another instance's older version kept it): still refused.
				raw, _ := json.Marshal(tt.body)
				r.Payload, _ = json.Marshal(record{Kind: kindInteraction, Body: raw})
				if _, err := decode(r); err == nil {
					t.Errorf("decode accepted it, want an error")
				}
				return
			}
			u, err := decode(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(u.inputs) != len(tt.want) {
				t.Fatalf("got %d inputs %+v, want %+v", len(u.inputs), u.inputs, tt.want)
			}
			for i := range tt.want {
				tt.want[i].ID = "slack:i:T1:" + tt.body["trigger_id"].(string) + tt.want[i].ID
				if u.inputs[i] != tt.want[i] {
					t.Errorf("input %d: got %+v, want %+v", i, u.inputs[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeCommands(t *testing.T) {
	f := &fakeSlack{t: t, Team: "T1"}
	tests := []struct {
		text string
		want flows.Input
	}{
		{"", flows.Input{ID: "slack:c:trig-1", Participant: "slack:T1:U9", Channel: Channel, Command: flows.CmdStart}},
		{"ABC123", flows.Input{ID: "slack:c:trig-2", Participant: "slack:T1:U9", Channel: Channel, Command: flows.CmdStart, Arg: "ABC123"}},
		{"stop", flows.Input{ID: "slack:c:trig-3", Participant: "slack:T1:U9", Channel: Channel, Command: flows.CmdStop}},
	}
	for _, tt := range tests {
		r, keep := received(t, kindCommand, f.slash("U9", tt.text, "C1"))
		if !keep {
			t.Fatalf("%q: not kept", tt.text)
		}
		u, err := decode(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.inputs) != 1 || u.inputs[0] != tt.want || u.dmUser != "U9" {
			t.Errorf("%q: got %+v (DM with %q), want %+v (DM with U9)", tt.text, u.inputs, u.dmUser, tt.want)
		}
	}
}

func TestInboxIDRefusesUnreadable(t *testing.T) {
	tests := []struct {
		kind, body string
	}{
		{kindEvent, "{"},
		{kindEvent, `{"type":"event_callback","event":{"type":"message","channel_type":"im","channel":"D1","user":"U1","text":"x"}}`},
		{kindInteraction, "[]"},
		{kindCommand, `{"user_id":"U1"}`},
		{"other", "{}"},
	}
	for _, tt := range tests {
		if _, _, err := inboxID(tt.kind, []byte(tt.body)); !errors.Is(err, errBadPayload) {
			t.Errorf("inboxID(%s, %s): got %v, want errBadPayload", tt.kind, tt.body, err)
		}
	}
}
