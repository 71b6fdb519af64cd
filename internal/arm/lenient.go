package arm

import (
	"bytes"
	"unicode/utf8"
)

// lenientJSON rewrites a request body in the relaxed JSON that Azure
// Resource Manager's deserializer accepts into strict JSON: // and /* */
// comments become spaces (line breaks kept, so positions inside keep their
// line), property names without quotes get them, and single-quoted strings
// become double-quoted. The Azure CLI relies on it: `az deployment group
// create` splices the template file's text into the body as
// `..., template:{...}}}`. ok is false when nothing needed rewriting (the
// input was not relaxed JSON either, and its strict error stands).
func lenientJSON(src []byte) (out []byte, ok bool) {
	var b bytes.Buffer
	b.Grow(len(src) + 16)
	changed := false
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"':
			j := skipString(src, i, '"')
			b.Write(src[i:j])
			i = j
		case c == '\'':
			j := skipString(src, i, '\'')
			writeSingleQuoted(&b, src[i:j])
			changed = true
			i = j
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				b.WriteByte(' ')
				i++
			}
			changed = true
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return nil, false // an unterminated comment
			}
			for _, x := range src[i : i+2+end+2] {
				if x == '\n' || x == '\r' {
					b.WriteByte(x)
				} else {
					b.WriteByte(' ')
				}
			}
			i += 2 + end + 2
			changed = true
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			word := src[i:j]
			k := j
			for k < len(src) && (src[k] == ' ' || src[k] == '\t' || src[k] == '\r' || src[k] == '\n') {
				k++
			}
			if k < len(src) && src[k] == ':' {
				b.WriteByte('"')
				b.Write(word)
				b.WriteByte('"')
				changed = true
			} else {
				b.Write(word) // true, false, null, or an error strict parsing reports
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.Bytes(), changed
}

// skipString returns the index just past the string literal that starts at
// src[i] with quote q (or len(src) when it is unterminated).
func skipString(src []byte, i int, q byte) int {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return len(src)
}

// writeSingleQuoted writes the single-quoted literal lit as a double-quoted
// JSON string.
func writeSingleQuoted(b *bytes.Buffer, lit []byte) {
	inner := lit[1:]
	if len(inner) > 0 && inner[len(inner)-1] == '\'' {
		inner = inner[:len(inner)-1]
	}
	b.WriteByte('"')
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\' && i+1 < len(inner) && inner[i+1] == '\'':
			b.WriteByte('\'')
			i += 2
		case c == '\\' && i+1 < len(inner):
			b.Write(inner[i : i+2])
			i += 2
		case c == '"':
			b.WriteString(`\"`)
			i++
		default:
			_, n := utf8.DecodeRune(inner[i:])
			b.Write(inner[i : i+n])
			i += n
		}
	}
	b.WriteByte('"')
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
