package flows

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day and Week are the units ParseDuration adds to Go's.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// durationUnit gives the length of a duration unit, and false for an
// unknown unit.
func durationUnit(u string) (time.Duration, bool) {
	switch u {
	case "ns":
		return time.Nanosecond, true
	case "us", "µs", "μs": // U+00B5 micro sign, U+03BC Greek mu
		return time.Microsecond, true
	case "ms":
		return time.Millisecond, true
	case "s":
		return time.Second, true
	case "m":
		return time.Minute, true
	case "h":
		return time.Hour, true
	case "d":
		return Day, true
	case "w":
		return Week, true
	}
	return 0, false
}

// errDurationRange is returned for a duration too long to represent.
var errDurationRange = errors.New("duration is too long")

// ParseDuration parses a duration as time.ParseDuration does, with two more
// units: d (24 hours) and w (7 days). "90m", "48h", "2d", "1w2d" and "1.5d"
// are durations; a number without a unit is not, except "0".
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q", orig)
	}
	var total uint64
	for s != "" {
		// The number: digits, optionally a fraction.
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		whole, frac := s[:i], ""
		if i < len(s) && s[i] == '.' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			frac = s[i+1 : j]
			i = j
		}
		if whole == "" && frac == "" {
			return 0, fmt.Errorf("invalid duration %q", orig)
		}
		s = s[i:]
		// The unit: everything up to the next digit or dot.
		j := 0
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("missing unit in duration %q", orig)
		}
		unit, ok := durationUnit(s[:j])
		if !ok {
			return 0, fmt.Errorf("unknown unit %q in duration %q", s[:j], orig)
		}
		s = s[j:]
		v, err := durationPart(whole, frac, uint64(unit))
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", orig, err)
		}
		if total+v < total || total+v > 1<<63 {
			return 0, fmt.Errorf("invalid duration %q: %w", orig, errDurationRange)
		}
		total += v
	}
	if neg {
		return -time.Duration(total), nil
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("invalid duration %q: %w", orig, errDurationRange)
	}
	return time.Duration(total), nil
}

// durationPart returns whole.frac units, in nanoseconds, rounded down.
func durationPart(whole, frac string, unit uint64) (uint64, error) {
	var v uint64
	if whole != "" {
		w, err := strconv.ParseUint(whole, 10, 64)
		if err != nil || w > (1<<63)/unit {
			return 0, errDurationRange
		}
		v = w * unit
	}
	// Each fractional digit is worth a tenth of the one before it.
	scale := float64(unit)
	f := 0.0
	for _, c := range frac {
		scale /= 10
		f += float64(c-'0') * scale
	}
	fv := uint64(f)
	if v+fv < v || v+fv > 1<<63 {
		return 0, errDurationRange
	}
	return v + fv, nil
}

// ParseQuietHours parses a daily quiet window "HH:MM-HH:MM" in local time,
// such as "21:00-09:00" (the window may cross midnight), or "none" for no
// quiet hours.
func ParseQuietHours(s string) (QuietHours, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "none") {
		return QuietHours{}, nil
	}
	from, to, ok := strings.Cut(t, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("invalid quiet hours %q: write a start and an end, like \"21:00-09:00\", or none", s)
	}
	start, err := parseClock(strings.TrimSpace(from))
	if err != nil {
		return QuietHours{}, fmt.Errorf("invalid quiet hours %q: %w", s, err)
	}
	end, err := parseClock(strings.TrimSpace(to))
	if err != nil {
		return QuietHours{}, fmt.Errorf("invalid quiet hours %q: %w", s, err)
	}
	if start == end {
		return QuietHours{}, fmt.Errorf("invalid quiet hours %q: the start and end are the same; write none for no quiet hours", s)
	}
	return QuietHours{Start: start, End: end}, nil
}

// parseClock parses "H:MM" or "HH:MM" (00:00 to 23:59) as minutes since
// midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) {
		return 0, fmt.Errorf("%q is not a time of day like 09:00", s)
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 23:59", s)
	}
	return hh*60 + mm, nil
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
