package seal

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// countingReader is a deterministic "random" source: 0x00, 0x01, 0x02, ...
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// failingReader always fails.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

// errKEK fails to wrap and/or unwrap with the given errors; when it does not
// fail it delegates to inner.
type errKEK struct {
	id        string
	wrapErr   error
	unwrapErr error
	inner     KEK
}

func (k *errKEK) ID() string { return k.id }

func (k *errKEK) Wrap(ctx context.Context, dataKey []byte) (WrappedKey, error) {
	if k.wrapErr != nil {
		return WrappedKey{}, k.wrapErr
	}
	w, err := k.inner.Wrap(ctx, dataKey)
	w.KEKID = k.id
	return w, err
}

func (k *errKEK) Unwrap(ctx context.Context, w WrappedKey) ([]byte, error) {
	if k.unwrapErr != nil {
		return nil, k.unwrapErr
	}
	w.KEKID = k.inner.ID()
	return k.inner.Unwrap(ctx, w)
}

// rsaKEK is a test stand-in for a vault RSA key: RSA-OAEP-256 binds nothing
// but the key, like the real vault wraps.
type rsaKEK struct {
	id   string
	priv *rsa.PrivateKey
}

func (k *rsaKEK) ID() string { return k.id }

func (k *rsaKEK) Wrap(_ context.Context, dataKey []byte) (WrappedKey, error) {
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.priv.PublicKey, dataKey, nil)
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{KEKID: k.id, KEKVersion: "v1", Algorithm: AlgRSAOAEP256, Ciphertext: ct}, nil
}

func (k *rsaKEK) Unwrap(_ context.Context, w WrappedKey) ([]byte, error) {
	if w.Algorithm != AlgRSAOAEP256 {
		return nil, fmt.Errorf("rsaKEK: unsupported algorithm %q", w.Algorithm)
	}
	if w.KEKVersion != "v1" { // like a vault, the version selects the key
		return nil, fmt.Errorf("rsaKEK: no key version %q", w.KEKVersion)
	}
	return rsa.DecryptOAEP(sha256.New(), nil, k.priv, w.Ciphertext, nil)
}

func newRSAKEK(t testing.TB, id string) *rsaKEK {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &rsaKEK{id: id, priv: priv}
}

// recordingKEK delegates to inner and records the data key ids it saw in ctx.
type recordingKEK struct {
	KEK
	mu  sync.Mutex
	ids []string
}

func (k *recordingKEK) note(ctx context.Context) {
	id, ok := DataKeyIDFromContext(ctx)
	if !ok {
		id = "<none>"
	}
	k.mu.Lock()
	k.ids = append(k.ids, id)
	k.mu.Unlock()
}

func (k *recordingKEK) Wrap(ctx context.Context, dataKey []byte) (WrappedKey, error) {
	k.note(ctx)
	return k.KEK.Wrap(ctx, dataKey)
}

func (k *recordingKEK) Unwrap(ctx context.Context, w WrappedKey) ([]byte, error) {
	k.note(ctx)
	return k.KEK.Unwrap(ctx, w)
}

// funcKEK lets a test define Wrap and Unwrap inline.
type funcKEK struct {
	id     string
	wrap   func(ctx context.Context, dataKey []byte) (WrappedKey, error)
	unwrap func(ctx context.Context, w WrappedKey) ([]byte, error)
}

func (k *funcKEK) ID() string { return k.id }
func (k *funcKEK) Wrap(ctx context.Context, dataKey []byte) (WrappedKey, error) {
	return k.wrap(ctx, dataKey)
}
func (k *funcKEK) Unwrap(ctx context.Context, w WrappedKey) ([]byte, error) {
	return k.unwrap(ctx, w)
}

func mustDataKey(t testing.TB) *DataKey {
	t.Helper()
	k, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRootKey(t testing.TB) *RootKey {
	t.Helper()
	r, err := NewRootKey()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secretOf returns a copy of a data key's bytes (tests only).
func secretOf(t testing.TB, k *DataKey) []byte {
	t.Helper()
	b, err := k.copyKey()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
