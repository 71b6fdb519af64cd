package isoduration

import (
	"testing"
	"time"
)

func TestFormatParse(t *testing.T) {
	cases := []struct {
		d time.Duration
		s string
	}{
		{time.Minute, "PT1M"},
		{30 * time.Second, "PT30S"},
		{14 * 24 * time.Hour, "P14D"},
		{10*time.Minute + 500*time.Millisecond, "PT10M0.5S"},
		{25*time.Hour + time.Second, "P1DT1H1S"},
		{0, "PT0S"},
		{Infinite, MaxTimeSpan},
	}
	for _, c := range cases {
		if got := Format(c.d); got != c.s {
			t.Errorf("Format(%v) = %q, want %q", c.d, got, c.s)
		}
		got, err := Parse(c.s)
		if err != nil || got != c.d {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.s, got, err, c.d)
		}
	}
	for in, want := range map[string]time.Duration{"PT1H30M": 90 * time.Minute, "P1W": 7 * 24 * time.Hour, "00:01:00": time.Minute, "1.00:00:00": 24 * time.Hour, "P20000000D": Infinite} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "P1Y", "P1M", "1 minute", "PTxS", "P1DT"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"PT1M", MaxTimeSpan, "P1DT2H", "00:00:05"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil || d < 0 || d == Infinite {
			return
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, d, Format(d), back, err)
		}
	})
}
