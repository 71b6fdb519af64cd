package arm

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLenientJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"strict JSON is left alone", `{"a": [1, "b:c", true, null]}`, `{"a": [1, "b:c", true, null]}`, false},
		{"the Azure CLI's deployment body", "{\"properties\": {\"mode\": \"Incremental\", template:{\n  // a comment\n  \"$schema\": \"x\", /* inline */ \"resources\": []\n}}}",
			"{\"properties\": {\"mode\": \"Incremental\", \"template\":{\n              \n  \"$schema\": \"x\",              \"resources\": []\n}}}", true},
		{"bare keys with spaces before the colon", `{a : 1, _b$2:{c:"d"}}`, `{"a" : 1, "_b$2":{"c":"d"}}`, true},
		{"single-quoted strings", `{'k': 'it\'s "x"'}`, `{"k": "it's \"x\""}`, true},
		{"a comment keeps its line breaks", "{/* one\ntwo */\"a\":1}", "{      \n      \"a\":1}", true},
		{"keywords are not keys", `{"a": true, "b": false, "c": null, "d": 1e5}`, `{"a": true, "b": false, "c": null, "d": 1e5}`, false},
		{"slashes inside strings are not comments", `{"u": "https://x//y/*z*/"}`, `{"u": "https://x//y/*z*/"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := lenientJSON([]byte(tc.in))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%q)", ok, tc.ok, out)
			}
			if ok && string(out) != tc.want {
				t.Fatalf("got  %q\nwant %q", out, tc.want)
			}
			if ok && !json.Valid(out) {
				t.Fatalf("not valid JSON: %q", out)
			}
		})
	}
	if _, ok := lenientJSON([]byte(`{/* never closed`)); ok {
		t.Fatal("an unterminated comment must not be rewritten")
	}
}

func TestDecodeRelaxedBody(t *testing.T) {
	var v struct {
		Properties struct {
			Mode     string          `json:"mode"`
			Template json.RawMessage `json:"template"`
		} `json:"properties"`
	}
	r := &Request{Body: []byte("{\"properties\": {\"mode\": \"Incremental\", template:{\n \"resources\": [] // none\n}}}")}
	if err := r.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.Properties.Mode != "Incremental" || !strings.Contains(string(v.Properties.Template), `"resources": []`) {
		t.Fatalf("decoded %+v", v)
	}
	// Bad JSON that is not relaxed JSON either keeps the strict error.
	err := (&Request{Body: []byte(`{"a": }`)}).Decode(&v)
	if e, ok := err.(*Error); !ok || e.Code != "InvalidRequestContent" || !strings.Contains(e.Message, "invalid character '}'") {
		t.Fatalf("bad body: %v", err)
	}
}

func FuzzLenientJSON(f *testing.F) {
	f.Add([]byte(`{a:1, 'b':"c" /* x */}`))
	f.Add([]byte("{\"template\":{// c\n}}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ok := lenientJSON(in)
		if ok && json.Valid(in) {
			t.Fatalf("valid JSON %q rewritten to %q", in, out)
		}
	})
}
