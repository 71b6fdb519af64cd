package sqlfilter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

type parser struct {
	src    []rune
	toks   []token
	i      int
	depth  int
	params map[string]any
}

// newParser checks the length limit and tokenizes expr.
func newParser(expr string, params map[string]any, action bool) (*parser, error) {
	p := &parser{src: []rune(expr), params: params}
	units := 0
	for i, r := range p.src {
		units++
		if r >= 0x10000 {
			units++
		}
		if units > MaxExpressionLength {
			return nil, p.errAt(i, "expression is longer than the maximum of %d characters", MaxExpressionLength)
		}
	}
	p.toks = lex(p.src, action)
	return p, nil
}

// errAt builds a *SyntaxError at rune offset pos.
func (p *parser) errAt(pos int, format string, args ...any) *SyntaxError {
	line, col := 1, 1
	for i := 0; i < pos && i < len(p.src); i++ {
		if p.src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &SyntaxError{Pos: pos, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// errTok reports an error at t; at a lexical error token, the lexical
// error is reported instead, since it comes first.
func (p *parser) errTok(t token, format string, args ...any) *SyntaxError {
	if t.kind == tErr {
		return p.errAt(t.pos, "%s", t.text)
	}
	return p.errAt(t.pos, format, args...)
}

func (p *parser) cur() token { return p.toks[p.i] }

func (p *parser) peek() token {
	if p.i+1 < len(p.toks) {
		return p.toks[p.i+1]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) prev() token {
	if p.i == 0 {
		return token{kind: tEOF}
	}
	return p.toks[p.i-1]
}

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF && t.kind != tErr {
		p.i++
	}
	return t
}

// kwOf returns the keyword of t, if it is one.
func (p *parser) kwOf(t token) keyword {
	if t.kind != tIdent {
		return kwNone
	}
	return t.kw
}

func (p *parser) isKw(k keyword) bool { return p.kwOf(p.cur()) == k }

func (p *parser) isPunct(s string) bool {
	t := p.cur()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expectPunct(s, format string, args ...any) error {
	if !p.isPunct(s) {
		return p.errTok(p.cur(), format, args...)
	}
	p.advance()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxNestingDepth {
		return p.errTok(p.cur(), "expression is nested too deeply (maximum %d levels)", MaxNestingDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseFilter parses a whole filter expression.
func (p *parser) parseFilter() (node, error) {
	if p.cur().kind == tEOF {
		return nil, p.errAt(0, "empty expression")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.cur(); t.kind != tEOF {
		return nil, p.errTok(t, "unexpected %s; expected AND, OR or end of expression", t.describe())
	}
	if err := p.checkPredicate(n); err != nil {
		return nil, err
	}
	return n, nil
}

// checkPredicate rejects operands of AND, OR and NOT (and whole filters)
// that can never be boolean: numbers, strings, arithmetic, newid().
func (p *parser) checkPredicate(n node) error {
	bad := false
	switch x := n.(type) {
	case *litNode:
		bad = x.v.k != kBool && x.v.k != kNull
	case *arithNode, *negNode, *plusNode, *newidNode:
		bad = true
	}
	if bad {
		return p.errAt(startPos(n), "expected a predicate (a comparison, IN, LIKE, IS NULL or EXISTS)")
	}
	return nil
}

// startPos returns the position of the leftmost token of n.
func startPos(n node) int {
	switch x := n.(type) {
	case *arithNode:
		return startPos(x.l)
	case *cmpNode:
		return startPos(x.l)
	case *logicNode:
		return startPos(x.xs[0])
	case *inNode:
		return startPos(x.x)
	case *likeNode:
		return startPos(x.x)
	case *isNullNode:
		return startPos(x.x)
	}
	return n.position()
}

func (p *parser) parseOr() (node, error) {
	return p.parseLogic(kwOr)
}

func (p *parser) parseAnd() (node, error) {
	return p.parseLogic(kwAnd)
}

// parseLogic parses an n-ary chain of OR (or AND) operands.
func (p *parser) parseLogic(op keyword) (node, error) {
	if op == kwOr {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
	}
	operand := p.parseAnd
	if op == kwAnd {
		operand = p.parseNot
	}
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if !p.isKw(op) {
		return first, nil
	}
	if err := p.checkPredicate(first); err != nil {
		return nil, err
	}
	ln := &logicNode{pos: p.cur().pos, or: op == kwOr, xs: []node{first}}
	for p.isKw(op) {
		p.advance()
		n, err := operand()
		if err != nil {
			return nil, err
		}
		if err := p.checkPredicate(n); err != nil {
			return nil, err
		}
		ln.xs = append(ln.xs, n)
	}
	return ln, nil
}

func (p *parser) parseNot() (node, error) {
	if !p.isKw(kwNot) {
		return p.parsePredicate()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.advance()
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if err := p.checkPredicate(x); err != nil {
		return nil, err
	}
	return &notNode{pos: t.pos, x: x}, nil
}

var cmpOps = map[string]cmpOp{"=": cmpEq, "<>": cmpNe, "!=": cmpNe, "<": cmpLt, "<=": cmpLe, ">": cmpGt, ">=": cmpGe}

func (p *parser) parsePredicate() (node, error) {
	if p.isKw(kwExists) {
		return p.parseExists()
	}
	left, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	t := p.cur()
	if t.kind == tPunct {
		if op, ok := cmpOps[t.text]; ok {
			p.advance()
			right, err := p.parseAdditive()
			if err != nil {
				return nil, err
			}
			return &cmpNode{pos: t.pos, op: op, l: left, r: right}, nil
		}
	}
	switch p.kwOf(t) {
	case kwIs:
		p.advance()
		not := false
		if p.isKw(kwNot) {
			p.advance()
			not = true
		}
		if !p.isKw(kwNull) {
			return nil, p.errTok(p.cur(), "expected NULL after %s", p.prev().describe())
		}
		p.advance()
		return &isNullNode{pos: t.pos, not: not, x: left}, nil
	case kwIn:
		p.advance()
		return p.parseIn(t, left, false)
	case kwLike:
		p.advance()
		return p.parseLike(t, left, false)
	case kwNot:
		switch p.kwOf(p.peek()) {
		case kwIn:
			p.advance()
			p.advance()
			return p.parseIn(t, left, true)
		case kwLike:
			p.advance()
			p.advance()
			return p.parseLike(t, left, true)
		}
		p.advance()
		return nil, p.errTok(p.cur(), "expected IN or LIKE after NOT")
	}
	return left, nil
}

func (p *parser) parseIn(op token, left node, not bool) (node, error) {
	if err := p.expectPunct("(", "expected '(' after IN"); err != nil {
		return nil, err
	}
	n := &inNode{pos: op.pos, not: not, x: left}
	for {
		item, err := p.parseAdditive()
		if err != nil {
			return nil, err
		}
		n.list = append(n.list, item)
		if p.isPunct(",") {
			p.advance()
			continue
		}
		if err := p.expectPunct(")", "expected ',' or ')' in IN list, found %s", p.cur().describe()); err != nil {
			return nil, err
		}
		return n, nil
	}
}

func (p *parser) parseLike(op token, left node, not bool) (node, error) {
	pat, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	n := &likeNode{pos: op.pos, not: not, x: left, pat: pat}
	if p.isKw(kwEscape) {
		p.advance()
		if n.esc, err = p.parseAdditive(); err != nil {
			return nil, err
		}
	}
	// Compile constant patterns now so that mistakes are syntax errors.
	pl, ok := pat.(*litNode)
	if !ok {
		return n, nil
	}
	var e value
	if n.esc != nil {
		el, ok := n.esc.(*litNode)
		if !ok {
			return n, nil
		}
		e = el.v
	}
	if pl.v.k == kNull || (n.esc != nil && e.k == kNull) {
		return n, nil
	}
	lp, err := compileLikeValues(pl.v, e, n.esc != nil, pat.position(), escPos(n.esc))
	if err != nil {
		ee := err.(*EvalError)
		return nil, p.errAt(ee.Pos, "%s", ee.Msg)
	}
	n.compiled = lp
	return n, nil
}

func (p *parser) parseExists() (node, error) {
	t := p.advance()
	if err := p.expectPunct("(", "expected '(' after EXISTS"); err != nil {
		return nil, err
	}
	prop, err := p.parsePropertyRef("EXISTS needs a property name")
	if err != nil {
		return nil, err
	}
	if err := p.expectPunct(")", "expected ')' after the property name"); err != nil {
		return nil, err
	}
	return &existsNode{pos: t.pos, prop: prop}, nil
}

func (p *parser) parseAdditive() (node, error) {
	left, err := p.parseMultiplicative()
	if err != nil {
		return nil, err
	}
	for p.isPunct("+") || p.isPunct("-") {
		t := p.advance()
		right, err := p.parseMultiplicative()
		if err != nil {
			return nil, err
		}
		left = &arithNode{pos: t.pos, op: t.text[0], l: left, r: right}
	}
	return left, nil
}

func (p *parser) parseMultiplicative() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isPunct("*") || p.isPunct("/") || p.isPunct("%") {
		t := p.advance()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &arithNode{pos: t.pos, op: t.text[0], l: left, r: right}
	}
	return left, nil
}

func (p *parser) parseUnary() (node, error) {
	if !p.isPunct("-") && !p.isPunct("+") {
		return p.parsePrimary()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.advance()
	neg := t.text == "-"
	// Fold a sign into a numeric constant, so that the most negative long
	// can be written.
	if c := p.cur(); c.kind == tInt || c.kind == tFloat {
		p.advance()
		text := c.text
		if neg {
			text = "-" + text
		}
		v, err := p.number(c, text)
		if err != nil {
			return nil, err
		}
		return &litNode{pos: t.pos, v: v}, nil
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if neg {
		return &negNode{pos: t.pos, x: x}, nil
	}
	return &plusNode{pos: t.pos, x: x}, nil
}

// number converts a numeric constant (text may carry a leading '-').
func (p *parser) number(t token, text string) (value, error) {
	if t.kind == tInt {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return value{}, p.errAt(t.pos, "integer constant %s is out of the range of a long", text)
		}
		return int64Value(n), nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return value{}, p.errAt(t.pos, "numeric constant %s is out of the range of a double", text)
	}
	return doubleValue(f), nil
}

func (p *parser) parsePrimary() (node, error) {
	t := p.cur()
	switch t.kind {
	case tString:
		p.advance()
		return &litNode{pos: t.pos, v: stringValue(t.text)}, nil
	case tInt, tFloat:
		p.advance()
		v, err := p.number(t, t.text)
		if err != nil {
			return nil, err
		}
		return &litNode{pos: t.pos, v: v}, nil
	case tParam:
		p.advance()
		return p.parameter(t)
	case tQIdent:
		p.advance()
		return &propNode{pos: t.pos, name: t.text}, nil
	case tPunct:
		if t.text == "(" {
			p.advance()
			n, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")", "expected ')', found %s", p.cur().describe()); err != nil {
				return nil, err
			}
			return n, nil
		}
	case tIdent:
		switch p.kwOf(t) {
		case kwNone:
			return p.parseIdentifier()
		case kwTrue, kwFalse:
			p.advance()
			return &litNode{pos: t.pos, v: boolValue(t.kw == kwTrue)}, nil
		case kwNull:
			p.advance()
			return &litNode{pos: t.pos, v: nullValue()}, nil
		}
	}
	return nil, p.expectedExpression(t)
}

func (p *parser) expectedExpression(t token) error {
	if t.kind == tErr {
		return p.errTok(t, "")
	}
	msg := "expected expression"
	if p.i > 0 {
		msg += " after " + p.prev().describe()
	}
	if t.kind != tEOF {
		msg += ", found " + t.describe()
	}
	return p.errAt(t.pos, "%s", msg)
}

// parameter substitutes the value of an @parameter.
func (p *parser) parameter(t token) (node, error) {
	v, ok := p.params[t.text]
	if !ok {
		found := false
		for k, pv := range p.params {
			if strings.EqualFold(k, t.text) {
				v, found = pv, true
				break
			}
		}
		if !found {
			return nil, p.errAt(t.pos, "undefined parameter %s", t.text)
		}
	}
	val := fromAny(v)
	if val.k == kOther {
		return nil, p.errAt(t.pos, "parameter %s has unsupported type %T", t.text, v)
	}
	return &litNode{pos: t.pos, v: val}, nil
}

// parseIdentifier parses a function call or a (possibly scoped) property
// starting at a regular, non-keyword identifier.
func (p *parser) parseIdentifier() (node, error) {
	if nx := p.peek(); nx.kind == tPunct && nx.text == "(" {
		return p.parseCall()
	}
	return p.parsePropertyRef("expected a property name")
}

func (p *parser) parseCall() (node, error) {
	t := p.advance()
	p.advance() // '('
	switch strings.ToLower(t.text) {
	case "newid":
		if err := p.expectPunct(")", "newid() takes no arguments"); err != nil {
			return nil, err
		}
		return &newidNode{pos: t.pos}, nil
	case "property", "p":
		if p.isPunct(")") {
			return nil, p.errTok(p.cur(), "%s() needs a property name argument", t.text)
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		arg, err := p.parseOr()
		p.leave()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")", "expected ')' to close %s(, found %s", t.text, p.cur().describe()); err != nil {
			return nil, err
		}
		// A constant name is resolved now.
		if l, ok := arg.(*litNode); ok && l.v.k == kString {
			prop, err := resolvePropertyName(l.v.s, l.pos)
			if err != nil {
				return nil, p.errAt(l.pos, "%s", err.(*EvalError).Msg)
			}
			prop.pos = t.pos
			return prop, nil
		}
		return &propFuncNode{pos: t.pos, arg: arg}, nil
	}
	return nil, p.errAt(t.pos, "unknown function '%s' (expected newid, property or p)", t.text)
}

// parsePropertyRef parses [sys.|user.]name; what describes the error when
// no name is present.
func (p *parser) parsePropertyRef(what string) (*propNode, error) {
	t := p.cur()
	switch {
	case t.kind == tQIdent:
		p.advance()
		return &propNode{pos: t.pos, name: t.text}, nil
	case t.kind != tIdent:
		return nil, p.errTok(t, "%s, found %s", what, t.describe())
	case p.kwOf(t) != kwNone:
		return nil, p.errTok(t, "%s, found keyword %s (write [%s] for a property of that name)", what, t.describe(), t.text)
	}
	p.advance()
	if !p.isPunct(".") {
		return &propNode{pos: t.pos, name: t.text}, nil
	}
	scope := strings.ToLower(t.text)
	if scope != "sys" && scope != "user" {
		return nil, p.errAt(t.pos, "unknown property scope '%s' (expected sys or user)", t.text)
	}
	p.advance()
	nt := p.cur()
	if nt.kind != tIdent && nt.kind != tQIdent {
		return nil, p.errTok(nt, "expected a property name after '%s.', found %s", t.text, nt.describe())
	}
	p.advance()
	if scope == "user" {
		return &propNode{pos: t.pos, name: nt.text}, nil
	}
	c, ok := CanonicalSystemProperty(nt.text)
	if !ok {
		return nil, p.errAt(nt.pos, "unknown system property '%s'", nt.text)
	}
	return &propNode{pos: t.pos, sys: true, name: c}, nil
}
