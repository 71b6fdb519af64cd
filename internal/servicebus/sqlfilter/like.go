package sqlfilter

import (
	"strings"
	"unicode/utf8"
)

// likePattern is a compiled LIKE pattern: literal runs separated by %
// and _ wildcards.
type likePattern struct {
	elems []likeElem
}

type likeElemKind uint8

const (
	likeLit likeElemKind = iota // a literal run of characters
	likeOne                     // _ : exactly one character
	likeAny                     // % : any run of characters
)

type likeElem struct {
	kind likeElemKind
	lit  string
}

// compileLike compiles pattern; msg is non-empty when it is invalid.
func compileLike(pattern string, esc rune, hasEsc bool) (*likePattern, string) {
	lp := &likePattern{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			lp.elems = append(lp.elems, likeElem{kind: likeLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		i += size
		switch {
		case hasEsc && r == esc:
			if i >= len(pattern) {
				return nil, "LIKE pattern ends with the escape character"
			}
			r, size = utf8.DecodeRuneInString(pattern[i:])
			i += size
			lit.WriteRune(r)
		case r == '%':
			flush()
			if n := len(lp.elems); n == 0 || lp.elems[n-1].kind != likeAny {
				lp.elems = append(lp.elems, likeElem{kind: likeAny})
			}
		case r == '_':
			flush()
			lp.elems = append(lp.elems, likeElem{kind: likeOne})
		default:
			lit.WriteRune(r)
		}
	}
	flush()
	return lp, ""
}

// match reports whether s matches the whole pattern. It backtracks only
// to the most recent %, so it runs in O(len(s) * len(pattern)) time.
func (lp *likePattern) match(s string) bool {
	el := lp.elems
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for {
		if pi < len(el) {
			e := el[pi]
			switch e.kind {
			case likeAny:
				if pi == len(el)-1 {
					return true // a trailing % matches the rest
				}
				starPi, starSi = pi, si
				pi++
				continue
			case likeOne:
				if si < len(s) {
					_, size := utf8.DecodeRuneInString(s[si:])
					si += size
					pi++
					continue
				}
			case likeLit:
				if strings.HasPrefix(s[si:], e.lit) {
					si += len(e.lit)
					pi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last % swallow one more character.
		if starPi < 0 || starSi >= len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSi:])
		starSi += size
		pi, si = starPi+1, starSi
	}
}
