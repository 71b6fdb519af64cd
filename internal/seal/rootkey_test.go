package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRootKeyForms(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(0xF0 + i) // high bits set, so std and url base64 differ
	}
	want, err := rootKeyFrom(raw)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"hex":            hex.EncodeToString(raw),
		"upper hex":      strings.ToUpper(hex.EncodeToString(raw)),
		"std padded":     base64.StdEncoding.EncodeToString(raw),
		"std raw":        base64.RawStdEncoding.EncodeToString(raw),
		"url padded":     base64.URLEncoding.EncodeToString(raw),
		"url raw":        base64.RawURLEncoding.EncodeToString(raw),
		"hex whitespace": "  \t" + hex.EncodeToString(raw) + "\r\n",
		"b64 newline":    base64.StdEncoding.EncodeToString(raw) + "\n",
	}
	if forms["std raw"] == forms["url raw"] {
		t.Fatal("test key does not tell the alphabets apart")
	}
	for name, s := range forms {
		t.Run(name, func(t *testing.T) {
			k, err := ParseRootKey(s)
			if err != nil {
				t.Fatal(err)
			}
			if k.Fingerprint() != want.Fingerprint() || k.Encode() != hex.EncodeToString(raw) {
				t.Fatalf("parsed a different key")
			}
		})
	}
}

func TestParseRootKeyRejects(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 32)
	h := hex.EncodeToString(raw)
	b64 := base64.StdEncoding.EncodeToString(raw)
	nonCanonical := []byte(base64.RawStdEncoding.EncodeToString(raw))
	nonCanonical[len(nonCanonical)-1]++ // sets unused low bits
	tests := map[string]string{
		"empty":                 "",
		"spaces":                "   ",
		"63 hex":                h[:63],
		"65 hex":                h + "a",
		"66 hex":                h + "ab",
		"hex with inner space":  h[:32] + " " + h[32:],
		"non-hex 64":            "g" + h[1:],
		"base64 of 31 bytes":    base64.StdEncoding.EncodeToString(raw[:31]),
		"base64 of 33 bytes":    base64.StdEncoding.EncodeToString(append(raw, 1)),
		"base64 inner newline":  b64[:20] + "\n" + b64[20:43],
		"non-canonical base64":  string(nonCanonical),
		"all zero hex":          strings.Repeat("0", 64),
		"all zero base64":       base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"hex with 0x":           "0x" + h,
		"pem-ish":               "-----BEGIN KEY-----\n" + b64 + "\n-----END KEY-----",
		"mixed base64 alphabet": "+" + strings.Repeat("A", 41) + "_=",
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := ParseRootKey(s)
			if err == nil {
				t.Fatalf("parsed %v", k)
			}
			if !errors.Is(err, ErrInvalidRootKey) {
				t.Fatalf("error %v does not wrap ErrInvalidRootKey", err)
			}
			if tr := strings.TrimSpace(s); len(tr) >= 8 && strings.Contains(err.Error(), tr) {
				t.Fatalf("error contains the input: %v", err)
			}
		})
	}
}

