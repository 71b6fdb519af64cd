package template

import (
	"context"
	"testing"
)

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{
		"concat('a', parameters('b'))", "resourceId('A.B/c', 'n')[0].x['y']", "a(-1, 'it''s')",
		"if(equals(1,1),'a','b')", "contoso.fn(1)", "a(", "'x", "a()[", "x.y", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseExpr(s)
		if err != nil {
			if _, ok := err.(*exprError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if e.pos < 0 || e.end > len(s) || e.pos > e.end {
			t.Fatalf("bad span %d..%d for %q", e.pos, e.end, s)
		}
	})
}

func FuzzEvalExpr(f *testing.F) {
	for _, s := range []string{
		"[concat('a', parameters('name'))]", "[substring('abc', 1, 5)]", "[format('{0:N2}{1,-3}', 1, 'x')]",
		"[split('a,b', ',')[1]]", "[range(0, 3)]", "[union(parameters('obj'), json('{}'))]",
		"[dateTimeAdd('2020-01-01', 'P1DT2H')]", "[padLeft('1', 4, '0')]", "[take(parameters('arr'), -1)]",
		"[map(range(0, 2), lambda('x', lambdaVariables('x')))]", "[uniqueString('a')]", "[div(1, 0)]",
	} {
		f.Add(s)
	}
	e := exprEngine(f)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = evalString(e, s, &scope{site: siteVariable})
		_, _ = evalString(e, s, &scope{site: siteBody, validate: true})
	})
}

func FuzzParseTemplate(f *testing.F) {
	f.Add([]byte(exprTemplate))
	f.Add([]byte(`{"resources":[{"type":"A.B/c","apiVersion":"1","name":"[concat('a', copyIndex())]","copy":{"name":"l","count":2},
	  "dependsOn":["l"],"properties":{"copy":[{"name":"p","count":1,"input":"[copyIndex('p')]"}]}}],
	  "outputs":{"o":{"type":"array","copy":{"count":2,"input":"[copyIndex()]"}}}}`))
	f.Add([]byte(`{"languageVersion":"2.0","resources":{"s":{"type":"A.B/c","apiVersion":"1","name":"x"}}}`))
	f.Add([]byte(`{"resources":[{"type":"A.B/c","apiVersion":"1","name":"a","resources":[{"type":"d","apiVersion":"1","name":"b"}]}]} // c`))
	f.Add([]byte(`{/*x*/"parameters":{"p":{"type":"int","defaultValue":1,"minValue":0}},"resources":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm, err := Parse(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse error of type %T", err)
			}
			return
		}
		if _, err := Validate(context.Background(), tm, nil, testScope()); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Validate error of type %T: %v", err, err)
			}
		}
	})
}

func FuzzParseParameters(f *testing.F) {
	f.Add([]byte(`{"$schema":"x","contentVersion":"1.0.0.0","parameters":{"a":{"value":1}}}`))
	f.Add([]byte(`{"a":{"value":[1,{"b":null}]}}`))
	f.Add([]byte(`{"a":{"reference":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseParameters(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil parameters without error")
		}
	})
}
