package template

import (
	"strings"
	"testing"
)

// TestParseResourceIDOddBytes: ids that are not valid UTF-8, or whose
// letters change length in lower case, parse (or not) without a panic.
func TestParseResourceIDOddBytes(t *testing.T) {
	for _, c := range []struct {
		id        string
		typ, name string
		ok        bool
	}{
		{strings.Repeat("\xff", 20) + "/providers/a/b/c", "a/b", "c", true},
		{strings.Repeat("İ", 20) + "/PROVIDERS/Microsoft.X/y/z", "Microsoft.X/y", "z", true},
		{"/subscriptions/s/providers/Microsoft.X/y/z", "Microsoft.X/y", "z", true},
		{"/subscriptions/s/providerſ/Microsoft.X/y/z", "", "", false},
		{strings.Repeat("\xff", 20), "", "", false},
	} {
		typ, name, ok := parseResourceID(c.id)
		if typ != c.typ || name != c.name || ok != c.ok {
			t.Errorf("parseResourceID(%q) = %q, %q, %v; want %q, %q, %v", c.id, typ, name, ok, c.typ, c.name, c.ok)
		}
	}
}
