package template

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// dotnetFormat implements .NET composite formatting as format() uses it:
// "{index[,alignment][:formatString]}" items and "{{"/"}}" escapes.
func dotnetFormat(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		ch := f[i]
		switch ch {
		case '}':
			if i+1 < len(f) && f[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return "", errors.New("the format string has an unmatched '}'")
		case '{':
			if i+1 < len(f) && f[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", errors.New("the format string has an unmatched '{'")
			}
			item := f[i+1 : i+end]
			i += end
			spec := ""
			if c := strings.IndexByte(item, ':'); c >= 0 {
				item, spec = item[:c], item[c+1:]
			}
			align := 0
			if c := strings.IndexByte(item, ','); c >= 0 {
				a, err := strconv.Atoi(strings.TrimSpace(item[c+1:]))
				if err != nil || a > 1000 || a < -1000 {
					return "", fmt.Errorf("the format item '{%s}' has an invalid alignment", item)
				}
				item, align = item[:c], a
			}
			idx, err := strconv.Atoi(strings.TrimSpace(item))
			if err != nil || idx < 0 {
				return "", fmt.Errorf("the format item '{%s}' has an invalid index", item)
			}
			if idx >= len(args) {
				return "", fmt.Errorf("the format item index '%d' must be less than the number of arguments (%d)", idx, len(args))
			}
			s, err := formatValue(args[idx], spec)
			if err != nil {
				return "", err
			}
			if pad := abs(align) - utf8.RuneCountInString(s); pad > 0 {
				if align > 0 {
					s = strings.Repeat(" ", pad) + s
				} else {
					s += strings.Repeat(" ", pad)
				}
			}
			b.WriteString(s)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// formatValue formats one argument with a .NET format specifier.
func formatValue(v any, spec string) (string, error) {
	switch t := v.(type) {
	case int64:
		return formatInt(t, spec)
	case float64:
		return formatFloat(t, spec)
	}
	if s, ok := scalarString(v); ok {
		return s, nil
	}
	return compactJSON(v), nil
}

func precision(spec string, def int) (int, error) {
	if len(spec) <= 1 {
		return def, nil
	}
	p, err := strconv.Atoi(spec[1:])
	if err != nil || p < 0 || p > 99 {
		return 0, fmt.Errorf("the format specifier '%s' is not valid", spec)
	}
	return p, nil
}

// group inserts ',' thousands separators into a string of digits.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	lead := len(digits) % 3
	if lead > 0 {
		b.WriteString(digits[:lead])
	}
	for i := lead; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

func formatInt(v int64, spec string) (string, error) {
	if spec == "" {
		return strconv.FormatInt(v, 10), nil
	}
	switch spec[0] {
	case 'D', 'd':
		p, err := precision(spec, 0)
		if err != nil {
			return "", err
		}
		neg := v < 0
		digits := strconv.FormatUint(absU(v), 10)
		if len(digits) < p {
			digits = strings.Repeat("0", p-len(digits)) + digits
		}
		if neg {
			digits = "-" + digits
		}
		return digits, nil
	case 'X', 'x':
		p, err := precision(spec, 0)
		if err != nil {
			return "", err
		}
		h := strconv.FormatUint(uint64(v), 16)
		if spec[0] == 'X' {
			h = strings.ToUpper(h)
		}
		if len(h) < p {
			h = strings.Repeat("0", p-len(h)) + h
		}
		return h, nil
	case 'G', 'g':
		return strconv.FormatInt(v, 10), nil
	case 'N', 'n', 'F', 'f', 'P', 'p', 'E', 'e', 'C', 'c':
		if len(spec) == 1 || isDigits(spec[1:]) {
			return formatFloat(float64(v), spec)
		}
	}
	return formatCustom(float64(v), spec), nil
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func formatFloat(v float64, spec string) (string, error) {
	if spec == "" || spec == "G" || spec == "g" || spec == "R" || spec == "r" {
		return strconv.FormatFloat(v, 'G', -1, 64), nil
	}
	fixed := func(p int, grouped bool) string {
		s := strconv.FormatFloat(math.Abs(v), 'f', p, 64)
		intPart, frac := s, ""
		if dot := strings.IndexByte(s, '.'); dot >= 0 {
			intPart, frac = s[:dot], s[dot:]
		}
		if grouped {
			intPart = group(intPart)
		}
		out := intPart + frac
		if v < 0 && strings.Trim(out, "0.,") != "" {
			out = "-" + out
		}
		return out
	}
	switch spec[0] {
	case 'N', 'n':
		p, err := precision(spec, 2)
		if err != nil {
			return "", err
		}
		return fixed(p, true), nil
	case 'F', 'f':
		p, err := precision(spec, 2)
		if err != nil {
			return "", err
		}
		return fixed(p, false), nil
	case 'C', 'c':
		p, err := precision(spec, 2)
		if err != nil {
			return "", err
		}
		s := fixed(p, true)
		if strings.HasPrefix(s, "-") {
			return "-¤" + s[1:], nil
		}
		return "¤" + s, nil
	case 'P', 'p':
		p, err := precision(spec, 2)
		if err != nil {
			return "", err
		}
		v *= 100
		s := strconv.FormatFloat(math.Abs(v), 'f', p, 64)
		if dot := strings.IndexByte(s, '.'); dot >= 0 {
			s = group(s[:dot]) + s[dot:]
		} else {
			s = group(s)
		}
		if v < 0 {
			s = "-" + s
		}
		return s + " %", nil
	case 'E', 'e':
		p, err := precision(spec, 6)
		if err != nil {
			return "", err
		}
		s := strconv.FormatFloat(v, 'e', p, 64)
		// .NET writes a three-digit exponent: 1.0e+003.
		if k := strings.LastIndexAny(s, "+-"); k > 0 {
			exp := s[k+1:]
			for len(exp) < 3 {
				exp = "0" + exp
			}
			s = s[:k+1] + exp
		}
		if spec[0] == 'E' {
			s = strings.ToUpper(s)
		}
		return s, nil
	}
	return formatCustom(v, spec), nil
}

// formatCustom handles simple custom numeric formats made of '0', '#', ','
// and '.', such as "000", "#,##0" or "0.00"; other characters are copied.
func formatCustom(v float64, spec string) string {
	intSpec, fracSpec := spec, ""
	if dot := strings.IndexByte(spec, '.'); dot >= 0 {
		intSpec, fracSpec = spec[:dot], spec[dot+1:]
	}
	placeholders := func(s string) (zeros, all int) {
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '0':
				zeros++
				all++
			case '#':
				all++
			}
		}
		return
	}
	iz, iall := placeholders(intSpec)
	fz, fall := placeholders(fracSpec)
	if iall+fall == 0 {
		return spec
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', fall, 64)
	ip, fp := s, ""
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		ip, fp = s[:dot], s[dot+1:]
	}
	if ip == "0" && iz == 0 {
		ip = ""
	}
	for len(ip) < iz {
		ip = "0" + ip
	}
	if strings.Contains(intSpec, ",") {
		ip = group(ip)
	}
	for len(fp) > fz && strings.HasSuffix(fp, "0") {
		fp = fp[:len(fp)-1]
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if v < 0 && out != "" && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return out
}

// Dates.

const defaultUtcNowFormat = "yyyyMMddTHHmmssZ"

var standardDateFormats = map[byte]string{
	'd': "MM/dd/yyyy",
	'D': "dddd, dd MMMM yyyy",
	'f': "dddd, dd MMMM yyyy HH:mm",
	'F': "dddd, dd MMMM yyyy HH:mm:ss",
	'g': "MM/dd/yyyy HH:mm",
	'G': "MM/dd/yyyy HH:mm:ss",
	'm': "MMMM dd",
	'M': "MMMM dd",
	'o': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'O': "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	'r': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	'R': "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	's': "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
	't': "HH:mm",
	'T': "HH:mm:ss",
	'u': "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
	'U': "dddd, dd MMMM yyyy HH:mm:ss",
	'y': "yyyy MMMM",
	'Y': "yyyy MMMM",
}

// formatDate formats a UTC time with a .NET date format string.
func formatDate(t time.Time, f string) (string, error) {
	if len(f) == 1 {
		std, ok := standardDateFormats[f[0]]
		if !ok {
			return "", fmt.Errorf("the date format '%s' is not valid", f)
		}
		f = std
	}
	var b strings.Builder
	run := func(i int) int {
		n := 1
		for i+n < len(f) && f[i+n] == f[i] {
			n++
		}
		return n
	}
	pad := func(v, w int) string {
		s := strconv.Itoa(v)
		for len(s) < w {
			s = "0" + s
		}
		return s
	}
	for i := 0; i < len(f); {
		ch := f[i]
		n := run(i)
		switch ch {
		case 'y':
			y := t.Year()
			switch {
			case n <= 2:
				y %= 100
				b.WriteString(pad(y, n))
			default:
				b.WriteString(pad(y, n))
			}
		case 'M':
			switch {
			case n >= 4:
				b.WriteString(t.Month().String())
			case n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				b.WriteString(pad(int(t.Month()), n))
			}
		case 'd':
			switch {
			case n >= 4:
				b.WriteString(t.Weekday().String())
			case n == 3:
				b.WriteString(t.Weekday().String()[:3])
			default:
				b.WriteString(pad(t.Day(), n))
			}
		case 'H':
			b.WriteString(pad(t.Hour(), min(n, 2)))
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b.WriteString(pad(h, min(n, 2)))
		case 'm':
			b.WriteString(pad(t.Minute(), min(n, 2)))
		case 's':
			b.WriteString(pad(t.Second(), min(n, 2)))
		case 'f', 'F':
			if n > 7 {
				return "", fmt.Errorf("the date format '%s' is not valid", f)
			}
			frac := pad(t.Nanosecond()/100, 7)[:n]
			if ch == 'F' {
				frac = strings.TrimRight(frac, "0")
				if frac == "" && b.Len() > 0 && strings.HasSuffix(b.String(), ".") {
					s := b.String()
					b.Reset()
					b.WriteString(s[:len(s)-1])
				}
			}
			b.WriteString(frac)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if n == 1 {
				ampm = ampm[:1]
			}
			b.WriteString(ampm)
		case 'K':
			b.WriteString("Z")
			n = 1
		case 'z':
			switch {
			case n == 1:
				b.WriteString("+0")
			case n == 2:
				b.WriteString("+00")
			default:
				b.WriteString("+00:00")
			}
		case '\'', '"':
			end := strings.IndexByte(f[i+1:], ch)
			if end < 0 {
				return "", fmt.Errorf("the date format '%s' has an unterminated quote", f)
			}
			b.WriteString(f[i+1 : i+1+end])
			n = end + 2
		case '\\':
			if i+1 < len(f) {
				b.WriteByte(f[i+1])
			}
			n = 2
		case '%':
			n = 1
		default:
			b.WriteString(f[i : i+n])
		}
		i += n
	}
	return b.String(), nil
}

func fnUtcNow(c *callCtx, args []any) (any, error) {
	if c.sc.site != siteParam {
		return nil, c.notHere("The function can only be used within the default value of a parameter")
	}
	f := defaultUtcNowFormat
	if len(args) > 0 {
		s, err := c.str(args, 0)
		if err != nil {
			return nil, err
		}
		f = s
	}
	s, err := formatDate(c.e.now, f)
	if err != nil {
		return nil, c.errf("%s", err.Error())
	}
	return s, nil
}

// parseDateTime accepts the ISO 8601 forms templates use.
func parseDateTime(s string) (time.Time, error) {
	layouts := []string{
		time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05Z",
		"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02", "20060102T150405Z",
		"1/2/2006 3:04:05 PM", "01/02/2006 15:04:05",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("the value is not a valid ISO 8601 date and time")
}

// addISODuration adds an ISO 8601 duration such as P1Y2M3DT4H5M6.5S or -P1D.
func addISODuration(t time.Time, d string) (time.Time, error) {
	bad := fmt.Errorf("the duration '%s' is not a valid ISO 8601 duration", d)
	s := strings.ToUpper(strings.TrimSpace(d))
	sign := 1
	if strings.HasPrefix(s, "-") {
		sign, s = -1, s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return t, bad
	}
	s = s[1:]
	inTime := false
	var years, months, days int
	var dur time.Duration
	seen := false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return t, bad
			}
			inTime = true
			s = s[1:]
			continue
		}
		j := 0
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == ',') {
			j++
		}
		if j == 0 || j >= len(s) {
			return t, bad
		}
		num, err := strconv.ParseFloat(strings.ReplaceAll(s[:j], ",", "."), 64)
		if err != nil || num > 1e7 {
			return t, bad
		}
		unit := s[j]
		s = s[j+1:]
		seen = true
		whole := int(num)
		switch {
		case !inTime && unit == 'Y':
			years += whole
		case !inTime && unit == 'M':
			months += whole
		case !inTime && unit == 'W':
			days += 7 * whole
		case !inTime && unit == 'D':
			days += whole
		case inTime && unit == 'H':
			dur += time.Duration(num * float64(time.Hour))
		case inTime && unit == 'M':
			dur += time.Duration(num * float64(time.Minute))
		case inTime && unit == 'S':
			dur += time.Duration(num * float64(time.Second))
		default:
			return t, bad
		}
	}
	if !seen {
		return t, bad
	}
	return t.AddDate(sign*years, sign*months, sign*days).Add(time.Duration(sign) * dur), nil
}

