package sqlfilter

import (
	"errors"
	"fmt"
	"strings"
)

// Action is a parsed SQL rule action. It is immutable and safe for
// concurrent use.
type Action struct {
	expr  string
	stmts []statement
}

// statement is one SET or REMOVE.
type statement struct {
	remove bool
	target *propNode
	x      node // SET value
}

// errNilAction is returned by Apply on a nil *Action.
var errNilAction = errors.New("sqlfilter: nil action")

// ParseAction parses a SQL rule action such as
// "SET quantity = quantity / 2; REMOVE priority". Errors are *SyntaxError.
func ParseAction(expr string) (*Action, error) {
	return ParseActionWithParameters(expr, nil)
}

// ParseActionWithParameters parses a SQL rule action whose @name
// parameters take their values from params, as for ParseWithParameters.
func ParseActionWithParameters(expr string, params map[string]any) (*Action, error) {
	p, err := newParser(expr, params, true)
	if err != nil {
		return nil, err
	}
	stmts, err := p.parseAction()
	if err != nil {
		return nil, err
	}
	return &Action{expr: expr, stmts: stmts}, nil
}

// parseAction parses statements separated by ';' or ','. After a ','
// that is not followed by SET or REMOVE, the previous verb continues.
func (p *parser) parseAction() ([]statement, error) {
	if p.cur().kind == tEOF {
		return nil, p.errAt(0, "empty action")
	}
	var stmts []statement
	verb := kwNone
	for {
		t := p.cur()
		if k := p.kwOf(t); k == kwSet || k == kwRemove {
			verb = k
			p.advance()
		} else if verb == kwNone {
			return nil, p.errTok(t, "expected SET or REMOVE, found %s", t.describe())
		}
		if len(stmts) == MaxActionStatements {
			return nil, p.errAt(t.pos, "too many statements (maximum %d)", MaxActionStatements)
		}
		st, err := p.parseStatement(verb)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, st)

		switch t := p.cur(); {
		case t.kind == tEOF:
			return stmts, nil
		case t.kind == tPunct && t.text == ",":
			p.advance()
		case t.kind == tPunct && t.text == ";":
			for p.isPunct(";") {
				p.advance()
			}
			if p.cur().kind == tEOF {
				return stmts, nil
			}
			if k := p.kwOf(p.cur()); k != kwSet && k != kwRemove {
				return nil, p.errTok(p.cur(), "expected SET or REMOVE after ';', found %s", p.cur().describe())
			}
		case p.kwOf(t) == kwSet || p.kwOf(t) == kwRemove:
			// Statements may follow each other without a separator.
		default:
			return nil, p.errTok(t, "unexpected %s; expected ';', ',' or end of action", t.describe())
		}
	}
}

func (p *parser) parseStatement(verb keyword) (statement, error) {
	target, err := p.parsePropertyRef("expected a property name after " + strings.ToUpper(keywordName(verb)))
	if err != nil {
		return statement{}, err
	}
	if target.sys && !IsSettableSystemProperty(target.name) {
		return statement{}, p.errAt(target.pos, "system property %s is read-only", target.name)
	}
	if verb == kwRemove {
		return statement{remove: true, target: target}, nil
	}
	if err := p.expectPunct("=", "expected '=' after the property name, found %s", p.cur().describe()); err != nil {
		return statement{}, err
	}
	x, err := p.parseAdditive()
	if err != nil {
		return statement{}, err
	}
	return statement{target: target, x: x}, nil
}

func keywordName(k keyword) string {
	if k == kwRemove {
		return "REMOVE"
	}
	return "SET"
}

// String returns the expression the action was parsed from.
func (a *Action) String() string {
	if a == nil {
		return ""
	}
	return a.expr
}

// Apply runs the action's statements against m, in order. Statements are
// evaluated against a pending view of m so that a failing statement (an
// *EvalError) leaves m unchanged; only then are the changes written with
// m's setters, in statement order. An error from a setter is wrapped and
// returned, and the changes before it stay applied.
func (a *Action) Apply(m MutableMessage) error {
	if a == nil {
		return errNilAction
	}
	ov := &overlay{base: m}
	for _, st := range a.stmts {
		op := change{sys: st.target.sys, name: st.target.name, remove: st.remove}
		if !st.remove {
			v, err := st.x.eval(ov)
			if err != nil {
				return err
			}
			if st.target.sys {
				want := sysSettable[st.target.name]
				if v.k != kNull && v.k != want {
					return evalErrorf(st.x.position(), "cannot assign %s to system property %s (a %s)", v.typeName(), st.target.name, want)
				}
			} else if old, ok := ov.UserProperty(st.target.name); ok {
				v = implicitConvert(v, fromAny(old))
			}
			op.value = v.toAny()
		}
		ov.changes = append(ov.changes, op)
	}
	for _, c := range ov.changes {
		var err error
		switch {
		case c.sys:
			err = m.SetSystemProperty(c.name, c.value)
		case c.remove:
			err = m.RemoveUserProperty(c.name)
		default:
			err = m.SetUserProperty(c.name, c.value)
		}
		if err != nil {
			return fmt.Errorf("sqlfilter: apply action: property %q: %w", c.name, err)
		}
	}
	return nil
}

// change is one pending effect of an action.
type change struct {
	sys    bool
	remove bool
	name   string
	value  any
}

// overlay is a Message that shows pending changes over a base message.
type overlay struct {
	base    Message
	changes []change
}

func (o *overlay) SystemProperty(name string) (any, bool) {
	for i := len(o.changes) - 1; i >= 0; i-- {
		if c := o.changes[i]; c.sys && c.name == name {
			if c.remove || c.value == nil {
				return nil, false
			}
			return c.value, true
		}
	}
	return o.base.SystemProperty(name)
}

func (o *overlay) UserProperty(name string) (any, bool) {
	for i := len(o.changes) - 1; i >= 0; i-- {
		if c := o.changes[i]; !c.sys && strings.EqualFold(c.name, name) {
			if c.remove {
				return nil, false
			}
			return c.value, true
		}
	}
	return o.base.UserProperty(name)
}
