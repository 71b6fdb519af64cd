package seal

import (
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// RootKey is the 32-byte root key of a keyward installation. It is a KEK with
// ID "root" whose wraps carry its Fingerprint as KEKVersion. It is safe for
// concurrent use. The key lives two pointers away from the RootKey, so even a
// copied RootKey value printed with fmt shows an address, never the key.
type RootKey struct {
	st *rootKeyState
}

type rootKeyState struct {
	key         *[32]byte   // a pointer so that fmt never prints it (see DataKey)
	aead        cipher.AEAD // AES-256-GCM under HKDF(key, "keyward root kek v1")
	fingerprint string
	rand        io.Reader // nil means crypto/rand; set only by tests
}

// NewRootKey returns a new random root key.
func NewRootKey() (*RootKey, error) {
	return newRootKey(nil)
}

func newRootKey(r io.Reader) (*RootKey, error) {
	var b [32]byte
	defer clear(b[:])
	if err := readRandom(r, b[:]); err != nil {
		return nil, fmt.Errorf("seal: new root key: %w", err)
	}
	k, err := rootKeyFrom(b[:])
	if err != nil {
		return nil, err
	}
	k.st.rand = r
	return k, nil
}

// rootKeyFrom builds a RootKey from a copy of the 32 bytes b.
func rootKeyFrom(b []byte) (*RootKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("seal: root key: %w: must be 32 bytes", ErrInvalidRootKey)
	}
	var zero [32]byte
	if subtle.ConstantTimeCompare(b, zero[:]) == 1 {
		return nil, fmt.Errorf("seal: root key: %w: all bytes are zero", ErrInvalidRootKey)
	}
	st := &rootKeyState{key: new([32]byte)}
	copy(st.key[:], b)
	wk, err := deriveKey(b, nil, rootKEKInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(wk)
	if st.aead, err = newGCM(wk); err != nil {
		return nil, err
	}
	fp, err := deriveKey(b, nil, rootFPInfo, rootFPSize)
	if err != nil {
		return nil, err
	}
	st.fingerprint = hex.EncodeToString(fp)
	return &RootKey{st: st}, nil
}

// ParseRootKey parses a root key written as 64 hex characters or as base64
// (standard or URL alphabet, padded or not) of 32 bytes. Surrounding
// whitespace is ignored. Errors wrap ErrInvalidRootKey and never contain the
// text.
func ParseRootKey(s string) (*RootKey, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			defer clear(b)
			return rootKeyFrom(b)
		}
	}
	// base64 of 32 bytes is 43 characters unpadded, 44 padded. The length
	// check also keeps the base64 decoders from skipping embedded newlines.
	if len(s) == 43 || len(s) == 44 {
		for _, enc := range []*base64.Encoding{
			base64.StdEncoding.Strict(), base64.URLEncoding.Strict(),
			base64.RawStdEncoding.Strict(), base64.RawURLEncoding.Strict(),
		} {
			b, err := enc.DecodeString(s)
			if err == nil && len(b) == 32 && !strings.ContainsAny(s, "\r\n") {
				defer clear(b)
				return rootKeyFrom(b)
			}
			clear(b)
		}
	}
	return nil, fmt.Errorf("seal: parse root key: %w: want 64 hex characters or base64 of 32 bytes (got %d characters)", ErrInvalidRootKey, len(s))
}

// ID returns "root".
func (r *RootKey) ID() string { return RootKEKID }

// Fingerprint returns a non-secret id of the key (16 hex characters) derived
// one-way with HKDF. It is the KEKVersion of root wraps.
func (r *RootKey) Fingerprint() string {
	if r == nil || r.st == nil {
		return ""
	}
	return r.st.fingerprint
}

// String returns "RootKey(<fingerprint>)"; it never shows the key.
func (r *RootKey) String() string {
	if r == nil || r.st == nil {
		return "RootKey(nil)"
	}
	return "RootKey(" + r.st.fingerprint + ")"
}

// GoString is String, so %#v does not show the key.
func (r *RootKey) GoString() string { return r.String() }

