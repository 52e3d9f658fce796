package flows

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "90m", want: 90 * time.Minute},
		{in: "48h", want: 48 * time.Hour},
		{in: "2d", want: 48 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "1w2d3h", want: (9*24 + 3) * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: ".5h", want: 30 * time.Minute},
		{in: "1h30m10s", want: time.Hour + 30*time.Minute + 10*time.Second},
		{in: "300ms", want: 300 * time.Millisecond},
		{in: "2us", want: 2 * time.Microsecond},
		{in: "2µs", want: 2 * time.Microsecond},
		{in: "5ns", want: 5},
		{in: "-2d", want: -48 * time.Hour},
		{in: "+3h", want: 3 * time.Hour},
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "15250w", want: 15250 * 7 * 24 * time.Hour},
		{in: "", wantErr: true},
		{in: "90", wantErr: true},
		{in: "2 days", wantErr: true},
		{in: "2days", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1y", wantErr: true},
		{in: ".d", wantErr: true},
		{in: "-", wantErr: true},
		{in: "16000w", wantErr: true},
		{in: "99999999999999999999h", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestParseDurationAgreesWithGo checks that durations without d or w
// parse as time.ParseDuration parses them.
func TestParseDurationAgreesWithGo(t *testing.T) {
	for _, s := range []string{"1h", "1.25h", "3m20s", "1h2m3s4ms5us6ns", "0.000001s", "2562047h", "-1.5h", "100.999ns"} {
		want, werr := time.ParseDuration(s)
		got, gerr := ParseDuration(s)
		if got != want || (werr == nil) != (gerr == nil) {
			t.Errorf("ParseDuration(%q) = %v, %v; time.ParseDuration gives %v, %v", s, got, gerr, want, werr)
		}
	}
}

func TestParseQuietHours(t *testing.T) {
	tests := []struct {
		in      string
		want    QuietHours
		wantErr string
	}{
		{in: "21:00-09:00", want: QuietHours{Start: 21 * 60, End: 9 * 60}},
		{in: " 22:30 - 7:15 ", want: QuietHours{Start: 22*60 + 30, End: 7*60 + 15}},
		{in: "00:00-06:00", want: QuietHours{Start: 0, End: 6 * 60}},
		{in: "none", want: QuietHours{}},
		{in: "None", want: QuietHours{}},
		{in: "21:00", wantErr: `invalid quiet hours "21:00": write a start and an end, like "21:00-09:00", or none`},
		{in: "9pm-9am", wantErr: `invalid quiet hours "9pm-9am": "9pm" is not a time of day like 09:00`},
		{in: "24:00-06:00", wantErr: `invalid quiet hours "24:00-06:00": "24:00" is not a time of day between 00:00 and 23:59`},
		{in: "21:60-06:00", wantErr: `invalid quiet hours "21:60-06:00": "21:60" is not a time of day between 00:00 and 23:59`},
		{in: "21:00-21:00", wantErr: `invalid quiet hours "21:00-21:00": the start and end are the same; write none for no quiet hours`},
	}
	for _, tt := range tests {
		got, err := ParseQuietHours(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseQuietHours(%q): got %v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseQuietHours(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if !(QuietHours{}).Off() {
		t.Error("QuietHours{}.Off() = false, want true")
	}
}
