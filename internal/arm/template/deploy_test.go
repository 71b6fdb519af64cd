package template

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func deploy(t *testing.T, src string, params Parameters, d Deployer, mode Mode) (*Result, error) {
	t.Helper()
	tm := mustParse(t, src)
	return Deploy(context.Background(), tm, params, testScope(), d, mode)
}

func TestCopyLoopsAndDependsOnLoopName(t *testing.T) {
	src := `{
  "contentVersion": "1.0.0.0",
  "parameters": {"n": {"type": "int", "defaultValue": 3, "minValue": 0, "maxValue": 5}},
  "resources": [
    {
      "type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01",
      "name": "[concat('ns1/q', copyIndex(1))]",
      "dependsOn": ["nsLoop"],
      "copy": {"name": "queueLoop", "count": "[parameters('n')]"},
      "properties": {"maxDeliveryCount": "[add(copyIndex(), 10)]"}
    },
    {
      "type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01",
      "name": "[concat('ns', copyIndex(1))]",
      "location": "[resourceGroup().location]",
      "copy": {"name": "nsLoop", "count": 1}
    }
  ]
}`
	f := newFake()
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	want := []string{"ns1", "ns1/q1", "ns1/q2", "ns1/q3"}
	if got := putNames(f); !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if f.puts[3].Body["properties"].(map[string]any)["maxDeliveryCount"] != int64(12) {
		t.Fatalf("body = %v", f.puts[3].Body)
	}
	if f.puts[1].ID != "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/queues/q1" {
		t.Fatalf("id = %s", f.puts[1].ID)
	}
	// Zero iterations are allowed; the dependency on the empty loop is fine.
	f = newFake()
	if _, err := deploy(t, src, Parameters{"n": 0}, f, Incremental); err != nil {
		t.Fatal(err)
	}
	if got := putNames(f); !reflect.DeepEqual(got, []string{"ns1"}) {
		t.Fatalf("order = %v", got)
	}
}

