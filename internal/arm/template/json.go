package template

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// nodeKind is the JSON type of a parsed template element.
type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 512

// node is one JSON value with its position (1-based line and column of its
// first character). Objects keep their key order. After Parse a node tree is
// never modified, so a Template may be shared between goroutines.
type node struct {
	kind  nodeKind
	line  int
	col   int
	b     bool
	s     string // string value
	num   any    // int64 or float64
	keys  []string
	elems []*node // array elements, or object values parallel to keys
	expr  *expr   // parsed expression for "[...]" strings
	isExp bool    // the string is an expression (expr set)
}

// get returns the member with the given key, matched case-insensitively
// (an exact match wins).
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.elems[i]
		}
	}
	for i, k := range n.keys {
		if strings.EqualFold(k, key) {
			return n.elems[i]
		}
	}
	return nil
}

// jsonParser is a small JSON reader that records positions, accepts //
// and /* */ comments (as ARM does) and, in lenient mode, single-quoted
// strings (as json() does).
type jsonParser struct {
	src     string
	i       int
	line    int
	col     int
	lenient bool
	depth   int
}

// jsonSyntaxError is a JSON syntax error with its position.
type jsonSyntaxError struct {
	line, col int
	msg       string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("%s at line %d, column %d", e.msg, e.line, e.col)
}

// parseJSON parses one JSON document.
func parseJSON(src string, lenient bool) (*node, error) {
	p := &jsonParser{src: src, line: 1, col: 1, lenient: lenient}
	// Skip a UTF-8 byte order mark.
	if strings.HasPrefix(p.src, "\ufeff") {
		p.i = len("\ufeff")
	}
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.i < len(p.src) {
		return nil, p.errf("unexpected character %q after the top-level value", p.peekRune())
	}
	return n, nil
}

func (p *jsonParser) errf(format string, args ...any) error {
	return &jsonSyntaxError{line: p.line, col: p.col, msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) peekRune() rune {
	r, _ := utf8.DecodeRuneInString(p.src[p.i:])
	return r
}

// advance moves past one rune, tracking line and column.
func (p *jsonParser) advance() {
	r, size := utf8.DecodeRuneInString(p.src[p.i:])
	p.i += size
	if r == '\n' {
		p.line++
		p.col = 1
	} else {
		p.col++
	}
}

func (p *jsonParser) skipSpace() error {
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.advance()
		case c == '/' && p.i+1 < len(p.src) && p.src[p.i+1] == '/':
			for p.i < len(p.src) && p.src[p.i] != '\n' {
				p.advance()
			}
		case c == '/' && p.i+1 < len(p.src) && p.src[p.i+1] == '*':
			line, col := p.line, p.col
			p.advance()
			p.advance()
			for {
				if p.i >= len(p.src) {
					return &jsonSyntaxError{line: line, col: col, msg: "unterminated comment"}
				}
				if p.src[p.i] == '*' && p.i+1 < len(p.src) && p.src[p.i+1] == '/' {
					p.advance()
					p.advance()
					break
				}
				p.advance()
			}
		default:
			return nil
		}
	}
	return nil
}

func (p *jsonParser) value() (*node, error) {
	if p.i >= len(p.src) {
		return nil, p.errf("unexpected end of input")
	}
	n := &node{line: p.line, col: p.col}
	c := p.src[p.i]
	switch {
	case c == '{':
		return p.object(n)
	case c == '[':
		return p.array(n)
	case c == '"' || (c == '\'' && p.lenient):
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		n.kind, n.s = kindString, s
		return n, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(n)
	case strings.HasPrefix(p.src[p.i:], "true"):
		p.skipWord(4)
		n.kind, n.b = kindBool, true
		return n, nil
	case strings.HasPrefix(p.src[p.i:], "false"):
		p.skipWord(5)
		n.kind = kindBool
		return n, nil
	case strings.HasPrefix(p.src[p.i:], "null"):
		p.skipWord(4)
		n.kind = kindNull
		return n, nil
	}
	return nil, p.errf("unexpected character %q", p.peekRune())
}

func (p *jsonParser) skipWord(n int) {
	for range n {
		p.advance()
	}
}

func (p *jsonParser) object(n *node) (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxJSONDepth {
		return nil, p.errf("document nested too deeply")
	}
	n.kind = kindObject
	p.advance() // {
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.advance()
		return n, nil
	}
	for {
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of input in object")
		}
		c := p.src[p.i]
		if c != '"' && !(c == '\'' && p.lenient) {
			return nil, p.errf("expected a property name, found %q", p.peekRune())
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return nil, p.errf("expected ':' after property name %q", key)
		}
		p.advance()
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		replaced := false
		for i, k := range n.keys {
			if k == key { // duplicate: the last one wins, as in Json.NET
				n.elems[i] = v
				replaced = true
				break
			}
		}
		if !replaced {
			n.keys = append(n.keys, key)
			n.elems = append(n.elems, v)
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of input in object")
		}
		switch p.src[p.i] {
		case ',':
			p.advance()
			if err := p.skipSpace(); err != nil {
				return nil, err
			}
			if p.i < len(p.src) && p.src[p.i] == '}' { // trailing comma
				p.advance()
				return n, nil
			}
		case '}':
			p.advance()
			return n, nil
		default:
			return nil, p.errf("expected ',' or '}' in object, found %q", p.peekRune())
		}
	}
}

