package sqlfilter

import (
	"fmt"
	"strings"
	"unicode"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tErr            // lexical error; text holds the message
	tIdent          // regular identifier, possibly a keyword
	tQIdent         // [delimited] or "quoted" identifier; text is the name
	tString         // 'string'; text is the decoded value
	tInt            // integer literal; text is the digits
	tFloat          // decimal or approximate literal; text as written
	tParam          // @name; text includes the '@'
	tPunct          // operator or punctuation; text is the symbol
)

type keyword uint8

const (
	kwNone keyword = iota
	kwAnd
	kwOr
	kwNot
	kwIn
	kwLike
	kwEscape
	kwIs
	kwNull
	kwExists
	kwTrue
	kwFalse
	kwSet
	kwRemove
)

var keywords = map[string]keyword{
	"AND": kwAnd, "OR": kwOr, "NOT": kwNot, "IN": kwIn, "LIKE": kwLike,
	"ESCAPE": kwEscape, "IS": kwIs, "NULL": kwNull, "EXISTS": kwExists,
	"TRUE": kwTrue, "FALSE": kwFalse, "SET": kwSet, "REMOVE": kwRemove,
}

type token struct {
	kind tokKind
	kw   keyword
	text string
	pos  int // rune offset
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tIdent:
		if t.kw != kwNone {
			return strings.ToUpper(t.text)
		}
		return fmt.Sprintf("'%s'", t.text)
	case tQIdent:
		return fmt.Sprintf("identifier '%s'", t.text)
	case tString:
		return "string constant"
	case tInt, tFloat:
		return "number " + t.text
	case tParam:
		return "parameter " + t.text
	default:
		return fmt.Sprintf("'%s'", t.text)
	}
}

// lex splits src into tokens. The result always ends with a tEOF token,
// or with a tErr token at the first lexical error. SET and REMOVE are
// keywords only in actions.
func lex(rs []rune, action bool) []token {
	var toks []token
	i := 0
	for {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i >= len(rs) {
			return append(toks, token{kind: tEOF, pos: i})
		}
		start := i
		r := rs[i]
		fail := func(format string, args ...any) []token {
			return append(toks, token{kind: tErr, pos: start, text: fmt.Sprintf(format, args...)})
		}
		switch {
		case unicode.IsLetter(r):
			i++
			for i < len(rs) && (rs[i] == '_' || unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
				i++
			}
			text := string(rs[start:i])
			kw := lookupKeyword(text)
			if (kw == kwSet || kw == kwRemove) && !action {
				kw = kwNone
			}
			toks = append(toks, token{kind: tIdent, kw: kw, text: text, pos: start})
		case isASCIIDigit(r) || (r == '.' && i+1 < len(rs) && isASCIIDigit(rs[i+1])):
			kind := tInt
			for i < len(rs) && isASCIIDigit(rs[i]) {
				i++
			}
			if i < len(rs) && rs[i] == '.' {
				kind = tFloat
				i++
				for i < len(rs) && isASCIIDigit(rs[i]) {
					i++
				}
			}
			if i < len(rs) && (rs[i] == 'e' || rs[i] == 'E') {
				kind = tFloat
				i++
				if i < len(rs) && (rs[i] == '+' || rs[i] == '-') {
					i++
				}
				if i >= len(rs) || !isASCIIDigit(rs[i]) {
					return fail("malformed number: exponent has no digits")
				}
				for i < len(rs) && isASCIIDigit(rs[i]) {
					i++
				}
			}
			toks = append(toks, token{kind: kind, text: string(rs[start:i]), pos: start})
		case r == '\'' || r == '"' || r == '[':
			closer, kind, what := r, tQIdent, "quoted identifier"
			switch r {
			case '\'':
				kind, what = tString, "string constant"
			case '[':
				closer, what = ']', "delimited identifier"
			}
			var sb strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == closer {
					if i+1 < len(rs) && rs[i+1] == closer {
						sb.WriteRune(closer)
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				sb.WriteRune(rs[i])
				i++
			}
			if !closed {
				return fail("unterminated %s", what)
			}
			if kind == tQIdent && sb.Len() == 0 {
				return fail("empty %s", what)
			}
			toks = append(toks, token{kind: kind, text: sb.String(), pos: start})
		case r == '@':
			i++
			for i < len(rs) && (rs[i] == '_' || unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
				i++
			}
			if i == start+1 {
				return fail("expected a parameter name after '@'")
			}
			toks = append(toks, token{kind: tParam, text: string(rs[start:i]), pos: start})
		default:
			sym := ""
			two := ""
			if i+1 < len(rs) {
				two = string(rs[i : i+2])
			}
			switch {
			case two == "<>" || two == "!=" || two == "<=" || two == ">=":
				sym = two
			case strings.ContainsRune("()+-*/%=<>,.;", r):
				sym = string(r)
			default:
				return fail("unexpected character %q", r)
			}
			i += len([]rune(sym))
			toks = append(toks, token{kind: tPunct, text: sym, pos: start})
		}
	}
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

// lookupKeyword recognizes keywords case-insensitively; only ASCII
// spellings count, so that Unicode case folding (such as the dotless i)
// cannot turn a property name into a keyword.
func lookupKeyword(s string) keyword {
	if len(s) > 6 {
		return kwNone
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return kwNone
		}
	}
	return keywords[strings.ToUpper(s)]
}