func TestSerialCopyBatches(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2021-01-01", "name": "[concat('s', copyIndex())]",
     "copy": {"name": "loop", "count": 5, "mode": "serial", "batchSize": 2}}
  ]
}`
	tm := mustParse(t, src)
	plan, err := Validate(context.Background(), tm, nil, testScope())
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	for _, r := range plan.Resources {
		for _, d := range r.DependsOn {
			deps[r.Name] = append(deps[r.Name], d[strings.LastIndex(d, "/")+1:])
		}
	}
	want := map[string][]string{"s2": {"s0", "s1"}, "s3": {"s0", "s1"}, "s4": {"s2", "s3"}}
	if !reflect.DeepEqual(deps, want) {
		t.Fatalf("deps = %v, want %v", deps, want)
	}
}

func TestConditions(t *testing.T) {
	src := `{
  "parameters": {"newOrExisting": {"type": "string", "defaultValue": "new", "allowedValues": ["new", "existing"]}},
  "resources": [
    {"condition": "[equals(parameters('newOrExisting'), 'new')]",
     "type": "Microsoft.KeyVault/vaults", "apiVersion": "2024-11-01", "name": "kv1", "location": "westeurope",
     "properties": {"sku": {"name": "standard", "family": "A"}}},
    {"condition": "[equals(parameters('newOrExisting'), 'existing')]",
     "type": "Microsoft.KeyVault/vaults", "apiVersion": "2024-11-01", "name": "kv1", "location": "northeurope"},
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns",
     "dependsOn": ["[resourceId('Microsoft.KeyVault/vaults', 'kv1')]"]},
    {"condition": false, "type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "never",
     "properties": {"x": "[parameters('doesNotExist')]"}}
  ]
}`
	for _, tc := range []struct {
		choice  string
		wantLoc string
	}{{"new", "westeurope"}, {"existing", "northeurope"}} {
		f := newFake()
		res, err := deploy(t, src, Parameters{"newOrExisting": tc.choice}, f, Incremental)
		if err != nil {
			t.Fatal(err)
		}
		if got := putNames(f); !reflect.DeepEqual(got, []string{"kv1", "ns"}) {
			t.Fatalf("%s: puts = %v", tc.choice, got)
		}
		if f.puts[0].Location != tc.wantLoc {
			t.Fatalf("%s: location = %s", tc.choice, f.puts[0].Location)
		}
		if len(res.OutputResources) != 2 {
			t.Fatalf("outputResources = %v", res.OutputResources)
		}
	}
	_, err := deploy(t, src, Parameters{"newOrExisting": "maybe"}, newFake(), Incremental)
	te := asError(t, err)
	if !strings.Contains(te.Message, "The provided value 'maybe' for the template parameter 'newOrExisting' at line '2' and column '35' is not valid. The parameter value is not part of the allowed value(s): 'new,existing'") {
		t.Fatalf("message = %s", te.Message)
	}
}

func TestNestedChildResources(t *testing.T) {
	src := `{
  "resources": [
    {
      "type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1", "location": "westeurope",
      "sku": {"name": "Premium"},
      "resources": [
        {"type": "queues", "apiVersion": "2021-11-01", "name": "q1", "dependsOn": ["ns1"],
         "properties": {"lockDuration": "PT1M"}},
        {"type": "Microsoft.ServiceBus/namespaces/topics", "apiVersion": "2021-11-01", "name": "ns1/t1",
         "dependsOn": ["[resourceId('Microsoft.ServiceBus/namespaces', 'ns1')]"],
         "resources": [
           {"type": "subscriptions", "apiVersion": "2021-11-01", "name": "s1", "dependsOn": ["[resourceId('Microsoft.ServiceBus/namespaces/topics', 'ns1', 't1')]"]}
         ]}
      ]
    },
    {"type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01", "name": "ns1/q2",
     "dependsOn": ["Microsoft.ServiceBus/namespaces/ns1"]}
  ]
}`
	f := newFake()
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	type tn struct{ typ, name string }
	var got []tn
	for _, p := range f.puts {
		got = append(got, tn{p.Type, p.Name})
	}
	want := []tn{
		{"Microsoft.ServiceBus/namespaces", "ns1"},
		{"Microsoft.ServiceBus/namespaces/queues", "ns1/q1"},
		{"Microsoft.ServiceBus/namespaces/topics", "ns1/t1"},
		{"Microsoft.ServiceBus/namespaces/topics/subscriptions", "ns1/t1/s1"},
		{"Microsoft.ServiceBus/namespaces/queues", "ns1/q2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("puts = %v\nwant %v", got, want)
	}
	if f.puts[3].ID != "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/topics/t1/subscriptions/s1" {
		t.Fatalf("id = %s", f.puts[3].ID)
	}
	if _, ok := f.puts[0].Body["resources"]; ok {
		t.Fatal("nested resources must not be part of the parent body")
	}
}

func TestSegmentLengthError(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01", "name": "q1"}
  ]
}`
	_, err := deploy(t, src, nil, newFake(), Incremental)
	te := asError(t, err)
	if te.Code != CodeInvalidTemplate || !strings.Contains(te.Message, "The template resource 'q1' for type 'Microsoft.ServiceBus/namespaces/queues' at line '3' and column '5' has incorrect segment lengths") {
		t.Fatalf("error = %v", te)
	}
}

func TestDependencyCycles(t *testing.T) {
	src := `{
  "resources": [
    {"type": "A.B/c", "apiVersion": "1", "name": "a", "dependsOn": ["c"]},
    {"type": "A.B/c", "apiVersion": "1", "name": "b", "dependsOn": ["a"]},
    {"type": "A.B/c", "apiVersion": "1", "name": "c", "dependsOn": ["[resourceId('A.B/c', 'b')]"]},
    {"type": "A.B/c", "apiVersion": "1", "name": "free"}
  ]
}`
	f := newFake()
	_, err := deploy(t, src, nil, f, Incremental)
	te := asError(t, err)
	if te.Code != CodeInvalidTemplate || !strings.Contains(te.Message, "Circular dependency detected on resource: '/subscriptions/sub-1/resourceGroups/rg1/providers/A.B/c/a'") ||
		!strings.Contains(te.Message, "'/subscriptions/sub-1/resourceGroups/rg1/providers/A.B/c/a' -> '/subscriptions/sub-1/resourceGroups/rg1/providers/A.B/c/c' -> '/subscriptions/sub-1/resourceGroups/rg1/providers/A.B/c/b' -> '/subscriptions/sub-1/resourceGroups/rg1/providers/A.B/c/a'") {
		t.Fatalf("error = %v", te)
	}
	if te.Line != 3 || te.Column != 5 {
		t.Fatalf("position = %d:%d", te.Line, te.Column)
	}
	if len(f.puts) != 0 {
		t.Fatal("nothing may be deployed")
	}
	// Self dependency and unknown dependency.
	_, err = deploy(t, `{"resources":[{"type":"A.B/c","apiVersion":"1","name":"a","dependsOn":["a"]}]}`, nil, newFake(), Incremental)
	if te := asError(t, err); !strings.Contains(te.Message, "Circular dependency detected") {
		t.Fatalf("self: %v", te)
	}
	_, err = deploy(t, `{"resources":[{"type":"A.B/c","apiVersion":"1","name":"a","dependsOn":["ghost"]}]}`, nil, newFake(), Incremental)
	if te := asError(t, err); !strings.Contains(te.Message, "The resource 'ghost' is not defined in the template") {
		t.Fatalf("ghost: %v", te)
	}
}

