// Package isoduration formats and parses the ISO 8601 durations Azure APIs
// use for time spans ("PT1M", "P14D", "P10675199DT2H48M5.4775807S"), as .NET's
// XmlConvert does for TimeSpan.
package isoduration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxTimeSpan is .NET's TimeSpan.MaxValue as Azure writes it: the "never" of
// defaultMessageTimeToLive and autoDeleteOnIdle.
const MaxTimeSpan = "P10675199DT2H48M5.4775807S"

// Infinite is the Go duration that stands for MaxTimeSpan.
const Infinite time.Duration = math.MaxInt64

// Format writes d as .NET does (days, hours, minutes, seconds with up to 7
// fractional digits); Infinite becomes MaxTimeSpan.
func Format(d time.Duration) string {
	if d == Infinite {
		return MaxTimeSpan
	}
	neg := d < 0
	if neg {
		d = -d
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteByte('P')
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	frac := d - s*time.Second
	if h == 0 && m == 0 && s == 0 && frac == 0 {
		if days == 0 {
			return "PT0S"
		}
		return b.String()
	}
	b.WriteByte('T')
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if s > 0 || frac > 0 {
		if frac > 0 {
			fs := strings.TrimRight(fmt.Sprintf("%07d", int64(frac/100)), "0")
			fmt.Fprintf(&b, "%d.%sS", s, fs)
		} else {
			fmt.Fprintf(&b, "%dS", s)
		}
	}
	return b.String()
}

// ErrSyntax is returned for a string that is not an ISO 8601 duration.
var ErrSyntax = errors.New("not an ISO 8601 duration")

// Parse reads an ISO 8601 duration (years and months are refused: they have
// no fixed length). Values at or beyond MaxTimeSpan give Infinite. .NET's
// "d.hh:mm:ss" TimeSpan form is accepted too.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == MaxTimeSpan {
		return Infinite, nil
	}
	if !strings.HasPrefix(s, "P") && !strings.HasPrefix(s, "-P") {
		return parseTimeSpan(s)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "P")
	if s == "" {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	datePart, timePart, hasT := strings.Cut(s, "T")
	if hasT && timePart == "" {
		return 0, fmt.Errorf("%w: empty time part", ErrSyntax)
	}
	var total float64 // seconds
	units := func(part string, allowed map[byte]float64) error {
		for part != "" {
			i := 0
			for i < len(part) && (part[i] >= '0' && part[i] <= '9' || part[i] == '.') {
				i++
			}
			if i == 0 || i == len(part) {
				return fmt.Errorf("%w: %q", ErrSyntax, part)
			}
			v, err := strconv.ParseFloat(part[:i], 64)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrSyntax, part[:i])
			}
			mult, ok := allowed[part[i]]
			if !ok {
				return fmt.Errorf("%w: unit %q is not supported", ErrSyntax, part[i])
			}
			total += v * mult
			part = part[i+1:]
		}
		return nil
	}
	if err := units(datePart, map[byte]float64{'W': 7 * 86400, 'D': 86400}); err != nil {
		return 0, err
	}
	if err := units(timePart, map[byte]float64{'H': 3600, 'M': 60, 'S': 1}); err != nil {
		return 0, err
	}
	if total >= float64(Infinite)/1e9 {
		return Infinite, nil
	}
	d := time.Duration(total*1e9 + 0.5)
	if neg {
		d = -d
	}
	return d, nil
}

// parseTimeSpan reads .NET's "[d.]hh:mm:ss[.fffffff]" form.
func parseTimeSpan(s string) (time.Duration, error) {
	var days int64
	rest := s
	if i := strings.Index(s, "."); i >= 0 && i < strings.Index(s, ":") {
		d, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
		}
		days, rest = d, s[i+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	total := float64(days*86400+h*3600+m*60) + sec
	if total >= float64(Infinite)/1e9 {
		return Infinite, nil
	}
	return time.Duration(total*1e9 + 0.5), nil
}
