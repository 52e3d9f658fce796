package tgbot

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/consultbot/consultbot/flows"
)

func TestCommand(t *testing.T) {
	tests := []struct {
		text   string
		cmd    flows.Command
		arg    string
		wantOK bool
	}{
		{"/start", flows.CmdStart, "", true},
		{"/start ABC123", flows.CmdStart, "ABC123", true},
		{"  /start   ABC123  ", flows.CmdStart, "ABC123", true},
		{"/Skip", flows.CmdSkip, "", true},
		{"/help@consult_test_bot", flows.CmdHelp, "", true},
		{"/mydata", flows.CmdMyData, "", true},
		{"/withdraw", flows.CmdWithdraw, "", true},
		{"/frobnicate", flows.CmdHelp, "", true},
		{"/pause\nplease", flows.CmdPause, "please", true},
		{"/ I think so", "", "", false},
		{"/12/2026", "", "", false},
		{"yes", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		cmd, arg, ok := command(tt.text)
		if cmd != tt.cmd || arg != tt.arg || ok != tt.wantOK {
			t.Errorf("command(%q) = %q, %q, %v; want %q, %q, %v", tt.text, cmd, arg, ok, tt.cmd, tt.arg, tt.wantOK)
		}
	}
}

func user(id int64) map[string]any {
	return map[string]any{"id": id, "is_bot": false, "first_name": "P", "language_code": "cy"}
}

func privateChat(id int64) map[string]any {
	return map[string]any{"id": id, "type": "private", "first_name": "P"}
}

func groupChat(id int64) map[string]any {
	return map[string]any{"id": id, "type": "supergroup", "title": "Action group"}
}

func msgUpdate(from int64, chat map[string]any, fields map[string]any) map[string]any {
	m := map[string]any{"message_id": 5, "date": 1700000000, "chat": chat, "from": user(from)}
	for k, v := range fields {
		m[k] = v
	}
	return map[string]any{"update_id": 9, "message": m}
}

func cbUpdate(from int64, chat map[string]any, data string, accessible bool) map[string]any {
	m := map[string]any{"message_id": 77, "date": 1700000000, "chat": chat, "text": "Q?"}
	if !accessible {
		m = map[string]any{"message_id": 77, "date": 0, "chat": chat}
	}
	return map[string]any{"update_id": 9, "callback_query": map[string]any{
		"id": "cq1", "from": user(from), "message": m, "chat_instance": "x", "data": data,
	}}
}

func TestDecode(t *testing.T) {
	d := decoder{sig: newSigner("1:x"), username: "consult_test_bot"}
	good, _ := d.sig.sign(42, "t2:red")
	elsewhere, _ := d.sig.sign(43, "t2:red")
	base := flows.Input{ID: "tg:u:9", Participant: "tg:42", Channel: Channel, Language: "cy", ReplyTo: "42"}
	with := func(f func(in *flows.Input)) *flows.Input {
		in := base
		f(&in)
		return &in
	}
	tests := []struct {
		name    string
		update  map[string]any
		want    event
		ignored bool
	}{
		{
			name:   "typed answer",
			update: msgUpdate(42, privateChat(42), map[string]any{"text": "I would say it differently"}),
			want:   event{key: "tg:42", input: with(func(in *flows.Input) { in.Text = "I would say it differently" })},
		},
		{
			name:   "deep link start",
			update: msgUpdate(42, privateChat(42), map[string]any{"text": "/start K7Q2XM"}),
			want:   event{key: "tg:42", input: with(func(in *flows.Input) { in.Command, in.Arg = flows.CmdStart, "K7Q2XM" })},
		},
		{
			name:   "command",
			update: msgUpdate(42, privateChat(42), map[string]any{"text": "/back"}),
			want:   event{key: "tg:42", input: with(func(in *flows.Input) { in.Command = flows.CmdBack })},
		},
		{
			name:   "caption counts as text",
			update: msgUpdate(42, privateChat(42), map[string]any{"caption": "this one", "photo": []any{map[string]any{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}}}),
			want:   event{key: "tg:42", input: with(func(in *flows.Input) { in.Text = "this one" })},
		},
		{
			name:   "sticker",
			update: msgUpdate(42, privateChat(42), map[string]any{"sticker": map[string]any{"file_id": "f"}}),
			want:   event{key: "tg:42", notice: &flows.Reply{Text: msgOnlyText}, noticeTo: "42", noticeWho: "tg:42"},
		},
		{
			name:   "button",
			update: cbUpdate(42, privateChat(42), good, true),
			want:   event{key: "tg:42", callback: "cq1", input: with(func(in *flows.Input) { in.Choice, in.Ref = "t2:red", "42:77" })},
		},
		{
			name:   "button on a message too old to read",
			update: cbUpdate(42, privateChat(42), good, false),
			want:   event{key: "tg:42", callback: "cq1", input: with(func(in *flows.Input) { in.Choice, in.Ref = "t2:red", "42:77" })},
		},
		{
			name:   "forged button",
			update: cbUpdate(42, privateChat(42), "t2:red", true),
			want:   event{key: "tg:42", callback: "cq1", callbackTxt: msgBadButton},
		},
		{
			name:   "button made for another chat",
			update: cbUpdate(42, privateChat(42), elsewhere, true),
			want:   event{key: "tg:42", callback: "cq1", callbackTxt: msgBadButton},
		},
		{
			name:   "button in a group",
			update: cbUpdate(42, groupChat(-100), good, true),
			want:   event{key: "tg:42", callback: "cq1", callbackTxt: "Consultations run in a private chat with me: open https://t.me/consult_test_bot"},
		},
		{
			name:   "start in a group",
			update: msgUpdate(42, groupChat(-100), map[string]any{"text": "/start@consult_test_bot K7Q2XM"}),
			want:   event{key: "chat:-100", notice: &flows.Reply{Text: "I run consultations in private chats, so that answers stay between you and the team. Open a private chat with me: https://t.me/consult_test_bot?start=K7Q2XM"}, noticeTo: "-100"},
		},
		{
			name:   "mention in a group",
			update: msgUpdate(42, groupChat(-100), map[string]any{"text": "hey @Consult_Test_Bot what is this"}),
			want:   event{key: "chat:-100", notice: &flows.Reply{Text: "I run consultations in private chats, so that answers stay between you and the team. Open a private chat with me: https://t.me/consult_test_bot"}, noticeTo: "-100"},
		},
		{name: "chatter in a group", update: msgUpdate(42, groupChat(-100), map[string]any{"text": "see you on Monday"}), ignored: true},
		{name: "another bot's command in a group", update: msgUpdate(42, groupChat(-100), map[string]any{"text": "/start@other_bot"}), ignored: true},
		{
			name: "blocked",
			update: map[string]any{"update_id": 9, "my_chat_member": map[string]any{
				"chat": privateChat(42), "from": user(42), "date": 1,
				"old_chat_member": map[string]any{"status": "member", "user": user(1)},
				"new_chat_member": map[string]any{"status": "kicked", "user": user(1), "until_date": 0},
			}},
			want: event{key: "tg:42", blocked: "tg:42"},
		},
		{name: "edited message", update: map[string]any{"update_id": 9, "edited_message": map[string]any{"message_id": 1}}, ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.update)
			if err != nil {
				t.Fatal(err)
			}
			if s := specFor(t); s != nil {
				v, _ := decodeJSON(string(raw))
				if probs := s.validate("Update", v, "update"); len(probs) > 0 && !strings.Contains(tt.name, "edited") && !strings.Contains(tt.name, "sticker") {
					t.Fatalf("test update breaks the spec: %v", probs)
				}
			}
			got, err := d.decode(flows.Received{ID: "tg:u:9", Channel: Channel, Payload: raw})
			if tt.ignored {
				if !errors.Is(err, errIgnored) {
					t.Errorf("got %+v, %v; want errIgnored", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v (input %+v)\nwant %+v (input %+v)", got, got.input, tt.want, tt.want.input)
			}
		})
	}
}

func TestDecodeUnreadable(t *testing.T) {
	d := decoder{sig: newSigner("1:x")}
	_, err := d.decode(flows.Received{ID: "tg:u:1", Payload: []byte("{not json")})
	if err == nil || errors.Is(err, errIgnored) {
		t.Errorf("got %v, want a decoding error", err)
	}
}

func TestDestination(t *testing.T) {
	tests := []struct {
		name    string
		m       flows.Outgoing
		want    int64
		wantErr bool
	}{
		{"address", flows.Outgoing{To: "42", Participant: "tg:7"}, 42, false},
		{"group address", flows.Outgoing{To: "tg:-1001234"}, -1001234, false},
		{"person only", flows.Outgoing{Participant: "tg:7"}, 7, false},
		{"edit", flows.Outgoing{To: "42", EditRef: "-5:9"}, -5, false},
		{"bad edit", flows.Outgoing{To: "42", EditRef: "-5"}, 0, true},
		{"nowhere", flows.Outgoing{Participant: "slack:T:U"}, 0, true},
	}
	for _, tt := range tests {
		got, err := destination(tt.m)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: got %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUpdateID(t *testing.T) {
	tests := []struct {
		raw     string
		want    int64
		wantErr bool
	}{
		{`{"update_id": 123, "message": {}}`, 123, false},
		{`{"update_id": 0}`, 0, false},
		{`{"message": {}}`, 0, true},
		{`[1]`, 0, true},
	}
	for _, tt := range tests {
		got, err := updateID([]byte(tt.raw))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("updateID(%s) = %d, %v; want %d, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}