func TestReferenceImplicitDependencyAndRuntimeValues(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.Web/sites", "apiVersion": "2022-01-01", "name": "app",
     "properties": {
       "endpoint": "[reference('ns1').endpoint]",
       "full": "[reference(resourceId('Microsoft.ServiceBus/namespaces', 'ns1'), '2021-11-01', 'Full').sku.name]",
       "copy": [{"name": "items", "count": 2, "input": "[concat(reference('ns1').provisioningState, copyIndex('items'))]"}]
     }},
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1", "sku": {"name": "Premium"}}
  ],
  "outputs": {
    "ep":   {"type": "string", "value": "[reference('ns1').endpoint]"},
    "full": {"type": "object", "value": "[reference('ns1', '2021-11-01', 'Full')]"}
  }
}`
	tm := mustParse(t, src)
	plan, err := Validate(context.Background(), tm, nil, testScope())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Resources[0].Name != "ns1" || len(plan.Resources[1].DependsOn) != 1 {
		t.Fatalf("plan = %+v", plan.Resources)
	}
	if got := plan.Resources[1].Body["properties"].(map[string]any)["endpoint"]; got != "[reference('ns1').endpoint]" {
		t.Fatalf("planned body shows %v", got)
	}
	f := newFake()
	res, err := Deploy(context.Background(), tm, nil, testScope(), f, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if got := putNames(f); !reflect.DeepEqual(got, []string{"ns1", "app"}) {
		t.Fatalf("order = %v", got)
	}
	props := f.puts[1].Body["properties"].(map[string]any)
	if props["endpoint"] != "https://ns1.example/" || props["full"] != "Premium" ||
		!reflect.DeepEqual(props["items"], []any{"Succeeded0", "Succeeded1"}) {
		t.Fatalf("props = %v", props)
	}
	if res.Outputs["ep"].Value != "https://ns1.example/" {
		t.Fatalf("outputs = %v", res.Outputs)
	}
	full := res.Outputs["full"].Value.(map[string]any)
	if full["apiVersion"] != "2021-11-01" || full["id"] != "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1" {
		t.Fatalf("full = %v", full)
	}
}

func TestReferenceRestrictions(t *testing.T) {
	for _, src := range []string{
		`{"variables":{"v":"[reference('x')]"},"resources":[],"outputs":{"o":{"type":"string","value":"[variables('v')]"}}}`,
		`{"resources":[{"type":"A.B/c","apiVersion":"1","name":"[reference('x').name]"}]}`,
	} {
		_, err := deploy(t, src, nil, newFake(), Incremental)
		if te := asError(t, err); !strings.Contains(te.Message, "is not expected at this location") {
			t.Errorf("%s: %v", src, te)
		}
	}
	_, err := deploy(t, `{"resources":[{"type":"A.B/c","apiVersion":"1","name":"a","properties":{"x":"[reference('nothere').y]"}}]}`, nil, newFake(), Incremental)
	if te := asError(t, err); !strings.Contains(te.Message, "The template reference 'nothere' is not valid: could not find template resource or resource copy with this name") {
		t.Errorf("unknown reference: %v", te)
	}
}

func TestListKeys(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1"},
    {"type": "Microsoft.Web/sites", "apiVersion": "2022-01-01", "name": "app",
     "properties": {"key": "[listKeys(resourceId('Microsoft.ServiceBus/namespaces/authorizationRules', 'ns1', 'RootManageSharedAccessKey'), '2021-11-01').primaryKey]"}}
  ],
  "outputs": {"k": {"type": "securestring", "value": "[listKeys('ns1', '2021-11-01').keys[0].value]"}}
}`
	a := &actionFake{fakeDeployer: newFake()}
	res, err := deploy(t, src, nil, a, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if a.puts[1].Body["properties"].(map[string]any)["key"] != "pk-listKeys" {
		t.Fatalf("body = %v", a.puts[1].Body)
	}
	if len(a.calls) != 2 || !strings.HasPrefix(a.calls[0], "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1/authorizationRules/RootManageSharedAccessKey listKeys 2021-11-01") {
		t.Fatalf("calls = %v", a.calls)
	}
	if got := jsonOf(t, res.Outputs); got != `{"k":{"type":"SecureString"}}` {
		t.Fatalf("secure output leaked: %s", got)
	}
	// Without ActionInvoker the deployment fails clearly at that resource.
	f := newFake()
	_, err = deploy(t, src, nil, f, Incremental)
	te := asError(t, err)
	if te.Code != CodeDeploymentFailed || len(te.Details) != 1 || !strings.Contains(te.Details[0].Message, "does not implement resource list actions") ||
		te.Details[0].Target != "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.Web/sites/app" {
		t.Fatalf("error = %v", te)
	}
}

