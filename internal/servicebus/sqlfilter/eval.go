package sqlfilter

import (
	"crypto/rand"
	"strings"
	"unicode/utf8"
)

// node is an expression or predicate in the parsed tree.
type node interface {
	eval(m Message) (value, error)
	position() int
}

type litNode struct {
	pos int
	v   value
}

func (n *litNode) eval(Message) (value, error) { return n.v, nil }
func (n *litNode) position() int               { return n.pos }

// propNode reads a property; for system properties name is canonical.
type propNode struct {
	pos  int
	sys  bool
	name string
}

func (n *propNode) lookup(m Message) (any, bool) {
	if n.sys {
		return m.SystemProperty(n.name)
	}
	return m.UserProperty(n.name)
}

func (n *propNode) eval(m Message) (value, error) {
	v, ok := n.lookup(m)
	if !ok {
		return nullValue(), nil
	}
	return fromAny(v), nil
}
func (n *propNode) position() int { return n.pos }

// newidNode is newid(): a random (version 4) UUID.
type newidNode struct{ pos int }

func (n *newidNode) eval(Message) (value, error) {
	var u UUID
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (it aborts the program instead).
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return value{k: kUUID, u: u}, nil
}
func (n *newidNode) position() int { return n.pos }

// propFuncNode is property(name) / p(name).
type propFuncNode struct {
	pos int
	arg node
}

func (n *propFuncNode) eval(m Message) (value, error) {
	a, err := n.arg.eval(m)
	if err != nil {
		return nullValue(), err
	}
	switch a.k {
	case kNull:
		return a, nil
	case kString:
	default:
		return nullValue(), evalErrorf(n.arg.position(), "property() needs a string name, got %s", a.typeName())
	}
	p, err := resolvePropertyName(a.s, n.arg.position())
	if err != nil {
		return nullValue(), err
	}
	return p.eval(m)
}
func (n *propFuncNode) position() int { return n.pos }

// resolvePropertyName interprets the run-time argument of property(): an
// optional "sys." or "user." scope followed by the name.
func resolvePropertyName(s string, pos int) (*propNode, error) {
	if len(s) > 4 && strings.EqualFold(s[:4], "sys.") {
		c, ok := CanonicalSystemProperty(s[4:])
		if !ok {
			return nil, evalErrorf(pos, "unknown system property '%s'", s[4:])
		}
		return &propNode{pos: pos, sys: true, name: c}, nil
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "user.") {
		s = s[5:]
	}
	return &propNode{pos: pos, name: s}, nil
}

type negNode struct {
	pos int
	x   node
}

func (n *negNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	return negate(v, n.pos)
}
func (n *negNode) position() int { return n.pos }

// plusNode is unary +, which only checks that its operand is numeric.
type plusNode struct {
	pos int
	x   node
}

func (n *plusNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	if v.k != kNull && !v.isNumeric() && v.k != kDuration {
		return nullValue(), evalErrorf(n.pos, "operator '+' cannot be applied to %s", v.typeName())
	}
	return v, nil
}
func (n *plusNode) position() int { return n.pos }

type arithNode struct {
	pos  int
	op   byte
	l, r node
}

func (n *arithNode) eval(m Message) (value, error) {
	a, err := n.l.eval(m)
	if err != nil {
		return nullValue(), err
	}
	b, err := n.r.eval(m)
	if err != nil {
		return nullValue(), err
	}
	return arith(n.op, a, b, n.pos)
}
func (n *arithNode) position() int { return n.pos }

type cmpNode struct {
	pos  int
	op   cmpOp
	l, r node
}

func (n *cmpNode) eval(m Message) (value, error) {
	a, err := n.l.eval(m)
	if err != nil {
		return nullValue(), err
	}
	b, err := n.r.eval(m)
	if err != nil {
		return nullValue(), err
	}
	t, err := compare(n.op, a, b, n.pos)
	return t.value(), err
}
func (n *cmpNode) position() int { return n.pos }

// logicNode is an n-ary AND or OR.
type logicNode struct {
	pos int
	or  bool
	xs  []node
}

