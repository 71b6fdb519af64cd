package template

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestJSONParser(t *testing.T) {
	src := "\ufeff{\n  // comment\n  \"s\": \"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\", /* block */\n  \"n\": [1, -2, 3.5, 1e3, 12345678901234567890],\n  \"t\": true, \"f\": false, \"z\": null,\n  \"dup\": 1, \"dup\": 2,\n}"
	n, err := parseJSON(src, false)
	if err != nil {
		t.Fatal(err)
	}
	got := n.literal().(map[string]any)
	if got["s"] != "a\"b\\c/d\né😀" {
		t.Errorf("s = %q", got["s"])
	}
	nums := got["n"].([]any)
	if nums[0] != int64(1) || nums[1] != int64(-2) || nums[2] != 3.5 || nums[3] != float64(1000) || nums[4] != 12345678901234567890.0 {
		t.Errorf("n = %#v", nums)
	}
	if got["t"] != true || got["f"] != false || got["z"] != nil || got["dup"] != int64(2) {
		t.Errorf("literals = %#v", got)
	}
	if v := n.get("S"); v == nil || v.line != 3 || v.col != 8 {
		t.Errorf("position of s = %+v", v)
	}
	for _, bad := range []struct{ src, want string }{
		{`{"a" 1}`, "expected ':' after property name \"a\" at line 1, column 6"},
		{"{\"a\":\n  tru}", "unexpected character 't' at line 2, column 3"},
		{`["\x"]`, "invalid escape sequence"},
		{`{"a":1} x`, "after the top-level value"},
		{`/* open`, "unterminated comment"},
		{`"abc`, "unterminated string"},
		{`[1,`, "unexpected end of input"},
		{`{'a':1}`, "expected a property name"},
		{strings.Repeat("[", maxJSONDepth+1), "nested too deeply"},
	} {
		if _, err := parseJSON(bad.src, false); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseJSON(%q) = %v, want %q", bad.src, err, bad.want)
		}
	}
	if n, err := parseJSON(`{'a': 'it\'s'}`, true); err != nil || n.literal().(map[string]any)["a"] != "it's" {
		t.Errorf("lenient: %v", err)
	}
}

func TestFormatNumbers(t *testing.T) {
	cases := []struct {
		f    string
		args []any
		want string
	}{
		{"{0:N0}", []any{int64(1234567)}, "1,234,567"},
		{"{0:F1}", []any{2.25}, "2.2"},
		{"{0:N2}", []any{-1234.5}, "-1,234.50"},
		{"{0:P1}", []any{0.256}, "25.6 %"},
		{"{0:E2}", []any{int64(1234)}, "1.23E+003"},
		{"{0:x4}", []any{int64(255)}, "00ff"},
		{"{0:D5}", []any{int64(-42)}, "-00042"},
		{"{0:000}", []any{int64(7)}, "007"},
		{"{0:#,##0}", []any{int64(1234567)}, "1,234,567"},
		{"{0:0.00}", []any{1.5}, "1.50"},
		{"{0}", []any{1.5}, "1.5"},
		{"{0} {1} {2}", []any{true, nil, []any{int64(1), "a"}}, `True  [1,"a"]`},
		{"{0:yyyy}", []any{"text"}, "text"},
	}
	for _, tc := range cases {
		got, err := dotnetFormat(tc.f, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("format(%q, %v) = %q, %v; want %q", tc.f, tc.args, got, err, tc.want)
		}
	}
	for _, bad := range []string{"{", "}", "{x}", "{0,zz}"} {
		if _, err := dotnetFormat(bad, []any{int64(1)}); err == nil {
			t.Errorf("format(%q) succeeded", bad)
		}
	}
}

type structParam struct {
	Name  string  `json:"name"`
	Count float64 `json:"count"`
}

func TestNormalize(t *testing.T) {
	in := map[string]any{
		"f": 3.0, "g": 2.5, "i": 7, "u": uint32(9), "n": json.Number("12"), "nf": json.Number("1.25"),
		"ss": []string{"a"}, "ms": map[string]string{"k": "v"}, "st": structParam{"x", 2},
		"raw": json.RawMessage(`{"a":[1]}`), "nilp": (*structParam)(nil),
	}
	got := normalize(in)
	want := map[string]any{
		"f": int64(3), "g": 2.5, "i": int64(7), "u": int64(9), "n": int64(12), "nf": 1.25,
		"ss": []any{"a"}, "ms": map[string]any{"k": "v"}, "st": map[string]any{"name": "x", "count": int64(2)},
		"raw": map[string]any{"a": []any{int64(1)}}, "nilp": nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("normalize = %#v", got)
	}
}

func TestErrorWireShape(t *testing.T) {
	inner := deployerError("/x", codedErr{"Conflict", "busy"})
	e := deploymentFailed([]*Error{inner})
	got := jsonOf(t, e)
	want := `{"code":"DeploymentFailed","message":"At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.","details":[{"code":"Conflict","message":"busy","target":"/x"}]}`
	if got != want {
		t.Fatalf("wire = %s", got)
	}
	if !strings.Contains(e.Error(), "/x: Conflict: busy") || e.ErrorCode() != CodeDeploymentFailed {
		t.Fatalf("Error() = %s", e.Error())
	}
	ne := NewError("BadRequest", "nope")
	if d := deployerError("/y", fmt.Errorf("wrapped: %w", ne)); d.Code != "BadRequest" || d.Target != "/y" || !errors.Is(d, ne) {
		t.Fatalf("detail = %+v", d)
	}
	if !isNotFound(codedErr{"ResourceNotFound", "x"}) || isNotFound(errors.New("x")) {
		t.Fatal("isNotFound")
	}
	// A resource manager error struct with Code/Message fields (like
	// arm.Error) and no ErrorCode method.
	al := &armLikeErr{Status: 409, Code: "Conflict", Message: "in use"}
	if d := deployerError("/z", fmt.Errorf("put: %w", al)); d.Code != "Conflict" || d.Message != "in use" || !errors.Is(d, al) {
		t.Fatalf("struct detail = %+v", d)
	}
	if !isNotFound(fmt.Errorf("get: %w", &armLikeErr{Code: "ResourceNotFound"})) {
		t.Fatal("struct not-found")
	}
}