func TestOutputs(t *testing.T) {
	src := `{
  "parameters": {"secret": {"type": "securestring", "defaultValue": "hunter2"}},
  "resources": [],
  "outputs": {
    "s": {"type": "string", "value": "abc"},
    "i": {"type": "int", "value": "[add(1, 2)]"},
    "b": {"type": "bool", "value": "[equals(1, 1)]"},
    "a": {"type": "array", "copy": {"count": 3, "input": "[concat('x', copyIndex())]"}},
    "o": {"type": "object", "value": {"k": "[toUpper('v')]", "n": null}},
    "sec": {"type": "securestring", "value": "[parameters('secret')]"},
    "skipped": {"type": "string", "condition": false, "value": "[parameters('nope')]"}
  }
}`
	res, err := deploy(t, src, nil, newFake(), Incremental)
	if err != nil {
		t.Fatal(err)
	}
	got := jsonOf(t, res.Outputs)
	want := `{"a":{"type":"Array","value":["x0","x1","x2"]},"b":{"type":"Bool","value":true},"i":{"type":"Int","value":3},"o":{"type":"Object","value":{"k":"V","n":null}},"s":{"type":"String","value":"abc"},"sec":{"type":"SecureString"}}`
	if got != want {
		t.Fatalf("outputs = %s\nwant      %s", got, want)
	}
	if strings.Contains(got, "hunter2") {
		t.Fatal("secure value leaked")
	}
	// A statically wrong output fails validation, before anything is deployed.
	_, err = deploy(t, `{"resources":[],"outputs":{"x":{"type":"int","value":"abc"}}}`, nil, newFake(), Incremental)
	if te := asError(t, err); te.Code != CodeInvalidTemplate || !strings.Contains(te.Message, "Expected 'Int'. Actual 'String'") {
		t.Fatalf("error = %v", te)
	}
	// One that needs deployed state fails after the deployment.
	f := newFake()
	res, err = deploy(t, `{"resources":[{"type":"A.B/c","apiVersion":"1","name":"r"}],
	  "outputs":{"x":{"type":"int","value":"[reference('r').endpoint]"}}}`, nil, f, Incremental)
	te := asError(t, err)
	if len(f.puts) != 1 || len(res.OutputResources) != 1 {
		t.Fatalf("puts = %v", f.puts)
	}
	if te.Code != CodeDeploymentOutputEvaluationFailed || len(te.Details) != 1 || te.Details[0].Target != "x" ||
		!strings.Contains(te.Details[0].Message, "Template output JToken type is not valid. Expected 'Int'. Actual 'String'") {
		t.Fatalf("error = %v", te)
	}
}

func TestBadExpressionPositions(t *testing.T) {
	src := `{
  "parameters": {
    "p": {"type": "string", "defaultValue": "x"}
  },
  "resources": [
    {
      "type": "Microsoft.ServiceBus/namespaces",
      "apiVersion": "2021-11-01",
      "name": "ns1",
      "properties": {
        "ok": "fine",
        "bad": "[concat(parameters('p'), ]"
      }
    }
  ]
}`
	_, err := Parse([]byte(src))
	te := asError(t, err)
	if te.Code != CodeInvalidTemplate || te.Line != 12 || te.Column != 16 {
		t.Fatalf("error = %+v (line %d col %d)", te, te.Line, te.Column)
	}
	for _, want := range []string{
		"The template resource 'ns1' at line '6' and column '5' is not valid",
		"Unable to parse language expression 'concat(parameters('p'), ': expected token 'Identifier' and actual 'EndOfData' at position '24'",
		"The expression is at line '12' and column '16'",
	} {
		if !strings.Contains(te.Message, want) {
			t.Errorf("message %q lacks %q", te.Message, want)
		}
	}
	// Evaluation errors carry the position of the failing string too.
	src = strings.Replace(src, `"[concat(parameters('p'), ]"`, `"[concat(parameters('q'))]"`, 1)
	_, err = deploy(t, src, nil, newFake(), Incremental)
	te = asError(t, err)
	if te.Line != 12 || te.Column != 16 || !strings.Contains(te.Message, "The template resource 'ns1' at line '6' and column '5' is not valid: The template parameter 'q' is not found") {
		t.Fatalf("error = %+v", te)
	}
	// JSON syntax errors.
	_, err = Parse([]byte("{\n  \"resources\": [,]\n}"))
	te = asError(t, err)
	if te.Line != 2 || te.Column != 17 || !strings.HasPrefix(te.Message, "Deployment template parse failed:") {
		t.Fatalf("syntax error = %+v", te)
	}
}