// Format writes String for every verb, so no fmt verb shows the key.
func (r *RootKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// LogValue makes log/slog record only String.
func (r *RootKey) LogValue() slog.Value { return slog.StringValue(r.String()) }

// Encode returns the key as 64 lower-case hex characters: the text written into
// root.key. It is the secret itself; never log it.
func (r *RootKey) Encode() string {
	if r == nil || r.st == nil {
		return ""
	}
	return hex.EncodeToString(r.st.key[:])
}

func rootWrapAAD(dataKeyID string) []byte {
	return Context(rootWrapAADName, AlgRootWrap, dataKeyID)
}

// Wrap wraps a DataKeySize-byte data key with AES-256-GCM under the root
// key's wrapping key, binding the algorithm and the data key id found in ctx
// (DataKeyIDFromContext; "" when absent) as additional data.
func (r *RootKey) Wrap(ctx context.Context, dataKey []byte) (WrappedKey, error) {
	if r == nil || r.st == nil {
		return WrappedKey{}, fmt.Errorf("seal: root wrap: %w: nil root key", ErrInvalidRootKey)
	}
	if err := ctx.Err(); err != nil {
		return WrappedKey{}, fmt.Errorf("seal: root wrap: %w", err)
	}
	if len(dataKey) != DataKeySize {
		return WrappedKey{}, fmt.Errorf("seal: root wrap: data key must be %d bytes, got %d", DataKeySize, len(dataKey))
	}
	id, _ := DataKeyIDFromContext(ctx)
	out := make([]byte, gcmNonceSize, gcmNonceSize+DataKeySize+gcmTagSize)
	if err := readRandom(r.st.rand, out); err != nil {
		return WrappedKey{}, fmt.Errorf("seal: root wrap: %w", err)
	}
	var nonce [gcmNonceSize]byte
	copy(nonce[:], out)
	out = r.st.aead.Seal(out, nonce[:], dataKey, rootWrapAAD(id))
	return WrappedKey{KEKID: RootKEKID, KEKVersion: r.st.fingerprint, Algorithm: AlgRootWrap, Ciphertext: out}, nil
}

// Unwrap returns the data key of a root wrap. The data key id in ctx
// (DataKeyIDFromContext) must be the one the wrap was made with. A wrap made
// under another root key (another fingerprint) fails with ErrWrongRootKey;
// any other failure wraps ErrOpen.
func (r *RootKey) Unwrap(ctx context.Context, w WrappedKey) ([]byte, error) {
	if r == nil || r.st == nil {
		return nil, fmt.Errorf("seal: root unwrap: %w: nil root key", ErrInvalidRootKey)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seal: root unwrap: %w", err)
	}
	switch {
	case w.KEKID != RootKEKID:
		return nil, fmt.Errorf("seal: root unwrap: %w: not a root wrap (KEK %q)", ErrOpen, w.KEKID)
	case w.KEKVersion != r.st.fingerprint:
		return nil, fmt.Errorf("seal: root unwrap: %w (wrap fingerprint %q, this key %s)", ErrWrongRootKey, w.KEKVersion, r.st.fingerprint)
	case w.Algorithm != AlgRootWrap:
		return nil, fmt.Errorf("seal: root unwrap: %w: unsupported algorithm %q", ErrOpen, w.Algorithm)
	case len(w.Ciphertext) != gcmNonceSize+DataKeySize+gcmTagSize:
		return nil, fmt.Errorf("seal: root unwrap: %w: wrap has %d bytes, want %d", ErrOpen, len(w.Ciphertext), gcmNonceSize+DataKeySize+gcmTagSize)
	}
	id, _ := DataKeyIDFromContext(ctx)
	key, err := r.st.aead.Open(nil, w.Ciphertext[:gcmNonceSize], w.Ciphertext[gcmNonceSize:], rootWrapAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal: root unwrap: %w: authentication failed", ErrOpen)
	}
	return key, nil
}

const maxRootKeyFileSize = 4096

// LoadOrCreateRootKey reads the root key file at path (the text ParseRootKey
// accepts). A file that group or others can write is refused; one they can
// only read is accepted (callers may warn). When the file does not exist and
// allowCreate is true, it generates a key and writes it with mode 0600 crash
// safely (temp file in the same directory, fsync, no-clobber link or rename,
// fsync of the directory) and returns created = true; the directory must
// exist. When allowCreate is false a missing file is an error that wraps
// fs.ErrNotExist. An existing file is never replaced, not even an empty one.
func LoadOrCreateRootKey(path string, allowCreate bool) (key *RootKey, created bool, err error) {
	k, err := loadRootKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !allowCreate {
		return nil, false, err
	}
	k, err = NewRootKey()
	if err != nil {
		return nil, false, err
	}
	won, err := createRootKeyFile(path, k)
	if err != nil {
		return nil, false, err
	}
	// Read back what is now on disk: our key, or the one a concurrent
	// creator placed first.
	onDisk, err := loadRootKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	if won && onDisk.Fingerprint() != k.Fingerprint() {
		return nil, false, fmt.Errorf("seal: root key file %s: content changed while it was created", path)
	}
	return onDisk, won, nil
}

func loadRootKeyFile(path string) (*RootKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: root key file %s: %w: not a regular file", path, ErrInvalidRootKey)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("seal: root key file %s: %w: writable by group or others (mode %#o); chmod 600 it", path, ErrInvalidRootKey, fi.Mode().Perm())
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("seal: root key file %s: %w: file is empty", path, ErrInvalidRootKey)
	}
	if fi.Size() > maxRootKeyFileSize {
		return nil, fmt.Errorf("seal: root key file %s: %w: %d bytes is too large", path, ErrInvalidRootKey, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRootKeyFileSize+1))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("seal: root key file %s: %w", path, err)
	}
	k, err := ParseRootKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("seal: root key file %s: %w", path, err)
	}
	return k, nil
}

// createRootKeyFile writes k to path unless a file is already there. It
// reports whether it placed the file.
func createRootKeyFile(path string, k *RootKey) (placed bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
		}
		_ = os.Remove(tmpName) // after a link, or on failure; harmless after a rename
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	text := []byte(k.Encode() + "\n")
	_, err = tmp.Write(text)
	clear(text)
	if err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	// A hard link never replaces an existing file, so two processes creating
	// the key at once cannot end up with different keys. Where links are not
	// supported, fall back to rename after checking that nothing is there.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, statErr := os.Lstat(path); statErr == nil {
			return false, nil
		}
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("seal: create root key file: %w", err)
		}
	}
	if err := os.Remove(tmpName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("seal: create root key file: remove temp file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("seal: create root key file: %w", err)
	}
	return true, nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
