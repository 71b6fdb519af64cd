package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// leaks reports whether out shows secret in any common encoding.
func leaks(out string, secret []byte) bool {
	forms := []string{
		string(secret),
		hex.EncodeToString(secret),
		strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret),
		fmt.Sprint(secret),                         // [1 2 3 ...]
		fmt.Sprintf("%#v", secret),                 // []byte{0x1, ...}
		fmt.Sprint([32]byte(secret)),               // arrays
		fmt.Sprint(secret[:8]),                     // partial decimal
		hex.EncodeToString(secret[:8]),             // partial hex
		strings.Trim(fmt.Sprint(secret[:8]), "[]"), // "1 2 3" in a struct dump
	}
	for _, f := range forms {
		if strings.Contains(out, f) {
			return true
		}
	}
	return false
}

func formatAll(v any) []string {
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"}
	var out []string
	for _, verb := range verbs {
		out = append(out, fmt.Sprintf(verb, v))
	}
	out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
	return out
}

func TestNoSecretsWhenFormatted(t *testing.T) {
	// Keys drawn from a counting reader have distinctive, easily found bytes.
	dk, err := newDataKey(&countingReader{next: 0x40})
	if err != nil {
		t.Fatal(err)
	}
	root, err := newRootKey(&countingReader{next: 0x80})
	if err != nil {
		t.Fatal(err)
	}
	dkSecret := secretOf(t, dk)
	rootSecret := root.st.key[:]

	type exported struct {
		K *DataKey
		R *RootKey
	}
	type unexported struct {
		k *DataKey
		r *RootKey
	}
	values := map[string]any{
		"*DataKey":          dk,
		"DataKey value":     *dk,
		"*RootKey":          root,
		"RootKey value":     *root,
		"exported fields":   exported{dk, root},
		"unexported fields": unexported{dk, root},
		"pointer to struct": &unexported{dk, root},
		"slice":             []*DataKey{dk},
		"map":               map[string]*RootKey{"r": root},
		"any slice":         []any{*dk, *root},
	}
	for name, v := range values {
		for _, out := range formatAll(v) {
			if leaks(out, dkSecret) || leaks(out, rootSecret) {
				t.Errorf("%s: formatted output shows a key: %q", name, out)
			}
		}
	}
	if got := fmt.Sprintf("%v|%+v|%#v|%x", dk, dk, dk, dk); strings.Count(got, "DataKey("+dk.ID()+")") != 4 {
		t.Errorf("DataKey formats as %q", got)
	}
	if got := fmt.Sprintf("%v|%#v", root, root); got != "RootKey("+root.Fingerprint()+")|RootKey("+root.Fingerprint()+")" {
		t.Errorf("RootKey formats as %q", got)
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("keys", "dk", dk, "root", root, "both", exported{dk, root})
	}
	if leaks(buf.String(), dkSecret) || leaks(buf.String(), rootSecret) {
		t.Errorf("slog output shows a key: %s", buf.String())
	}
	if !strings.Contains(buf.String(), root.Fingerprint()) {
		t.Errorf("slog output lacks the fingerprint: %s", buf.String())
	}

	j, err := json.Marshal(exported{dk, root})
	if err != nil {
		t.Fatal(err)
	}
	if leaks(string(j), dkSecret) || leaks(string(j), rootSecret) {
		t.Errorf("JSON shows a key: %s", j)
	}

	// Errors from every failing path must not carry key bytes either.
	_, env := wrapRoot(t, root)
	other := mustRootKey(t)
	_, _, err = Open(t.Context(), env, ResolveByID(other))
	if err == nil || leaks(err.Error(), rootSecret) || leaks(err.Error(), other.st.key[:]) {
		t.Errorf("Open error: %v", err)
	}
}