func (n *logicNode) eval(m Message) (value, error) {
	// AND: FALSE dominates; OR: TRUE dominates; otherwise any unknown
	// operand makes the result unknown.
	dominant, result := triFalse, triTrue
	if n.or {
		dominant, result = triTrue, triFalse
	}
	for _, x := range n.xs {
		v, err := x.eval(m)
		if err != nil {
			return nullValue(), err
		}
		t, err := truth(v, x.position())
		if err != nil {
			return nullValue(), err
		}
		if t == dominant {
			return t.value(), nil
		}
		if t == triUnknown {
			result = triUnknown
		}
	}
	return result.value(), nil
}
func (n *logicNode) position() int { return n.pos }

type notNode struct {
	pos int
	x   node
}

func (n *notNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	t, err := truth(v, n.x.position())
	if err != nil {
		return nullValue(), err
	}
	return t.not().value(), nil
}
func (n *notNode) position() int { return n.pos }

type isNullNode struct {
	pos int
	not bool
	x   node
}

func (n *isNullNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	return boolValue((v.k == kNull) != n.not), nil
}
func (n *isNullNode) position() int { return n.pos }

type existsNode struct {
	pos  int
	prop *propNode
}

func (n *existsNode) eval(m Message) (value, error) {
	_, ok := n.prop.lookup(m)
	return boolValue(ok), nil
}
func (n *existsNode) position() int { return n.pos }

type inNode struct {
	pos  int
	not  bool
	x    node
	list []node
}

func (n *inNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	if v.k == kNull {
		return nullValue(), nil
	}
	result := triFalse
	for _, item := range n.list {
		w, err := item.eval(m)
		if err != nil {
			return nullValue(), err
		}
		switch equalLoose(v, w) {
		case triTrue:
			return triOf(!n.not).value(), nil
		case triUnknown:
			result = triUnknown
		}
	}
	if n.not {
		result = result.not()
	}
	return result.value(), nil
}
func (n *inNode) position() int { return n.pos }

type likeNode struct {
	pos      int
	not      bool
	x, pat   node
	esc      node         // nil without ESCAPE
	compiled *likePattern // set when pattern and escape are constants
}

func (n *likeNode) eval(m Message) (value, error) {
	v, err := n.x.eval(m)
	if err != nil {
		return nullValue(), err
	}
	pat := n.compiled
	var p, e value
	if pat == nil {
		if p, err = n.pat.eval(m); err != nil {
			return nullValue(), err
		}
		if n.esc != nil {
			if e, err = n.esc.eval(m); err != nil {
				return nullValue(), err
			}
		}
	}
	if v.k == kNull || (pat == nil && (p.k == kNull || (n.esc != nil && e.k == kNull))) {
		return nullValue(), nil
	}
	if v.k != kString {
		return nullValue(), evalErrorf(n.x.position(), "LIKE needs a string operand, got %s", v.typeName())
	}
	if pat == nil {
		if pat, err = compileLikeValues(p, e, n.esc != nil, n.pat.position(), escPos(n.esc)); err != nil {
			return nullValue(), err
		}
	}
	return boolValue(pat.match(v.s) != n.not), nil
}
func (n *likeNode) position() int { return n.pos }

func escPos(esc node) int {
	if esc == nil {
		return 0
	}
	return esc.position()
}

// compileLikeValues checks the types of a LIKE pattern and escape and
// compiles them.
func compileLikeValues(p, e value, hasEsc bool, patPos, escPos int) (*likePattern, error) {
	if p.k != kString {
		return nil, evalErrorf(patPos, "LIKE pattern must be a string, got %s", p.typeName())
	}
	var esc rune
	if hasEsc {
		if e.k != kString {
			return nil, evalErrorf(escPos, "ESCAPE must be a string, got %s", e.typeName())
		}
		r, size := utf8.DecodeRuneInString(e.s)
		if size == 0 || size != len(e.s) {
			return nil, evalErrorf(escPos, "ESCAPE must be a single character")
		}
		esc = r
	}
	lp, msg := compileLike(p.s, esc, hasEsc)
	if msg != "" {
		return nil, evalErrorf(patPos, "%s", msg)
	}
	return lp, nil
}