func TestExtensionAndCrossGroupResources(t *testing.T) {
	src := `{
  "resources": [
    {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2024-11-01", "name": "kv1"},
    {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "lock1",
     "scope": "Microsoft.KeyVault/vaults/kv1", "dependsOn": ["kv1"], "properties": {"level": "CanNotDelete"}},
    {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
     "name": "[guid('kv1', 'reader')]", "scope": "[resourceId('Microsoft.KeyVault/vaults', 'kv1')]"},
    {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "other",
     "resourceGroup": "rg2", "properties": {"mode": "Incremental", "template": {"resources": []}}}
  ]
}`
	f := newFake()
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	kv := "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1"
	want := []string{
		kv,
		kv + "/providers/Microsoft.Authorization/locks/lock1",
		kv + "/providers/Microsoft.Authorization/roleAssignments/" + armGUID([]string{"kv1", "reader"}),
		"/subscriptions/sub-1/resourceGroups/rg2/providers/Microsoft.Resources/deployments/other",
	}
	var got []string
	for _, p := range f.puts {
		got = append(got, p.ID)
		if _, ok := p.Body["scope"]; ok {
			t.Errorf("scope leaked into the body of %s", p.ID)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ids = %v\nwant %v", got, want)
	}
}

func TestWhatIfModify(t *testing.T) {
	src := `{"resources":[{"type":"Microsoft.ServiceBus/namespaces","apiVersion":"2021-11-01","name":"ns1",
	  "location":"West Europe","sku":{"name":"Premium","capacity":2},"tags":{"a":"b"}}]}`
	tm := mustParse(t, src)
	f := newFake()
	id := "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.ServiceBus/namespaces/ns1"
	f.seed(id, map[string]any{"location": "westeurope", "sku": map[string]any{"name": "Premium", "capacity": 1.0}, "tags": map[string]any{"a": "b"}})
	wi, err := WhatIf(context.Background(), tm, nil, testScope(), f, Incremental)
	if err != nil {
		t.Fatal(err)
	}
	if wi.Changes[0].ChangeType != ChangeModify || wi.Changes[0].Before["sku"].(map[string]any)["capacity"] != int64(1) {
		t.Fatalf("changes = %+v", wi.Changes)
	}
	f.resources[strings.ToLower(id)]["sku"] = map[string]any{"name": "Premium", "capacity": 2.0}
	wi, err = WhatIf(context.Background(), tm, nil, testScope(), f, Incremental)
	if err != nil || wi.Changes[0].ChangeType != ChangeNoChange {
		t.Fatalf("changes = %+v, %v", wi.Changes, err)
	}
}

func TestRequestBodyJSONAndNulls(t *testing.T) {
	src := `{"resources":[{"type":"A.B/c","apiVersion":"1","name":"x","tags":null,"comments":"c",
	  "properties":{"keep":[null,1],"drop":null,"nested":{"gone":"[json('null')]","n":1.5}}}]}`
	f := newFake()
	if _, err := deploy(t, src, nil, f, Incremental); err != nil {
		t.Fatal(err)
	}
	b, err := f.puts[0].BodyJSON()
	if err != nil || string(b) != `{"properties":{"keep":[null,1],"nested":{"n":1.5}}}` {
		t.Fatalf("body = %s, %v", b, err)
	}
}

func TestTemplateAccessors(t *testing.T) {
	tm := mustParse(t, string(readTestdata(t, "UpdateServiceBusNamespaceWithEncryption.json")))
	if got := tm.ParameterNames(); !reflect.DeepEqual(got, []string{"namespaceName", "location", "keyVaultUri", "keyName"}) {
		t.Fatalf("params = %v", got)
	}
	if len(tm.OutputNames()) != 0 || tm.ContentVersion != "1.0.0.0" || !strings.Contains(tm.Schema, "deploymentTemplate.json") {
		t.Fatalf("template = %+v", tm)
	}
}

func TestMiscFunctions(t *testing.T) {
	e := exprEngine(t)
	for in, want := range map[string]any{
		"[tenant().tenantId]": "tenant-1",
		"[pickZones('Microsoft.Compute', 'virtualMachines', 'westeurope')]": []any{},
		"[first('')]":                                       "",
		"[last(createArray(1, 2))]":                         int64(2),
		"[int(true())]":                                     int64(1),
		"[int(json('2.5'))]":                                int64(2),
		"[indexOf(createArray('a', 'b'), 'b')]":             int64(1),
		"[lastIndexOf(createArray('a', 'b', 'a'), 'a')]":    int64(2),
		"[string(json('1.5'))]":                             "1.5",
		"[union(createArray(json('1.0')), createArray(1))]": []any{float64(1)},
		"[string(createObject('q', 'a\"b\\nc'))]":           `{"q":"a\"b\\nc"}`,
	} {
		got, err := evalString(e, in, &scope{site: siteVariable})
		if err != nil || !deepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", in, got, err, want)
		}
	}
	if _, err := evalString(e, "[managementGroup()]", &scope{site: siteVariable}); err == nil {
		t.Error("managementGroup() must fail")
	}
}

// armLikeErr mirrors the resource manager's error type.
type armLikeErr struct {
	Status  int
	Code    string
	Message string
}

func (e *armLikeErr) Error() string { return e.Code + ": " + e.Message }