func TestParameterValidation(t *testing.T) {
	src := `{
  "parameters": {
    "count": {"type": "int", "minValue": 1, "maxValue": 3},
    "name": {"type": "string", "minLength": 3, "maxLength": 5},
    "tags": {"type": "array", "allowedValues": ["a", "b"]},
    "flag": {"type": "bool", "defaultValue": "[greater(parameters('count'), 1)]"},
    "pw": {"type": "securestring", "allowedValues": ["s3cret"]}
  },
  "resources": [],
  "outputs": {"flag": {"type": "bool", "value": "[parameters('flag')]"}}
}`
	base := Parameters{"count": 2, "name": "abcd", "tags": []any{"a"}, "pw": "s3cret"}
	with := func(k string, v any) Parameters {
		p := Parameters{}
		for a, b := range base {
			p[a] = b
		}
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	res, err := deploy(t, src, base, newFake(), Incremental)
	if err != nil || res.Outputs["flag"].Value != true {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	// Lenient conversions ARM also accepts.
	if _, err := deploy(t, src, with("count", "3"), newFake(), Incremental); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    Parameters
		want string
	}{
		{with("count", nil), "The value for the template parameter 'count' at line '3' and column '14' is not provided"},
		{with("count", "many"), "Template parameter JToken type is not valid. Expected 'Integer'. Actual 'String'"},
		{with("count", 9), "The value '9' is greater than the maximum allowed value '3'"},
		{with("count", 0), "less than the minimum allowed value '1'"},
		{with("name", "ab"), "Length of the value should be greater than or equal to '3'"},
		{with("name", "abcdef"), "Length of the value should be less than or equal to '5'"},
		{with("name", 5), "Expected 'String, Uri'. Actual 'Integer'"},
		{with("tags", []any{"a", "c"}), "The provided value 'c' for the template parameter 'tags'"},
		{with("pw", "wrong"), "The provided value '***' for the template parameter 'pw'"},
		{with("extra", 1), "The template parameters 'extra' in the parameters file are not valid"},
	}
	for _, tc := range cases {
		_, err := deploy(t, src, tc.p, newFake(), Incremental)
		te := asError(t, err)
		if te.Code != CodeInvalidTemplate || !strings.Contains(te.Message, tc.want) {
			t.Errorf("%v: %s, want %q", tc.p, te.Message, tc.want)
		}
		if strings.Contains(te.Message, "wrong") {
			t.Errorf("secure value in message: %s", te.Message)
		}
	}
}

func TestParseParametersForms(t *testing.T) {
	for _, src := range []string{
		`{"$schema":"x","contentVersion":"1.0.0.0","parameters":{"a":{"value":1},"b":{"value":{"c":[true]}}}}`,
		`{"a":{"value":1},"b":{"value":{"c":[true]}}}`,
		`{"parameters":{"a":{"value":1},"b":{"value":{"c":[true]}}}}`,
	} {
		p, err := ParseParameters([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !deepEqual(map[string]any(p), map[string]any{"a": int64(1), "b": map[string]any{"c": []any{true}}}) {
			t.Fatalf("%s: %#v", src, p)
		}
	}
	_, err := ParseParameters([]byte(`{"pw":{"reference":{"keyVault":{"id":"/x"},"secretName":"s"}}}`))
	if te := asError(t, err); !strings.Contains(te.Message, "Key Vault secret reference") {
		t.Fatal(te)
	}
	_, err = ParseParameters([]byte(`{"a":{"valu":1}}`))
	if te := asError(t, err); te.Code != CodeInvalidRequestContent {
		t.Fatal(te)
	}
	_, err = ParseParameters([]byte(`{"a":`))
	if te := asError(t, err); te.Code != CodeInvalidRequestContent {
		t.Fatal(te)
	}
}

func TestDeploymentFailureShape(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2024-11-01", "name": "kv1"},
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1", "dependsOn": ["kv1"]},
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns2"}
  ]
}`
	f := newFake()
	kv := "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1"
	f.fail[strings.ToLower(kv)] = codedErr{"VaultAlreadyExists", "The vault name 'kv1' is already in use."}
	res, err := deploy(t, src, nil, f, Incremental)
	te := asError(t, err)
	if te.Code != CodeDeploymentFailed || !strings.HasPrefix(te.Message, "At least one resource deployment operation failed.") {
		t.Fatalf("error = %v", te)
	}
	if len(te.Details) != 1 || te.Details[0].Code != "VaultAlreadyExists" || te.Details[0].Target != kv || te.Details[0].Message != "The vault name 'kv1' is already in use." {
		t.Fatalf("details = %+v", te.Details)
	}
	var ce codedErr
	if !errors.As(err, &ce) {
		t.Fatal("the Deployer's error must stay reachable with errors.As")
	}
	if got := putNames(f); !reflect.DeepEqual(got, []string{"kv1", "ns2"}) {
		t.Fatalf("puts = %v (ns1 must be skipped, ns2 still deployed)", got)
	}
	if len(res.OutputResources) != 1 || len(res.Operations) != 2 || res.Operations[0].ProvisioningState != "Failed" || res.Operations[0].Error == nil {
		t.Fatalf("result = %+v", res)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, te)), &body); err != nil {
		t.Fatal(err)
	}
	if body["code"] != "DeploymentFailed" || body["details"].([]any)[0].(map[string]any)["target"] != kv {
		t.Fatalf("wire = %v", body)
	}
	// A plain error gets ARM's generic code.
	f = newFake()
	f.fail[strings.ToLower(kv)] = errors.New("boom")
	_, err = deploy(t, src, nil, f, Incremental)
	if te := asError(t, err); te.Details[0].Code != CodeResourceDeploymentFailure || te.Details[0].Message != "boom" {
		t.Fatalf("details = %+v", te.Details)
	}
}

func TestCompleteMode(t *testing.T) {
	src := `{"resources":[
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "keep"},
    {"condition": false, "type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "off"}
  ]}`
	base := "/subscriptions/sub-1/resourceGroups/rg1/providers/"
	f := newFake()
	f.seed(base+"Microsoft.ServiceBus/namespaces/keep/queues/q1", map[string]any{})
	f.seed(base+"Microsoft.ServiceBus/namespaces/off", map[string]any{})
	f.seed(base+"Microsoft.ServiceBus/namespaces/off/queues/q9", map[string]any{})
	f.seed(base+"Microsoft.KeyVault/vaults/stray", map[string]any{})
	tm := mustParse(t, src)
	wi, err := WhatIf(context.Background(), tm, nil, testScope(), f, Complete)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range wi.Changes {
		changes = append(changes, string(c.ChangeType)+" "+strings.TrimPrefix(c.ResourceID, base))
	}
	wantWI := []string{
		"Create Microsoft.ServiceBus/namespaces/keep",
		"Delete Microsoft.ServiceBus/namespaces/off",
		"Delete Microsoft.KeyVault/vaults/stray",
		"Ignore Microsoft.ServiceBus/namespaces/keep/queues/q1",
		"Ignore Microsoft.ServiceBus/namespaces/off/queues/q9",
	}
	if !reflect.DeepEqual(changes, wantWI) {
		t.Fatalf("what-if = %v\nwant %v", changes, wantWI)
	}
	if len(f.puts) != 0 || len(f.deletes) != 0 {
		t.Fatal("what-if must not write")
	}
	res, err := Deploy(context.Background(), tm, nil, testScope(), f, Complete)
	if err != nil {
		t.Fatal(err)
	}
	wantDel := []string{base + "Microsoft.ServiceBus/namespaces/off", base + "Microsoft.KeyVault/vaults/stray"}
	if !reflect.DeepEqual(f.deletes, wantDel) {
		t.Fatalf("deletes = %v", f.deletes)
	}
	if n := len(res.Operations); n != 3 || res.Operations[2].ProvisioningOperation != "Delete" {
		t.Fatalf("operations = %+v", res.Operations)
	}
	// Incremental mode deletes nothing.
	f.seed(base+"Microsoft.KeyVault/vaults/other", map[string]any{})
	if _, err := Deploy(context.Background(), tm, nil, testScope(), f, Incremental); err != nil {
		t.Fatal(err)
	}
	if len(f.deletes) != 2 {
		t.Fatalf("incremental deleted %v", f.deletes)
	}
	// Second what-if: the namespace now exists unchanged.
	wi, err = WhatIf(context.Background(), tm, nil, testScope(), f, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if wi.Changes[0].ChangeType != ChangeNoChange {
		t.Fatalf("what-if = %+v", wi.Changes[0])
	}
}

func TestValidateHasNoSideEffects(t *testing.T) {
	tm := mustParse(t, string(readTestdata(t, "UpdateServiceBusNamespaceWithEncryption.json")))
	plan, err := Validate(context.Background(), tm, Parameters{"namespaceName": "n1", "keyName": "k", "keyVaultUri": "https://v"}, testScope())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Resources) != 1 || plan.Resources[0].Location != "westeurope" || plan.Resources[0].Body["sku"] == nil {
		t.Fatalf("plan = %+v", plan)
	}
}

func TestUnsupportedSections(t *testing.T) {
	cases := map[string]string{
		`{"functions":[{"namespace":"c","members":{}}],"resources":[]}`:    "user-defined functions",
		`{"resources":[],"unknownSection":1}`:                              "Could not find member 'unknownSection' on object of type 'Template'",
		`{"resources":{"a":{"type":"A.B/c","apiVersion":"1","name":"a"}}}`: "requires \"languageVersion\": \"2.0\"",
		`{"languageVersion":"3.0","resources":[]}`:                         "not supported",
		`{"resources":[{"type":"A.B/c","apiVersion":"1","name":"a","resources":[{"type":"d","apiVersion":"1","name":"x","copy":{"name":"l","count":2}}]}]}`: "Copying nested resources is not supported",
		`{"resources":[{"type":"A.B/c","name":"a"}]}`:                                                                                               "'apiVersion' property is required",
		`{"parameters":{"p":{"type":"strin"}},"resources":[]}`:                                                                                      "has an invalid type 'strin'",
		`{"parameters":{"p":{"type":"string","defaultValue":"[reference('x')]"}},"resources":[]}`:                                                   "is not expected at this location",
		`{"parameters":{"p":{"type":"string","defaultValue":"[variables('v')]"}},"variables":{"v":1},"resources":[]}`:                               "Variables can't be used",
		`{"variables":{"a":"[variables('b')]","b":"[variables('a')]"},"resources":[],"outputs":{"o":{"type":"string","value":"[variables('a')]"}}}`: "circular reference",
	}
	for src, want := range cases {
		tm, err := Parse([]byte(src))
		if err == nil {
			_, err = Deploy(context.Background(), tm, nil, testScope(), newFake(), Incremental)
		}
		if te := asError(t, err); te.Code != CodeInvalidTemplate || !strings.Contains(te.Message, want) {
			t.Errorf("%s: %v, want %q", src, te, want)
		}
	}
}

func TestLanguageVersion2SymbolicNames(t *testing.T) {
	src := `{
  "languageVersion": "2.0",
  "contentVersion": "1.0.0.0",
  "resources": {
    "vault": {"existing": true, "type": "Microsoft.KeyVault/vaults", "apiVersion": "2024-11-01", "name": "kv1"},
    "ns": {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1",
           "properties": {"vaultUri": "[reference('vault').vaultUri]"}},
    "q": {"type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01", "name": "ns1/q", "dependsOn": ["ns"]}
  }
}`
	f := newFake()
	f.seed("/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1",
		map[string]any{"properties": map[string]any{"vaultUri": "https://kv1.vault.keyward.localhost/"}})
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	if got := putNames(f); !reflect.DeepEqual(got, []string{"ns1", "ns1/q"}) {
		t.Fatalf("puts = %v", got)
	}
	if f.puts[0].Body["properties"].(map[string]any)["vaultUri"] != "https://kv1.vault.keyward.localhost/" {
		t.Fatalf("body = %v", f.puts[0].Body)
	}
}

func TestNestedDeploymentInnerScopeIsNotEvaluated(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
     "properties": {
       "mode": "Incremental",
       "expressionEvaluationOptions": {"scope": "inner"},
       "parameters": {"p": {"value": "[resourceGroup().location]"}},
       "template": {"resources": [], "outputs": {"o": {"type": "string", "value": "[parameters('p')]"}}}
     }}
  ]
}`
	f := newFake()
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	props := f.puts[0].Body["properties"].(map[string]any)
	if props["parameters"].(map[string]any)["p"].(map[string]any)["value"] != "westeurope" {
		t.Fatalf("parameters = %v", props["parameters"])
	}
	tmpl := props["template"].(map[string]any)
	if tmpl["outputs"].(map[string]any)["o"].(map[string]any)["value"] != "[parameters('p')]" {
		t.Fatalf("inner template was evaluated: %v", tmpl)
	}
}

func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tm := mustParse(t, string(readTestdata(t, "CreateServiceBusPremiumNamespace.json")))
	f := newFake()
	_, err := Deploy(ctx, tm, Parameters{"namespaceName": "x"}, testScope(), f, Incremental)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(f.puts) != 0 {
		t.Fatal("canceled deployment must not put")
	}
}