func TestRootKeyIdentity(t *testing.T) {
	a, b := mustRootKey(t), mustRootKey(t)
	if a.ID() != "root" {
		t.Fatalf("ID = %q", a.ID())
	}
	fp := a.Fingerprint()
	if len(fp) != 16 || !isLowerHex(fp) {
		t.Fatalf("fingerprint %q is not 16 hex characters", fp)
	}
	if fp == b.Fingerprint() {
		t.Fatal("two root keys share a fingerprint")
	}
	enc := a.Encode()
	if len(enc) != 64 || !isLowerHex(enc) || strings.Contains(enc, fp) {
		t.Fatalf("Encode = %d chars, or contains the fingerprint", len(enc))
	}
	back, err := ParseRootKey(enc)
	if err != nil || back.Fingerprint() != fp {
		t.Fatalf("Encode/Parse round trip: %v", err)
	}
	if s := a.String(); s != "RootKey("+fp+")" {
		t.Fatalf("String = %q", s)
	}
	var nilKey *RootKey
	if nilKey.String() != "RootKey(nil)" || nilKey.Fingerprint() != "" || nilKey.Encode() != "" {
		t.Fatal("nil RootKey methods")
	}
	if _, err := nilKey.Wrap(t.Context(), make([]byte, 32)); err == nil {
		t.Fatal("nil RootKey wrapped")
	}
	var zero RootKey
	if _, err := zero.Unwrap(t.Context(), WrappedKey{}); err == nil {
		t.Fatal("zero RootKey unwrapped")
	}
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateRootKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")

	if _, _, err := LoadOrCreateRootKey(path, false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file, allowCreate=false: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a file was created although allowCreate=false")
	}

	k, created, err := LoadOrCreateRootKey(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v, created=%v", err, created)
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Fatalf("mode %#o, want 0600", m)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != k.Encode()+"\n" {
		t.Fatal("file content is not Encode()+newline")
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %d entries (temp file left?): %v", len(entries), err)
	}

	for _, allow := range []bool{true, false} {
		k2, created, err := LoadOrCreateRootKey(path, allow)
		if err != nil || created || k2.Fingerprint() != k.Fingerprint() {
			t.Fatalf("reload (allowCreate=%v): %v, created=%v", allow, err, created)
		}
	}

	// A key written elsewhere (e.g. by an operator) is read as is.
	root := mustRootKey(t)
	_, env := wrapRoot(t, root)
	p2 := filepath.Join(dir, "operator.key")
	if err := os.WriteFile(p2, []byte(base64.StdEncoding.EncodeToString(mustHex(t, root.Encode()))+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	k3, created, err := LoadOrCreateRootKey(p2, true)
	if err != nil || created {
		t.Fatalf("operator key: %v, %v", err, created)
	}
	if _, _, err := Open(t.Context(), env, ResolveByID(k3)); err != nil {
		t.Fatalf("loaded key cannot open: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadRootKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	good := mustRootKey(t).Encode() + "\n"
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile's mode passes through umask
			t.Fatal(err)
		}
		return p
	}
	readable := write("readable.key", good, 0o644)
	if _, _, err := LoadOrCreateRootKey(readable, false); err != nil {
		t.Fatalf("0644 file refused: %v", err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"group writable", write("gw.key", good, 0o620), "writable by group or others"},
		{"world writable", write("ww.key", good, 0o606), "writable by group or others"},
		{"empty", write("empty.key", "", 0o600), "empty"},
		{"garbage", write("garbage.key", "this is not a key at all, not even close!", 0o600), "want 64 hex"},
		{"too large", write("large.key", strings.Repeat("a", 5000), 0o600), "too large"},
		{"directory", dir, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.path)
			k, created, err := LoadOrCreateRootKey(tc.path, true)
			if err == nil || k != nil || created {
				t.Fatalf("accepted: %v, %v", k, created)
			}
			if !errors.Is(err, ErrInvalidRootKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrInvalidRootKey and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(good)) {
				t.Fatal("error contains the key")
			}
			after, _ := os.ReadFile(tc.path)
			if !bytes.Equal(before, after) {
				t.Fatal("the file was changed")
			}
		})
	}
	if _, _, err := LoadOrCreateRootKey(filepath.Join(dir, "no-such-dir", "root.key"), true); err == nil {
		t.Fatal("created a key in a missing directory")
	}
}

func TestCreateRootKeyFileDoesNotClobber(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	first := mustRootKey(t)
	placed, err := createRootKeyFile(path, first)
	if err != nil || !placed {
		t.Fatalf("first create: %v, %v", placed, err)
	}
	placed, err = createRootKeyFile(path, mustRootKey(t))
	if err != nil || placed {
		t.Fatalf("second create: %v, %v", placed, err)
	}
	k, _, err := LoadOrCreateRootKey(path, false)
	if err != nil || k.Fingerprint() != first.Fingerprint() {
		t.Fatalf("key was replaced: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries left in the directory", len(entries))
	}
}