func fnDateTimeAdd(c *callCtx, args []any) (any, error) {
	base, dur, err := twoStrings(c, args)
	if err != nil {
		return nil, err
	}
	t, perr := parseDateTime(base)
	if perr != nil {
		return nil, c.errf("%s", perr.Error())
	}
	t, perr = addISODuration(t, dur)
	if perr != nil {
		return nil, c.errf("%s", perr.Error())
	}
	f := "M/d/yyyy h:mm:ss tt"
	if len(args) > 2 {
		if f, err = c.str(args, 2); err != nil {
			return nil, err
		}
	}
	s, ferr := formatDate(t, f)
	if ferr != nil {
		return nil, c.errf("%s", ferr.Error())
	}
	return s, nil
}

func fnDateTimeToEpoch(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	t, perr := parseDateTime(s)
	if perr != nil {
		return nil, c.errf("%s", perr.Error())
	}
	return t.Unix(), nil
}

func fnDateTimeFromEpoch(c *callCtx, args []any) (any, error) {
	v, err := c.integer(args, 0)
	if err != nil {
		return nil, err
	}
	if v < -62135596800 || v > 253402300799 {
		return nil, c.errf("the epoch time '%d' is out of range", v)
	}
	return time.Unix(v, 0).UTC().Format("2006-01-02T15:04:05Z"), nil
}
