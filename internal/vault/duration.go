package vault

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// isoDuration is an ISO-8601 duration PnYnMnWnDTnHnMnS with whole-number
// components, as Key Vault rotation policies use ("P90D", "P1Y", "PT48H").
type isoDuration struct {
	years, months, weeks, days int
	hours, minutes, seconds    int
}

// maxDurationComponent bounds each component so that adding a duration to a
// time never overflows.
const maxDurationComponent = 100000

// parseISODuration parses an ISO-8601 duration. It accepts the designators
// in order, each at most once, upper or lower case, and needs at least one
// component (and at least one after a "T").
func parseISODuration(s string) (isoDuration, error) {
	var d isoDuration
	bad := func(why string) (isoDuration, error) {
		return isoDuration{}, fmt.Errorf("'%s' is not an ISO-8601 duration such as P90D, P1Y2M or PT48H: %s", clip(s), why)
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "P") {
		return bad("it must start with P")
	}
	rest := u[1:]
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return bad("a T must be followed by hours, minutes or seconds")
	}
	n := 0
	parse := func(part, designators string, fields []*int) error {
		order := 0
		for part != "" {
			i := 0
			for i < len(part) && part[i] >= '0' && part[i] <= '9' {
				i++
			}
			if i == 0 || i == len(part) {
				return fmt.Errorf("expected a number followed by one of %s", designators)
			}
			v, err := strconv.Atoi(part[:i])
			if err != nil || v > maxDurationComponent {
				return fmt.Errorf("component %s is too large", part[:i])
			}
			pos := strings.IndexByte(designators, part[i])
			if pos < 0 {
				return fmt.Errorf("unknown designator %q", part[i])
			}
			if pos < order {
				return fmt.Errorf("designator %q is out of order or repeated", part[i])
			}
			order = pos + 1
			*fields[pos] = v
			n++
			part = part[i+1:]
		}
		return nil
	}
	if err := parse(datePart, "YMWD", []*int{&d.years, &d.months, &d.weeks, &d.days}); err != nil {
		return bad(err.Error())
	}
	if err := parse(timePart, "HMS", []*int{&d.hours, &d.minutes, &d.seconds}); err != nil {
		return bad(err.Error())
	}
	if n == 0 {
		return bad("it has no components")
	}
	return d, nil
}

// addTo returns t plus the duration, calendar-wise for years, months, weeks
// and days.
func (d isoDuration) addTo(t time.Time) time.Time {
	t = t.AddDate(d.years, d.months, 7*d.weeks+d.days)
	return t.Add(time.Duration(d.hours)*time.Hour + time.Duration(d.minutes)*time.Minute + time.Duration(d.seconds)*time.Second)
}

// subFrom returns t minus the duration.
func (d isoDuration) subFrom(t time.Time) time.Time {
	t = t.AddDate(-d.years, -d.months, -(7*d.weeks + d.days))
	return t.Add(-(time.Duration(d.hours)*time.Hour + time.Duration(d.minutes)*time.Minute + time.Duration(d.seconds)*time.Second))
}

// approx is the duration measured from a fixed reference, for comparisons.
func (d isoDuration) approx() time.Duration {
	ref := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	return d.addTo(ref).Sub(ref)
}
