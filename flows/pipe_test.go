package flows

import (
	"testing"
	"time"
)

func TestPipe(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	c := &Consultation{
		Title:    Text{"en": "Check-in", "cy": "Gwirio i mewn"},
		Language: "en",
		Location: london,
		ClosesAt: time.Date(2026, 7, 20, 16, 0, 0, 0, time.UTC),
		Questions: []Question{
			{ID: "clarity", Type: TypeScale, Labels: map[int]Text{5: {"en": "Very clear", "cy": "Clir iawn"}}},
			{ID: "role", Type: TypeChoice, Options: []Option{{Value: "peer", Label: Text{"en": "Peer mentor", "cy": "Mentor cymheiriaid"}}, {Value: "pro", Label: Plain("Professional")}}},
			{ID: "topics", Type: TypeMulti, Options: []Option{{Value: "housing", Label: Plain("Housing")}, {Value: "gp", Label: Plain("Seeing a GP")}}},
			{ID: "when", Type: TypeDate},
			{ID: "cost", Type: TypeNumber},
			{ID: "coming", Type: TypeYesNo},
			{ID: "why", Type: TypeText},
		},
	}
	answers := map[string]Answer{
		"clarity": {Type: TypeScale, Number: 5},
		"role":    {Type: TypeChoice, Text: "peer"},
		"topics":  {Type: TypeMulti, Values: []string{"housing", "gp"}},
		"when":    {Type: TypeDate, Text: "2026-12-01"},
		"cost":    {Type: TypeNumber, Number: 12.5},
		"coming":  {Type: TypeYesNo, Text: "yes"},
		"why":     {Type: TypeText, Text: "It matters {{title}}"},
	}
	tests := []struct {
		text, lang string
		answers    map[string]Answer
		want       string
	}{
		{"no placeholders", "", answers, "no placeholders"},
		{"{{title}}", "", answers, "Check-in"},
		{"{{ title }}", "cy", answers, "Gwirio i mewn"},
		{"Closes {{closes_at}}.", "", answers, "Closes Monday 20 July 2026, 17:00 BST."},
		{"You rated it {{answers.clarity}}.", "", answers, "You rated it 5 (Very clear)."},
		{"{{answers.clarity}}", "cy", answers, "5 (Clir iawn)"},
		{"{{answers.clarity}}", "", map[string]Answer{"clarity": {Type: TypeScale, Number: 3}}, "3"},
		{"{{answers.role}}", "", answers, "Peer mentor"},
		{"{{answers.role}}", "cy", answers, "Mentor cymheiriaid"},
		{"{{answers.role}}", "fr", answers, "Peer mentor"},
		{"{{answers.role}}", "", map[string]Answer{"role": {Type: TypeChoice, Text: "gone"}}, "gone"},
		{"{{answers.topics}}", "", answers, "Housing, Seeing a GP"},
		{"{{answers.when}}", "", answers, "Tuesday 1 December 2026"},
		{"£{{answers.cost}}", "", answers, "£12.5"},
		{"{{answers.coming}}", "", answers, "yes"},
		{"{{answers.why}}", "", answers, "It matters {{title}}"},
		{"[{{answers.why}}]", "", nil, "[" + NoAnswer + "]"},
		{"{{answers.nothing}}", "", answers, NoAnswer},
		{"{{unknown}} and {{title}}", "", answers, "{{unknown}} and Check-in"},
		{"{{title} and {{", "", answers, "{{title} and {{"},
		{"{{title}}{{title}}", "", answers, "Check-inCheck-in"},
	}
	for _, tt := range tests {
		if got := Pipe(tt.text, tt.answers, c, tt.lang); got != tt.want {
			t.Errorf("Pipe(%q, %q) = %q, want %q", tt.text, tt.lang, got, tt.want)
		}
	}
	if got, want := Pipe("{{title}} {{answers.x}}", map[string]Answer{"x": {Type: TypeText, Text: "hi"}}, nil, ""), "{{title}} hi"; got != want {
		t.Errorf("Pipe without a consultation = %q, want %q", got, want)
	}
	if got, want := Pipe("closes {{closes_at}}", nil, &Consultation{}, ""), "closes "; got != want {
		t.Errorf("Pipe with no closes_at = %q, want %q", got, want)
	}
}

func TestReadableTime(t *testing.T) {
	at := time.Date(2026, 12, 20, 17, 0, 0, 0, time.UTC)
	if got, want := ReadableTime(at, nil), "Sunday 20 December 2026, 17:00 UTC"; got != want {
		t.Errorf("ReadableTime = %q, want %q", got, want)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ReadableTime(at, ny), "Sunday 20 December 2026, 12:00 EST"; got != want {
		t.Errorf("ReadableTime = %q, want %q", got, want)
	}
}
