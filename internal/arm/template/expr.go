package template

import (
	"fmt"
	"strconv"
	"strings"
)

// maxExpressionLength is ARM's documented limit on one template expression.
const maxExpressionLength = 24576

// maxExprDepth bounds expression nesting.
const maxExprDepth = 256

type exprKind uint8

const (
	exprString exprKind = iota // 'literal'
	exprInt                    // 42, -1
	exprCall                   // name(args...)
	exprProp                   // target.name
	exprIndex                  // target[index]
)

// expr is a node of a parsed template language expression. Positions are
// 0-based offsets into the expression text (the string between the outer
// brackets), which is what error messages report.
type expr struct {
	kind   exprKind
	pos    int
	end    int
	src    string // the whole expression text, shared by all nodes
	name   string // function name as written, or property name
	lname  string // lower-case function name
	s      string
	i      int64
	args   []*expr
	target *expr
	index  *expr
}

// text returns the source text of the node.
func (e *expr) text() string {
	if e.pos < 0 || e.end > len(e.src) || e.pos > e.end {
		return ""
	}
	return e.src[e.pos:e.end]
}

// classifyString reports how a template string is treated: as a literal
// (returned with ARM's "[[" escape removed) or as an expression whose text
// (without the outer brackets) is returned.
func classifyString(s string) (literal string, exprText string, isExpr bool) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if s[1] == '[' {
			return s[1:], "", false
		}
		return "", s[1 : len(s)-1], true
	}
	return s, "", false
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokComma
	tokDot
	tokIdent
	tokString
	tokInt
)

var tokNames = [...]string{
	tokEOF:      "EndOfData",
	tokLParen:   "LeftParenthesis",
	tokRParen:   "RightParenthesis",
	tokLBracket: "LeftSquareBracket",
	tokRBracket: "RightSquareBracket",
	tokComma:    "Comma",
	tokDot:      "Dot",
	tokIdent:    "Identifier",
	tokString:   "String",
	tokInt:      "Integer",
}

type token struct {
	kind tokKind
	pos  int
	end  int
	s    string // identifier text or unescaped string literal
	i    int64
}

// lexExpr splits an expression into tokens.
func lexExpr(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{kind: tokLParen, pos: i, end: i + 1})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokRParen, pos: i, end: i + 1})
			i++
		case c == '[':
			toks = append(toks, token{kind: tokLBracket, pos: i, end: i + 1})
			i++
		case c == ']':
			toks = append(toks, token{kind: tokRBracket, pos: i, end: i + 1})
			i++
		case c == ',':
			toks = append(toks, token{kind: tokComma, pos: i, end: i + 1})
			i++
		case c == '.':
			toks = append(toks, token{kind: tokDot, pos: i, end: i + 1})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(src) {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(src[i])
				i++
			}
			if !closed {
				return nil, exprErrf(start, "the string literal starting at position '%d' is not terminated", start)
			}
			toks = append(toks, token{kind: tokString, pos: start, end: i, s: b.String()})
		case c == '-' || c == '+' || (c >= '0' && c <= '9'):
			start := i
			if c == '-' || c == '+' {
				i++
				if i >= len(src) || src[i] < '0' || src[i] > '9' {
					return nil, exprErrf(start, "the character '%c' at position '%d' is not expected", c, start)
				}
			}
			for i < len(src) && src[i] >= '0' && src[i] <= '9' {
				i++
			}
			if i < len(src) && isIdentChar(src[i]) {
				return nil, exprErrf(i, "the character '%c' at position '%d' is not expected", src[i], i)
			}
			v, err := strconv.ParseInt(src[start:i], 10, 64)
			if err != nil {
				return nil, exprErrf(start, "the integer literal '%s' at position '%d' is out of range", src[start:i], start)
			}
			toks = append(toks, token{kind: tokInt, pos: start, end: i, i: v})
		case isIdentStart(c):
			start := i
			for i < len(src) && isIdentChar(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tokIdent, pos: start, end: i, s: src[start:i]})
		default:
			r := []rune(src[i:])[0]
			return nil, exprErrf(i, "the character '%c' at position '%d' is not expected", r, i)
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: len(src), end: len(src)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

type exprParser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// parseExpr parses expression text (without the outer brackets).
func parseExpr(src string) (*expr, error) {
	if len(src) > maxExpressionLength {
		return nil, exprErrf(0, "the expression is %d characters long; the limit is %d", len(src), maxExpressionLength)
	}
	toks, err := lexExpr(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{src: src, toks: toks}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, exprErrf(t.pos, "expected token 'EndOfData' and actual '%s' at position '%d'", tokNames[t.kind], t.pos)
	}
	return e, nil
}

func (p *exprParser) peek() token { return p.toks[p.i] }

func (p *exprParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *exprParser) expect(k tokKind) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, exprErrf(t.pos, "expected token '%s' and actual '%s' at position '%d'", tokNames[k], tokNames[t.kind], t.pos)
	}
	return t, nil
}

func (p *exprParser) expression() (*expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, exprErrf(p.peek().pos, "the expression is nested too deeply")
	}
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek().kind {
		case tokDot:
			p.next()
			t, err := p.expect(tokIdent)
			if err != nil {
				return nil, err
			}
			e = &expr{kind: exprProp, pos: e.pos, end: t.end, src: p.src, name: t.s, target: e}
		case tokLBracket:
			p.next()
			idx, err := p.expression()
			if err != nil {
				return nil, err
			}
			t, err := p.expect(tokRBracket)
			if err != nil {
				return nil, err
			}
			e = &expr{kind: exprIndex, pos: e.pos, end: t.end, src: p.src, target: e, index: idx}
		default:
			return e, nil
		}
	}
}

func (p *exprParser) primary() (*expr, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return &expr{kind: exprString, pos: t.pos, end: t.end, src: p.src, s: t.s}, nil
	case tokInt:
		return &expr{kind: exprInt, pos: t.pos, end: t.end, src: p.src, i: t.i}, nil
	case tokIdent:
		name := t.s
		// A namespaced (user-defined) function: ns.member(...)
		if p.peek().kind == tokDot && p.i+2 < len(p.toks) && p.toks[p.i+1].kind == tokIdent && p.toks[p.i+2].kind == tokLParen {
			p.next()
			name += "." + p.next().s
		}
		if p.peek().kind != tokLParen {
			return nil, exprErrf(t.pos, "the identifier '%s' at position '%d' must be followed by '(': expected a function call", name, t.pos)
		}
		p.next()
		call := &expr{kind: exprCall, pos: t.pos, src: p.src, name: name, lname: strings.ToLower(name)}
		if p.peek().kind == tokRParen {
			call.end = p.next().end
			return call, nil
		}
		for {
			arg, err := p.expression()
			if err != nil {
				return nil, err
			}
			call.args = append(call.args, arg)
			n := p.next()
			switch n.kind {
			case tokComma:
				continue
			case tokRParen:
				call.end = n.end
				return call, nil
			default:
				return nil, exprErrf(n.pos, "expected token 'RightParenthesis' and actual '%s' at position '%d'", tokNames[n.kind], n.pos)
			}
		}
	case tokEOF:
		return nil, exprErrf(t.pos, "expected token 'Identifier' and actual 'EndOfData' at position '%d'", t.pos)
	default:
		return nil, exprErrf(t.pos, "expected token 'Identifier' and actual '%s' at position '%d'", tokNames[t.kind], t.pos)
	}
}

// describeParseError renders ARM's parse failure message.
func describeParseError(text string, err error) string {
	return fmt.Sprintf("Unable to parse language expression '%s': %s", text, err.Error())
}