func (p *jsonParser) array(n *node) (*node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxJSONDepth {
		return nil, p.errf("document nested too deeply")
	}
	n.kind = kindArray
	n.elems = []*node{}
	p.advance() // [
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.advance()
		return n, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.i >= len(p.src) {
			return nil, p.errf("unexpected end of input in array")
		}
		switch p.src[p.i] {
		case ',':
			p.advance()
			if err := p.skipSpace(); err != nil {
				return nil, err
			}
			if p.i < len(p.src) && p.src[p.i] == ']' {
				p.advance()
				return n, nil
			}
		case ']':
			p.advance()
			return n, nil
		default:
			return nil, p.errf("expected ',' or ']' in array, found %q", p.peekRune())
		}
	}
}

func (p *jsonParser) str() (string, error) {
	quote := p.src[p.i]
	startLine, startCol := p.line, p.col
	p.advance()
	var b strings.Builder
	for {
		if p.i >= len(p.src) {
			return "", &jsonSyntaxError{line: startLine, col: startCol, msg: "unterminated string"}
		}
		c := p.src[p.i]
		switch {
		case c == quote:
			p.advance()
			return b.String(), nil
		case c == '\\':
			p.advance()
			if p.i >= len(p.src) {
				return "", p.errf("unterminated escape sequence")
			}
			e := p.src[p.i]
			p.advance()
			switch e {
			case '"', '\\', '/', '\'':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					if strings.HasPrefix(p.src[p.i:], "\\u") {
						save, sl, sc := p.i, p.line, p.col
						p.advance()
						p.advance()
						r2, err := p.hex4()
						if err == nil && utf16.DecodeRune(r, r2) != utf8.RuneError {
							r = utf16.DecodeRune(r, r2)
						} else {
							p.i, p.line, p.col = save, sl, sc
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
			default:
				return "", p.errf("invalid escape sequence '\\%c'", e)
			}
		case c < 0x20 && c != '\t':
			return "", p.errf("control character in string")
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errf("invalid UTF-8 in string")
			}
			b.WriteString(p.src[p.i : p.i+size])
			p.advance()
		}
	}
}

func (p *jsonParser) hex4() (rune, error) {
	if p.i+4 > len(p.src) {
		return 0, p.errf("short \\u escape")
	}
	v, err := strconv.ParseUint(p.src[p.i:p.i+4], 16, 32)
	if err != nil {
		return 0, p.errf("invalid \\u escape")
	}
	p.skipWord(4)
	return rune(v), nil
}

func (p *jsonParser) number(n *node) (*node, error) {
	start := p.i
	if p.src[p.i] == '-' {
		p.advance()
	}
	digits := func() int {
		k := 0
		for p.i < len(p.src) && p.src[p.i] >= '0' && p.src[p.i] <= '9' {
			p.advance()
			k++
		}
		return k
	}
	if digits() == 0 {
		return nil, p.errf("invalid number")
	}
	isFloat := false
	if p.i < len(p.src) && p.src[p.i] == '.' {
		isFloat = true
		p.advance()
		if digits() == 0 {
			return nil, p.errf("invalid number")
		}
	}
	if p.i < len(p.src) && (p.src[p.i] == 'e' || p.src[p.i] == 'E') {
		isFloat = true
		p.advance()
		if p.i < len(p.src) && (p.src[p.i] == '+' || p.src[p.i] == '-') {
			p.advance()
		}
		if digits() == 0 {
			return nil, p.errf("invalid number")
		}
	}
	text := p.src[start:p.i]
	n.kind = kindNumber
	if !isFloat {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			n.num = v
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil, p.errf("invalid number %q", text)
	}
	n.num = f
	return n, nil
}

// literal converts a node tree into a plain value without evaluating
// expressions (used for parameter values and json()).
func (n *node) literal() any {
	switch n.kind {
	case kindNull:
		return nil
	case kindBool:
		return n.b
	case kindNumber:
		return n.num
	case kindString:
		return n.s
	case kindArray:
		out := make([]any, len(n.elems))
		for i, e := range n.elems {
			out[i] = e.literal()
		}
		return out
	default:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k] = n.elems[i].literal()
		}
		return out
	}
}