func TestTemplateConcurrentUse(t *testing.T) {
	tm := mustParse(t, string(readTestdata(t, "CreateServiceBusPremiumNamespace.json")))
	done := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := Deploy(context.Background(), tm, Parameters{"namespaceName": "n" + string(rune('a'+i))}, testScope(), newFake(), Incremental)
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeferredConditionAndExternalReference(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1"},
    {"condition": "[equals(reference('ns1').provisioningState, 'Succeeded')]",
     "type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01", "name": "ns1/yes"},
    {"condition": "[equals(reference('ns1').provisioningState, 'Failed')]",
     "type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01", "name": "ns1/no"},
    {"type": "Microsoft.Web/sites", "apiVersion": "2022-01-01", "name": "app",
     "properties": {
       "vault": "[reference(resourceId('otherRg', 'Microsoft.KeyVault/vaults', 'kv9'), '2024-11-01').vaultUri]",
       "pick": "[if(equals(reference('ns1').provisioningState, 'Succeeded'), 'ok', parameters('nope'))]"
     }}
  ]
}`
	// The branch of if() that needs parameters('nope') is never taken: an
	// undecidable if() must not fail validation.
	tm := mustParse(t, src)
	plan, err := Validate(context.Background(), tm, nil, testScope())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Resources[1].ConditionKnown || len(plan.Resources[1].DependsOn) != 1 {
		t.Fatalf("plan = %+v", plan.Resources[1])
	}
	f := newFake()
	kv := "/subscriptions/sub-1/resourceGroups/otherRg/providers/Microsoft.KeyVault/vaults/kv9"
	f.seed(kv, map[string]any{"properties": map[string]any{"vaultUri": "https://kv9/"}})
	if _, err := Deploy(context.Background(), tm, nil, testScope(), f, Incremental); err != nil {
		t.Fatal(err)
	}
	if got := putNames(f); !reflect.DeepEqual(got, []string{"ns1", "ns1/yes", "app"}) {
		t.Fatalf("puts = %v", got)
	}
	if p := f.puts[2].Body["properties"].(map[string]any); p["vault"] != "https://kv9/" || p["pick"] != "ok" {
		t.Fatalf("props = %v", p)
	}
	// A reference to a missing external resource fails that resource with ResourceNotFound.
	delete(f.resources, strings.ToLower(kv))
	_, err = Deploy(context.Background(), tm, nil, testScope(), f, Incremental)
	te := asError(t, err)
	if te.Code != CodeDeploymentFailed || te.Details[0].Code != "ResourceNotFound" ||
		te.Details[0].Message != "The Resource 'Microsoft.KeyVault/vaults/kv9' under resource group 'rg1' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix" {
		t.Fatalf("error = %+v", te.Details[0])
	}
}

func TestRuntimeExpressionErrorShape(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.ServiceBus/namespaces", "apiVersion": "2021-11-01", "name": "ns1"},
    {"type": "Microsoft.Web/sites", "apiVersion": "2022-01-01", "name": "app",
     "properties": {"x": "[reference('ns1').doesNotExist]"}}
  ]
}`
	f := newFake()
	_, err := deploy(t, src, nil, f, Incremental)
	te := asError(t, err)
	if te.Code != CodeDeploymentFailed || len(te.Details) != 1 {
		t.Fatalf("error = %v", te)
	}
	d := te.Details[0]
	want := "Unable to process template language expressions for resource '/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.Web/sites/app' at line '5' and column '26'. 'The language expression property 'doesNotExist' doesn't exist, available properties are 'endpoint, provisioningState'"
	if d.Code != CodeInvalidTemplate || !strings.HasPrefix(d.Message, want) || d.Line != 5 || d.Column != 26 {
		t.Fatalf("detail = %+v", d)
	}
}

func BenchmarkDeployCopyLoop(b *testing.B) {
	src := `{
  "parameters": {"n": {"type": "int", "defaultValue": 100}},
  "resources": [
    {"type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": "2021-11-01",
     "name": "[format('ns1/q{0:D3}', copyIndex())]", "copy": {"name": "l", "count": "[parameters('n')]"},
     "properties": {"id": "[guid(resourceGroup().id, string(copyIndex()))]", "u": "[uniqueString(resourceGroup().id, string(copyIndex()))]"}}
  ]
}`
	tm := mustParse(b, src)
	b.ResetTimer()
	for range b.N {
		if _, err := Deploy(context.Background(), tm, nil, testScope(), newFake(), Incremental); err != nil {
			b.Fatal(err)
		}
	}
}
