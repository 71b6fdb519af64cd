package template

import (
	"encoding/base64"
	"net/url"
	"strings"
	"unicode/utf8"
)

func fnBase64(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func decodeBase64(c *callCtx, args []any) (string, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", c.errf("the value is not valid base64")
	}
	if !utf8.Valid(b) {
		return "", c.errf("the decoded value is not valid UTF-8")
	}
	return string(b), nil
}

func fnBase64ToString(c *callCtx, args []any) (any, error) { return decodeBase64(c, args) }

func fnBase64ToJSON(c *callCtx, args []any) (any, error) {
	s, err := decodeBase64(c, args)
	if err != nil {
		return nil, err
	}
	return parseJSONValue(c, s)
}

func parseJSONValue(c *callCtx, s string) (any, error) {
	n, err := parseJSON(s, true)
	if err != nil {
		return nil, c.errf("the value is not valid JSON: %s", err.Error())
	}
	return n.literal(), nil
}

func fnJSON(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return parseJSONValue(c, s)
}

const dataURIPrefix = "data:text/plain;charset=utf8;base64,"

func fnDataURI(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return dataURIPrefix + base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnDataURIToString(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(strings.ToLower(s), "data:") {
		return nil, c.errf("the value is not a data URI")
	}
	comma := strings.IndexByte(s, ',')
	if comma < 0 {
		return nil, c.errf("the value is not a data URI")
	}
	meta, data := s[5:comma], s[comma+1:]
	if strings.HasSuffix(strings.ToLower(meta), ";base64") {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, c.errf("the data URI payload is not valid base64")
		}
		return string(b), nil
	}
	u, err := url.PathUnescape(data)
	if err != nil {
		return nil, c.errf("the data URI payload is not valid")
	}
	return u, nil
}

func fnStartsWith(c *callCtx, args []any) (any, error) {
	s, t, err := twoStrings(c, args)
	if err != nil {
		return nil, err
	}
	rs, rt := []rune(s), []rune(t)
	return len(rs) >= len(rt) && strings.EqualFold(string(rs[:len(rt)]), t), nil
}

func fnEndsWith(c *callCtx, args []any) (any, error) {
	s, t, err := twoStrings(c, args)
	if err != nil {
		return nil, err
	}
	rs, rt := []rune(s), []rune(t)
	return len(rs) >= len(rt) && strings.EqualFold(string(rs[len(rs)-len(rt):]), t), nil
}

func twoStrings(c *callCtx, args []any) (string, string, error) {
	a, err := c.str(args, 0)
	if err != nil {
		return "", "", err
	}
	b, err := c.str(args, 1)
	if err != nil {
		return "", "", err
	}
	return a, b, nil
}

// foldIndex finds needle in hay case-insensitively and returns a rune index.
func foldIndex(hay, needle []rune, last bool) int {
	if len(needle) == 0 {
		if last {
			return max(len(hay)-1, 0)
		}
		return 0
	}
	match := func(i int) bool {
		for j := range needle {
			if !strings.EqualFold(string(hay[i+j]), string(needle[j])) {
				return false
			}
		}
		return true
	}
	if last {
		for i := len(hay) - len(needle); i >= 0; i-- {
			if match(i) {
				return i
			}
		}
		return -1
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		if match(i) {
			return i
		}
	}
	return -1
}

func indexOf(c *callCtx, args []any, last bool) (any, error) {
	if arr, ok := args[0].([]any); ok {
		if last {
			for i := len(arr) - 1; i >= 0; i-- {
				if deepEqual(arr[i], args[1]) {
					return int64(i), nil
				}
			}
			return int64(-1), nil
		}
		for i, v := range arr {
			if deepEqual(v, args[1]) {
				return int64(i), nil
			}
		}
		return int64(-1), nil
	}
	s, t, err := twoStrings(c, args)
	if err != nil {
		return nil, err
	}
	return int64(foldIndex([]rune(s), []rune(t), last)), nil
}

func fnIndexOf(c *callCtx, args []any) (any, error)     { return indexOf(c, args, false) }
func fnLastIndexOf(c *callCtx, args []any) (any, error) { return indexOf(c, args, true) }

