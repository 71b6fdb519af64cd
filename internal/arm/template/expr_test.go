package template

import (
	"context"
	"strings"
	"testing"
)

// exprTemplate gives the expression table parameters and variables to use.
const exprTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "name":  {"type": "string", "defaultValue": "Contoso"},
    "count": {"type": "int", "defaultValue": 3},
    "flag":  {"type": "bool", "defaultValue": true},
    "obj":   {"type": "object", "defaultValue": {"a": 1, "b": {"c": "deep"}, "list": [10, 20, 30]}},
    "arr":   {"type": "array", "defaultValue": ["x", "y", "z"]},
    "derived": {"type": "string", "defaultValue": "[concat(parameters('name'), '-', resourceGroup().location)]"},
    "stamp": {"type": "string", "defaultValue": "[utcNow()]"},
    "stampU": {"type": "string", "defaultValue": "[utcNow('u')]"},
    "fresh": {"type": "string", "defaultValue": "[newGuid()]"}
  },
  "variables": {
    "greeting": "[concat('hello ', parameters('name'))]",
    "nested": {"inner": "[variables('greeting')]", "n": "[add(parameters('count'), 1)]"},
    "escaped": "[[not an expression]",
    "copy": [{"name": "squares", "count": 4, "input": "[mul(copyIndex('squares'), copyIndex('squares'))]"}],
    "disks": {"copy": [{"name": "dataDisks", "count": 2, "input": {"lun": "[copyIndex('dataDisks')]"}}]}
  },
  "resources": []
}`

func exprEngine(t testing.TB) *engine {
	t.Helper()
	tm := mustParse(t, exprTemplate)
	e := newEngine(context.Background(), tm, Parameters{}, testScope(), nil, Incremental)
	if err := e.bindParameters(); err != nil {
		t.Fatalf("bind: %v", err)
	}
	return e
}

// evalString evaluates a template string the way a variable value would be.
func evalString(e *engine, s string, sc *scope) (any, error) {
	n := &node{kind: kindString, s: s, line: 1, col: 1}
	if _, text, isExpr := classifyString(s); isExpr {
		x, err := parseExpr(text)
		if err != nil {
			return nil, err
		}
		n.expr, n.isExp = x, true
	}
	return e.evalNode(n, sc, nodeOpts{})
}

func TestExpressionTable(t *testing.T) {
	e := exprEngine(t)
	cases := []struct {
		in   string
		want any
		err  string // substring of the expected error
	}{
		// Literals and escapes.
		{in: "plain", want: "plain"},
		{in: "[[test value]", want: "[test value]"},
		{in: "[test] value", want: "[test] value"},
		{in: "['it''s']", want: "it's"},
		{in: "[42]", want: int64(42)},
		{in: "[-7]", want: int64(-7)},
		{in: "[true()]", want: true},
		{in: "[false()]", want: false},
		{in: "[null()]", want: nil},
		{in: "[variables('escaped')]", want: "[not an expression]"},
		// Parameters, variables, case-insensitive names.
		{in: "[parameters('name')]", want: "Contoso"},
		{in: "[PARAMETERS('NAME')]", want: "Contoso"},
		{in: "[parameters('derived')]", want: "Contoso-westeurope"},
		{in: "[parameters('obj').a]", want: int64(1)},
		{in: "[parameters('obj').b.c]", want: "deep"},
		{in: "[parameters('obj')['b']['c']]", want: "deep"},
		{in: "[parameters('obj').B.C]", want: "deep"},
		{in: "[parameters('obj').list[1]]", want: int64(20)},
		{in: "[parameters('arr')[2]]", want: "z"},
		{in: "[variables('greeting')]", want: "hello Contoso"},
		{in: "[variables('nested').n]", want: int64(4)},
		{in: "[variables('nested').inner]", want: "hello Contoso"},
		{in: "[variables('squares')]", want: []any{int64(0), int64(1), int64(4), int64(9)}},
		{in: "[variables('disks').dataDisks[1].lun]", want: int64(1)},
		{in: "[parameters('stamp')]", want: "20240305T175318Z"},
		{in: "[parameters('stampU')]", want: "2024-03-05 17:53:18Z"},
		{in: "[parameters('fresh')]", want: "00000000-0000-4000-8000-000000000001"},
		// Scope functions.
		{in: "[resourceGroup().location]", want: "westeurope"},
		{in: "[resourceGroup().id]", want: "/subscriptions/sub-1/resourceGroups/rg1"},
		{in: "[resourceGroup().tags.env]", want: "test"},
		{in: "[subscription().subscriptionId]", want: "sub-1"},
		{in: "[subscription().tenantId]", want: "tenant-1"},
		{in: "[deployment().name]", want: "dep1"},
		{in: "[deployment().properties.template.contentVersion]", want: "1.0.0.0"},
		{in: "[environment().suffixes.keyvaultDns]", want: ".vault.keyward.localhost"},
		{in: "[environment().name]", want: "keyward"},
		// resourceId and friends.
		{in: "[resourceId('Microsoft.ServiceBus/namespaces', 'ns1')]", want: "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1"},
		{in: "[resourceId('Microsoft.ServiceBus/namespaces/queues', 'ns1', 'q1')]", want: "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1"},
		{in: "[resourceId('Microsoft.ServiceBus/namespaces/queues', 'ns1/q1')]", want: "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1"},
		{in: "[resourceId('otherRg', 'Microsoft.KeyVault/vaults', 'kv')]", want: "/subscriptions/sub-1/resourceGroups/otherRg/providers/Microsoft.KeyVault/vaults/kv"},
		{in: "[resourceId('sub-2', 'otherRg', 'Microsoft.KeyVault/vaults', 'kv')]", want: "/subscriptions/sub-2/resourceGroups/otherRg/providers/Microsoft.KeyVault/vaults/kv"},
		{in: "[resourceId('Microsoft.ServiceBus/namespaces/queues', 'ns1')]", err: "needs 2 name segment(s)"},
		{in: "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]", want: "/subscriptions/sub-1/providers/Microsoft.Authorization/roleDefinitions/r1"},
		{in: "[subscriptionResourceId('sub-9', 'Microsoft.Authorization/roleDefinitions', 'r1')]", want: "/subscriptions/sub-9/providers/Microsoft.Authorization/roleDefinitions/r1"},
		{in: "[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]", want: "/providers/Microsoft.Management/managementGroups/mg"},
		{in: "[extensionResourceId(resourceId('Microsoft.KeyVault/vaults', 'kv'), 'Microsoft.Authorization/locks', 'lock1')]", want: "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/locks/lock1"},
		// Strings.
		{in: "[concat('a', 'b', 1, true())]", want: "ab1True"},
		{in: "[concat(createArray(1, 2), createArray(3))]", want: []any{int64(1), int64(2), int64(3)}},
		{in: "[format('{0}-{1}', 'a', 2)]", want: "a-2"},
		{in: "[format('{0:D3}|{1,5}|{1,-5}|{{x}}', 7, 'ab')]", want: "007|   ab|ab   |{x}"},
		{in: "[format('{0:N2} {0:X}', 1234)]", want: "1,234.00 4D2"},
		{in: "[format('{2}', 1)]", err: "must be less than the number of arguments"},
		{in: "[toLower('ABC')]", want: "abc"},
		{in: "[toUpper('abc')]", want: "ABC"},
		{in: "[trim('  x y  ')]", want: "x y"},
		{in: "[split('a,b;c', createArray(',', ';'))]", want: []any{"a", "b", "c"}},
		{in: "[split('a,,b', ',')]", want: []any{"a", "", "b"}},
		{in: "[replace('Contoso.net web', '.net', '.com')]", want: "Contoso.com web"},
		{in: "[substring('Contoso.com web app', 12, 3)]", want: "web"},
		{in: "[substring('abc', 1)]", want: "bc"},
		{in: "[substring('abc', 2, 5)]", err: "must refer to a location within the string"},
		{in: "[indexOf('abcdef', 'CD')]", want: int64(2)},
		{in: "[indexOf('abcdef', 'z')]", want: int64(-1)},
		{in: "[lastIndexOf('test', 't')]", want: int64(3)},
		{in: "[startsWith('abcdef', 'AB')]", want: true},
		{in: "[endsWith('abcdef', 'EF')]", want: true},
		{in: "[endsWith('abcdef', 'e')]", want: false},
		{in: "[string(123)]", want: "123"},
		{in: "[string(true())]", want: "True"},
		{in: "[string(createObject('b', 1, 'a', 'x'))]", want: `{"a":"x","b":1}`},
		{in: "[string(createArray('a', 1))]", want: `["a",1]`},
		{in: "[padLeft('7', 3, '0')]", want: "007"},
		{in: "[join(createArray('a', 'b', 'c'), '-')]", want: "a-b-c"},
		{in: "[base64('one, two, three')]", want: "b25lLCB0d28sIHRocmVl"},
		{in: "[base64ToString('b25lLCB0d28sIHRocmVl')]", want: "one, two, three"},
		{in: "[base64ToJson(base64('{\"a\": [1]}')).a[0]]", want: int64(1)},
		{in: "[dataUri('Hello')]", want: "data:text/plain;charset=utf8;base64,SGVsbG8="},
		{in: "[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", want: "Hello, World!"},
		{in: "[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]", want: "http://contoso.com/resources/nested/azuredeploy.json"},
		{in: "[uri('http://contoso.com/resources/a.json', 'b.json')]", want: "http://contoso.com/resources/b.json"},
		{in: "[uriComponent('http://contoso.com/a b')]", want: "http%3A%2F%2Fcontoso.com%2Fa%20b"},
		{in: "[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fa%20b')]", want: "http://contoso.com/a b"},
		{in: "[uniqueString('test')]", want: "rbgf3xv4ufgzg"},
		{in: "[uniqueString('hello', 'world')]", want: "a7wkljktk6wne"},
		{in: "[uniqueString('abc')]", want: "cgtzqvhu4i23s"},
		{in: "[uniqueString('/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg')]", want: "bmg7c6xu4tw46"},
		{in: "[uniqueString('foo', 'bar', 'baz')]", want: "xzi4ioaxtmth4"},
		{in: "[guid('test')]", want: "d6a5baf1-8b9b-542a-8525-2982f1f98a0c"},
		{in: "[equals(guid('test', 'test2', 'test3'), guid('test-test2-test3'))]", want: true},
		{in: "[guid('test', 'test2', 'test3')]", want: "43ca56fb-e844-5667-aabf-b316c27c09cc"},
		{in: "[length(uniqueString(resourceGroup().id))]", want: int64(13)},
		{in: "[json('{\"a\": \"b\"}').a]", want: "b"},
		{in: "[json('null')]", want: nil},
		{in: "[json('[1, 2]')]", want: []any{int64(1), int64(2)}},
		{in: "[json('{''one'': ''a''}').one]", want: "a"},
		{in: "[dateTimeAdd('2020-04-07 14:53:14Z', 'P3Y')]", want: "4/7/2023 2:53:14 PM"},
		{in: "[dateTimeAdd('2020-04-07T14:53:14Z', '-PT1H', 'yyyy-MM-ddTHH:mm:ssZ')]", want: "2020-04-07T13:53:14Z"},
		{in: "[dateTimeToEpoch('2023-02-16T00:00:00Z')]", want: int64(1676505600)},
		{in: "[dateTimeFromEpoch(1676505600)]", want: "2023-02-16T00:00:00Z"},
		// Logic and comparison.
		{in: "[if(equals(1, 1), 'yes', 'no')]", want: "yes"},
		{in: "[if(false(), parameters('missing'), 'lazy')]", want: "lazy"},
		{in: "[equals('a', 'A')]", want: false},
		{in: "[equals(createObject('a', createArray(1)), json('{\"a\":[1]}'))]", want: true},
		{in: "[not(true())]", want: false},
		{in: "[and(true(), true(), false())]", want: false},
		{in: "[or(false(), true())]", want: true},
		{in: "[and(false(), parameters('missing'))]", want: false},
		{in: "[less(1, 2)]", want: true},
		{in: "[less('A', 'a')]", want: true},
		{in: "[lessOrEquals(2, 2)]", want: true},
		{in: "[greater('b', 'a')]", want: true},
		{in: "[greaterOrEquals(1, 2)]", want: false},
		{in: "[less(1, 'a')]", err: "same type"},
		{in: "[coalesce(null(), null(), 'x')]", want: "x"},
		{in: "[bool('TRUE')]", want: true},
		{in: "[bool(0)]", want: false},
		// Numbers.
		{in: "[add(1, 2)]", want: int64(3)},
		{in: "[sub(1, 2)]", want: int64(-1)},
		{in: "[mul(4, 5)]", want: int64(20)},
		{in: "[div(7, 2)]", want: int64(3)},
		{in: "[div(-7, 2)]", want: int64(-3)},
		{in: "[mod(-7, 2)]", want: int64(-1)},
		{in: "[div(1, 0)]", err: "divide by zero"},
		{in: "[min(3, 1, 2)]", want: int64(1)},
		{in: "[max(createArray(3, 9, 2))]", want: int64(9)},
		{in: "[int('42')]", want: int64(42)},
		{in: "[int('x')]", err: "cannot be converted"},
		{in: "[range(2, 3)]", want: []any{int64(2), int64(3), int64(4)}},
		// Collections.
		{in: "[length('abc')]", want: int64(3)},
		{in: "[length(parameters('arr'))]", want: int64(3)},
		{in: "[length(parameters('obj'))]", want: int64(3)},
		{in: "[contains('OneTwo', 'Two')]", want: true},
		{in: "[contains('OneTwo', 'two')]", want: false},
		{in: "[contains(parameters('arr'), 'y')]", want: true},
		{in: "[contains(parameters('obj'), 'A')]", want: true},
		{in: "[empty('')]", want: true},
		{in: "[empty(createArray())]", want: true},
		{in: "[empty(parameters('obj'))]", want: false},
		{in: "[first(parameters('arr'))]", want: "x"},
		{in: "[last('abc')]", want: "c"},
		{in: "[first(createArray())]", want: nil},
		{in: "[take(parameters('arr'), 2)]", want: []any{"x", "y"}},
		{in: "[skip('abcdef', 4)]", want: "ef"},
		{in: "[take('abc', 10)]", want: "abc"},
		{in: "[union(createArray(1, 2), createArray(2, 3))]", want: []any{int64(1), int64(2), int64(3)}},
		{in: "[union(createObject('a', 1, 'n', createObject('x', 1)), createObject('b', 2, 'n', createObject('y', 2)))]",
			want: map[string]any{"a": int64(1), "b": int64(2), "n": map[string]any{"x": int64(1), "y": int64(2)}}},
		{in: "[intersection(createArray('a', 'b', 'c'), createArray('c', 'b'))]", want: []any{"b", "c"}},
		{in: "[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]", want: map[string]any{"a": int64(1)}},
		{in: "[createObject('k', 'v').k]", want: "v"},
		{in: "[array('x')]", want: []any{"x"}},
		{in: "[flatten(createArray(createArray(1), createArray(2, 3)))]", want: []any{int64(1), int64(2), int64(3)}},
		{in: "[items(createObject('b', 2, 'a', 1))[0].key]", want: "a"},
		{in: "[objectKeys(createObject('b', 2, 'a', 1))]", want: []any{"a", "b"}},
		{in: "[tryGet(parameters('obj'), 'b', 'c')]", want: "deep"},
		{in: "[tryGet(parameters('obj'), 'nope')]", want: nil},
		// Lambdas.
		{in: "[filter(range(0, 5), lambda('i', greater(lambdaVariables('i'), 2)))]", want: []any{int64(3), int64(4)}},
		{in: "[map(parameters('arr'), lambda('s', toUpper(lambdaVariables('s'))))]", want: []any{"X", "Y", "Z"}},
		{in: "[reduce(range(1, 4), 0, lambda('acc', 'n', add(lambdaVariables('acc'), lambdaVariables('n'))))]", want: int64(10)},
		{in: "[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", want: []any{int64(1), int64(2), int64(3)}},
		{in: "[toObject(parameters('arr'), lambda('s', lambdaVariables('s')), lambda('s', length(lambdaVariables('s'))))]", want: map[string]any{"x": int64(1), "y": int64(1), "z": int64(1)}},
		// Errors.
		{in: "[parameters('missing')]", err: "The template parameter 'missing' is not found"},
		{in: "[variables('missing')]", err: "The template variable 'missing' is not found"},
		{in: "[nosuchfunction()]", err: "The template function 'nosuchfunction' at position '0' is not valid"},
		{in: "[contoso.unique('a')]", err: "user-defined function"},
		{in: "[parameters('obj').nope]", err: "The language expression property 'nope' doesn't exist, available properties are 'a, b, list'"},
		{in: "[parameters('arr')[5]]", err: "array index '5' at position '18' is out of bounds"},
		{in: "[concat('a', createObject())]", err: "concat accepts either only arrays"},
		{in: "[toLower(1)]", err: "must be of type 'String'"},
		{in: "[substring('abc')]", err: "function requires 2 to 3 argument(s) while 1 were provided"},
		{in: "[utcNow()]", err: "can only be used within the default value of a parameter"},
		{in: "[newGuid()]", err: "can only be used within the default value of a parameter"},
		{in: "[copyIndex()]", err: "is not expected at this location"},
		{in: "[reference('x')]", err: "can only be used in the body"},
		{in: "[reduce(range(0, 60), 1, lambda('a', 'n', createArray(lambdaVariables('a'), lambdaVariables('a'))))]", err: "the value is too large"},
		{in: "[length(reduce(range(0, 10), createArray(1), lambda('a', 'n', concat(lambdaVariables('a'), lambdaVariables('a')))))]", want: int64(1024)},
	}
	if len(cases) < 80 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := evalString(e, tc.in, &scope{site: siteVariable})
			if tc.err != "" {
				if err == nil {
					t.Fatalf("got %#v, want error containing %q", got, tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %q does not contain %q", err.Error(), tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !deepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestCopyIndexInLoops(t *testing.T) {
	e := exprEngine(t)
	sc := (&scope{site: siteBody}).withLoop("outer", 2, true).withLoop("inner", 5, false)
	for in, want := range map[string]int64{
		"[copyIndex()]":            2,
		"[copyIndex(1)]":           3,
		"[copyIndex('inner')]":     5,
		"[copyIndex('INNER', 10)]": 15,
		"[copyIndex('outer')]":     2,
	} {
		got, err := evalString(e, in, sc)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %d", in, got, err, want)
		}
	}
	if _, err := evalString(e, "[copyIndex('nope')]", sc); err == nil || !strings.Contains(err.Error(), "'nope' is not an enclosing copy loop") {
		t.Errorf("copyIndex('nope'): %v", err)
	}
}

func TestParseExprErrors(t *testing.T) {
	cases := []struct {
		text string
		want string
	}{
		{"concat('a'", "expected token 'RightParenthesis' and actual 'EndOfData' at position '10'"},
		{"concat('a' 'b')", "expected token 'RightParenthesis' and actual 'String' at position '11'"},
		{"", "expected token 'Identifier' and actual 'EndOfData' at position '0'"},
		{"'abc", "not terminated"},
		{"parameters('x').", "expected token 'Identifier' and actual 'EndOfData' at position '16'"},
		{"foo", "must be followed by '('"},
		{"a(1) b", "expected token 'EndOfData' and actual 'Identifier' at position '5'"},
		{"a(#)", "the character '#' at position '2' is not expected"},
		{"a(99999999999999999999)", "out of range"},
		{"a()[1", "expected token 'RightSquareBracket' and actual 'EndOfData' at position '5'"},
	}
	for _, tc := range cases {
		_, err := parseExpr(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseExpr(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestFormatDate(t *testing.T) {
	e := exprEngine(t)
	for f, want := range map[string]string{
		"yyyyMMddTHHmmssZ":         "20240305T175318Z",
		"o":                        "2024-03-05T17:53:18.1234567Z",
		"s":                        "2024-03-05T17:53:18",
		"yyyy-MM-dd hh:mm tt":      "2024-03-05 05:53 PM",
		"dddd, MMM d 'at' HH\\:mm": "Tuesday, Mar 5 at 17:53",
	} {
		got, err := formatDate(e.now, f)
		if err != nil || got != want {
			t.Errorf("formatDate(%q) = %q, %v; want %q", f, got, err, want)
		}
	}
}