func fnPadLeft(c *callCtx, args []any) (any, error) {
	s, ok := scalarString(args[0])
	if !ok || args[0] == nil {
		return nil, c.argType(0, "String or Integer", args[0])
	}
	n, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	if n > 16*1024 {
		return nil, c.errf("the total length '%d' is too large", n)
	}
	pad := " "
	if len(args) > 2 {
		if pad, err = c.str(args, 2); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(pad) != 1 {
			return nil, c.errf("the padding character must be a single character")
		}
	}
	if l := utf8.RuneCountInString(s); int64(l) < n {
		s = strings.Repeat(pad, int(n)-l) + s
	}
	return s, nil
}

func fnReplace(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	if s[1] == "" {
		return nil, c.errf("the old value cannot be empty")
	}
	return strings.ReplaceAll(s[0], s[1], s[2]), nil
}

func fnSplit(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	var delims []string
	switch d := args[1].(type) {
	case string:
		delims = []string{d}
	case []any:
		for i := range d {
			ds, ok := d[i].(string)
			if !ok {
				return nil, c.errf("every delimiter must be a string")
			}
			delims = append(delims, ds)
		}
	default:
		return nil, c.argType(1, "String or Array", d)
	}
	var out []any
	start := 0
	for i := 0; i < len(s); {
		matched := ""
		for _, d := range delims {
			if d != "" && strings.HasPrefix(s[i:], d) {
				matched = d
				break
			}
		}
		if matched == "" {
			i++
			continue
		}
		out = append(out, s[start:i])
		i += len(matched)
		start = i
	}
	out = append(out, s[start:])
	return out, nil
}

func fnString(c *callCtx, args []any) (any, error) {
	if s, ok := scalarString(args[0]); ok {
		return s, nil
	}
	return compactJSON(args[0]), nil
}

func fnSubstring(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	r := []rune(s)
	start, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	length := int64(len(r)) - start
	if len(args) > 2 {
		if length, err = c.integer(args, 2); err != nil {
			return nil, err
		}
	}
	if start < 0 || length < 0 || start > int64(len(r)) || start+length > int64(len(r)) {
		return nil, c.errf("The index and length parameters must refer to a location within the string. The index parameter: '%d', the length parameter: '%d', the length of the string parameter: '%d'", start, length, len(r))
	}
	return string(r[start : start+length]), nil
}

func fnToLower(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return strings.ToLower(s), nil
}

func fnToUpper(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return strings.ToUpper(s), nil
}

func fnTrim(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	return strings.TrimSpace(s), nil
}

func fnURI(c *callCtx, args []any) (any, error) {
	base, rel, err := twoStrings(c, args)
	if err != nil {
		return nil, err
	}
	b, err := url.Parse(base)
	if err != nil || !b.IsAbs() {
		return nil, c.errf("the base URI '%s' is not an absolute URI", base)
	}
	r, err := url.Parse(rel)
	if err != nil {
		return nil, c.errf("the relative URI '%s' is not valid", rel)
	}
	return b.ResolveReference(r).String(), nil
}

// fnURIComponent escapes like .NET's Uri.EscapeDataString: everything but
// the RFC 3986 unreserved characters.
func fnURIComponent(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&0xF])
	}
	return b.String(), nil
}

func fnURIComponentToString(c *callCtx, args []any) (any, error) {
	s, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return nil, c.errf("the value is not a valid escaped URI component")
	}
	return u, nil
}

func fnJoin(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	sep, err := c.str(args, 1)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(arr))
	for i, v := range arr {
		s, ok := scalarString(v)
		if !ok {
			return nil, c.errf("the array element %d is of type '%s'; only strings, integers and booleans can be joined", i, typeName(v))
		}
		parts[i] = s
	}
	return strings.Join(parts, sep), nil
}

func fnGUID(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	return armGUID(s), nil
}

func fnUniqueString(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	return uniqueString(s), nil
}

func fnNewGUID(c *callCtx, _ []any) (any, error) {
	if c.sc.site != siteParam {
		return nil, c.notHere("The function can only be used within the default value of a parameter")
	}
	return c.e.newGUID(), nil
}

func fnFormat(c *callCtx, args []any) (any, error) {
	f, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	out, ferr := dotnetFormat(f, args[1:])
	if ferr != nil {
		return nil, c.errf("%s", ferr.Error())
	}
	return out, nil
}
