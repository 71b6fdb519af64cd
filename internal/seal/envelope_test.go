package seal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// wrapRoot wraps a new data key under root and returns both.
func wrapRoot(t *testing.T, root *RootKey) (*DataKey, Envelope) {
	t.Helper()
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, root)
	if err != nil {
		t.Fatal(err)
	}
	return k, env
}

func TestWrapOpenRoot(t *testing.T) {
	root := mustRootKey(t)
	k, env := wrapRoot(t, root)
	if env.DataKeyID != k.ID() || len(env.Wraps) != 1 || len(env.KeyCheck) != KeyCheckSize {
		t.Fatalf("envelope = %+v", env)
	}
	w := env.Wraps[0]
	if w.KEKID != RootKEKID || w.KEKVersion != root.Fingerprint() || w.Algorithm != AlgRootWrap || len(w.Ciphertext) != 60 {
		t.Fatalf("root wrap = %+v", w)
	}
	if bytes.Contains(w.Ciphertext, secretOf(t, k)) {
		t.Fatal("wrap contains the data key")
	}
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var env2 Envelope
	if err := env2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	got, idx, err := Open(t.Context(), env2, ResolveByID(root))
	if err != nil || idx != 0 {
		t.Fatalf("Open = %v, %d, %v", got, idx, err)
	}
	if got.ID() != k.ID() || !bytes.Equal(secretOf(t, got), secretOf(t, k)) {
		t.Fatal("opened a different data key")
	}
	rec, err := k.Seal(Context("a"), []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := got.Open(Context("a"), rec); err != nil || string(pt) != "data" {
		t.Fatalf("opened key cannot open the original's record: %q, %v", pt, err)
	}
}

func TestEnvelopeMarshalRoundTrip(t *testing.T) {
	root := mustRootKey(t)
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, root)
	if err != nil {
		t.Fatal(err)
	}
	env.Wraps = append(env.Wraps,
		WrappedKey{KEKID: "https://kv1.vault.keyward.localhost:8443/keys/k1", KEKVersion: "0123456789abcdef0123456789abcdef", Algorithm: AlgRSAOAEP, Ciphertext: bytes.Repeat([]byte{7}, 256)},
		WrappedKey{KEKID: strings.Repeat("i", MaxKEKIDLen), KEKVersion: "", Algorithm: strings.Repeat("a", MaxAlgorithmLen), Ciphertext: bytes.Repeat([]byte{1}, MaxWrappedKeyLen)},
	)
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("KWE\x01")) {
		t.Fatalf("prefix %x", b[:4])
	}
	var got Envelope
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, env) {
		t.Fatalf("round trip changed the envelope")
	}
	b2, err := got.MarshalBinary()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("re-marshal differs: %v", err)
	}
	// The result must not alias the input.
	b[len(b)-1] ^= 0xFF
	if got.Wraps[2].Ciphertext[MaxWrappedKeyLen-1] != 1 {
		t.Fatal("UnmarshalBinary aliases its input")
	}
}

func validEnvelope(t *testing.T) Envelope {
	t.Helper()
	_, env := wrapRoot(t, mustRootKey(t))
	return env
}

func TestMarshalRejects(t *testing.T) {
	base := validEnvelope(t)
	w := base.Wraps[0]
	tests := []struct {
		name string
		mod  func(e *Envelope)
	}{
		{"upper-case id", func(e *Envelope) { e.DataKeyID = strings.ToUpper(e.DataKeyID) }},
		{"short id", func(e *Envelope) { e.DataKeyID = e.DataKeyID[:30] }},
		{"non-hex id", func(e *Envelope) { e.DataKeyID = "zz" + e.DataKeyID[2:] }},
		{"no key check", func(e *Envelope) { e.KeyCheck = nil }},
		{"short key check", func(e *Envelope) { e.KeyCheck = e.KeyCheck[:31] }},
		{"no wraps", func(e *Envelope) { e.Wraps = nil }},
		{"nine wraps", func(e *Envelope) {
			for range 8 {
				e.Wraps = append(e.Wraps, w)
			}
		}},
		{"empty KEK id", func(e *Envelope) { e.Wraps[0].KEKID = "" }},
		{"long KEK id", func(e *Envelope) { e.Wraps[0].KEKID = strings.Repeat("k", MaxKEKIDLen+1) }},
		{"long KEK version", func(e *Envelope) { e.Wraps[0].KEKVersion = strings.Repeat("v", MaxKEKVersionLen+1) }},
		{"empty algorithm", func(e *Envelope) { e.Wraps[0].Algorithm = "" }},
		{"long algorithm", func(e *Envelope) { e.Wraps[0].Algorithm = strings.Repeat("a", MaxAlgorithmLen+1) }},
		{"empty ciphertext", func(e *Envelope) { e.Wraps[0].Ciphertext = nil }},
		{"long ciphertext", func(e *Envelope) { e.Wraps[0].Ciphertext = make([]byte, MaxWrappedKeyLen+1) }},
		{"non-UTF-8 KEK id", func(e *Envelope) { e.Wraps[0].KEKID = "k\xff" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			e.Wraps = append([]WrappedKey(nil), base.Wraps...)
			tc.mod(&e)
			if _, err := e.MarshalBinary(); !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if _, _, err := Open(t.Context(), e, func(WrappedKey) (KEK, bool) { return nil, false }); !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := validEnvelope(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Layout after the 53-byte header: u16 4 "root" | u16 16 fingerprint | u16 19 algorithm | u16 60 ciphertext.
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	withWraps := func(n byte) []byte {
		b := bytes.Clone(good[:envelopeHeaderSize])
		b[envelopeHeaderSize-1] = n
		for range int(n) {
			b = append(b, good[envelopeHeaderSize:]...)
		}
		return b
	}
	var e Envelope
	if err := e.UnmarshalBinary(withWraps(MaxEnvelopeWraps)); err != nil {
		t.Fatalf("%d wraps: %v", MaxEnvelopeWraps, err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version 2", mod(func(b []byte) []byte { b[3] = 2; return b })},
		{"zero wraps", withWraps(0)},
		{"nine wraps", withWraps(MaxEnvelopeWraps + 1)},
		{"count larger than content", mod(func(b []byte) []byte { b[envelopeHeaderSize-1] = 2; return b })},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"KEK id length too large", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[envelopeHeaderSize:], MaxKEKIDLen+1)
			return b
		})},
		{"empty KEK id", mod(func(b []byte) []byte {
			// Shorten "root" to "" and drop its bytes.
			binary.BigEndian.PutUint16(b[envelopeHeaderSize:], 0)
			return append(b[:envelopeHeaderSize+2], b[envelopeHeaderSize+6:]...)
		})},
		{"non-UTF-8 KEK id", mod(func(b []byte) []byte { b[envelopeHeaderSize+2] = 0xFF; return b })},
		{"ciphertext length 0xFFFF", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[len(b)-62:], 0xFFFF)
			return b
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Envelope{DataKeyID: "untouched"}
			if err := e.UnmarshalBinary(tc.b); !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if e.DataKeyID != "untouched" {
				t.Fatal("failed UnmarshalBinary changed the envelope")
			}
		})
	}
	for n := 0; n < len(good); n++ {
		if err := e.UnmarshalBinary(good[:n]); !errors.Is(err, ErrMalformedEnvelope) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

func TestOpenWithThirdKEK(t *testing.T) {
	root := mustRootKey(t)
	revoked := errors.New("key revoked")
	unreachable := errors.New("vault unreachable")
	kek1 := &errKEK{id: "kv1/k1", unwrapErr: revoked, inner: root}
	kek2 := &errKEK{id: "kv2/k2", unwrapErr: unreachable, inner: root}
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, kek1, kek2, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Wraps) != 3 {
		t.Fatalf("%d wraps", len(env.Wraps))
	}
	got, idx, err := Open(t.Context(), env, ResolveByID(kek1, kek2, root))
	if err != nil {
		t.Fatal(err)
	}
	if idx != 2 || got.ID() != k.ID() {
		t.Fatalf("idx = %d, id = %s", idx, got.ID())
	}
	// Without the root, the errors of both KEKs are reported.
	_, idx, err = Open(t.Context(), env, ResolveByID(kek1, kek2))
	if !errors.Is(err, ErrNoUsableWrap) || !errors.Is(err, revoked) || !errors.Is(err, unreachable) || idx != -1 {
		t.Fatalf("Open without root: %d, %v", idx, err)
	}
	if !strings.Contains(err.Error(), "unknown KEK") {
		t.Fatalf("error does not say the root wrap had no KEK: %v", err)
	}
}

func TestWrapPartial(t *testing.T) {
	root := mustRootKey(t)
	down := errors.New("kms down")
	bad := &errKEK{id: "kv1/k1", wrapErr: down}
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, bad, root)
	if !errors.Is(err, down) || !strings.Contains(err.Error(), `"kv1/k1"`) {
		t.Fatalf("err = %v", err)
	}
	if len(env.Wraps) != 1 || env.Wraps[0].KEKID != RootKEKID || env.DataKeyID != k.ID() {
		t.Fatalf("partial envelope = %+v", env)
	}
	if _, _, err := Open(t.Context(), env, ResolveByID(root)); err != nil {
		t.Fatalf("partial envelope does not open: %v", err)
	}
	// All failing: no wraps, joined errors.
	bad2 := &errKEK{id: "kv2/k2", wrapErr: errors.New("denied")}
	env, err = Wrap(t.Context(), k, bad, bad2)
	if err == nil || len(env.Wraps) != 0 || strings.Count(err.Error(), "seal: wrap under KEK") != 2 {
		t.Fatalf("env = %+v, err = %v", env, err)
	}
}

func TestWrapRejectsBadCalls(t *testing.T) {
	root := mustRootKey(t)
	k := mustDataKey(t)
	a := &errKEK{id: "a", inner: root}
	b := &errKEK{id: "b", inner: root}
	c := &errKEK{id: "c", inner: root}
	tests := []struct {
		name string
		keks []KEK
	}{
		{"none", nil},
		{"four", []KEK{a, b, c, root}},
		{"nil", []KEK{a, nil}},
		{"duplicate", []KEK{a, b, a}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Wrap(t.Context(), k, tc.keks...)
			if err == nil || len(env.Wraps) != 0 {
				t.Fatalf("env = %+v, err = %v", env, err)
			}
		})
	}
}

func TestWrapRejectsMisbehavingKEK(t *testing.T) {
	root := mustRootKey(t)
	k := mustDataKey(t)
	tests := []struct {
		name string
		wrap func(ctx context.Context, dk []byte) (WrappedKey, error)
	}{
		{"wrong KEK id", func(ctx context.Context, dk []byte) (WrappedKey, error) {
			return root.Wrap(ctx, dk) // says "root", not "liar"
		}},
		{"empty ciphertext", func(context.Context, []byte) (WrappedKey, error) {
			return WrappedKey{KEKID: "liar", Algorithm: "X"}, nil
		}},
		{"no algorithm", func(context.Context, []byte) (WrappedKey, error) {
			return WrappedKey{KEKID: "liar", Ciphertext: []byte{1}}, nil
		}},
		{"oversized", func(context.Context, []byte) (WrappedKey, error) {
			return WrappedKey{KEKID: "liar", Algorithm: "X", Ciphertext: make([]byte, MaxWrappedKeyLen+1)}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kek := &funcKEK{id: "liar", wrap: tc.wrap}
			env, err := Wrap(t.Context(), k, kek, root)
			if err == nil || len(env.Wraps) != 1 || env.Wraps[0].KEKID != RootKEKID {
				t.Fatalf("env = %+v, err = %v", env, err)
			}
		})
	}
}

func TestWrapAndOpenPassDataKeyID(t *testing.T) {
	rec := &recordingKEK{KEK: mustRootKey(t)}
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(t.Context(), env, ResolveByID(rec)); err != nil {
		t.Fatal(err)
	}
	if len(rec.ids) != 2 || rec.ids[0] != k.ID() || rec.ids[1] != k.ID() {
		t.Fatalf("KEK saw data key ids %q, want %q twice", rec.ids, k.ID())
	}
}

// TestOpenRejectsSwappedWrap: a wrap of another data key under the same KEK
// must never be accepted as this envelope's key.
func TestOpenRejectsSwappedWrap(t *testing.T) {
	root := mustRootKey(t)
	rsaK := newRSAKEK(t, "https://kv1.vault.keyward.localhost:8443/keys/k1")
	for _, kek := range []KEK{root, rsaK} {
		t.Run(kek.ID(), func(t *testing.T) {
			a, b := mustDataKey(t), mustDataKey(t)
			envA, err := Wrap(t.Context(), a, kek)
			if err != nil {
				t.Fatal(err)
			}
			envB, err := Wrap(t.Context(), b, kek)
			if err != nil {
				t.Fatal(err)
			}
			swapped := envA
			swapped.Wraps = envB.Wraps
			_, _, err = Open(t.Context(), swapped, ResolveByID(kek))
			if !errors.Is(err, ErrNoUsableWrap) || !errors.Is(err, ErrOpen) {
				t.Fatalf("swapped wrap: %v", err)
			}
			// Swapping the key check along with the wraps is caught by the
			// id binding (root: AAD; every KEK: the check binds the id).
			swapped.KeyCheck = envB.KeyCheck
			if _, _, err := Open(t.Context(), swapped, ResolveByID(kek)); !errors.Is(err, ErrNoUsableWrap) {
				t.Fatalf("swapped wrap and key check: %v", err)
			}
		})
	}
}

// TestOpenUnboundRootWrap: a root wrap made without the data key id (by
// calling RootKey.Wrap directly) is not accepted inside an envelope.
func TestOpenUnboundRootWrap(t *testing.T) {
	root := mustRootKey(t)
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, root)
	if err != nil {
		t.Fatal(err)
	}
	key := secretOf(t, k)
	w, err := root.Wrap(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := root.Unwrap(t.Context(), w); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("direct round trip: %v", err)
	}
	env.Wraps = []WrappedKey{w}
	if _, _, err := Open(t.Context(), env, ResolveByID(root)); !errors.Is(err, ErrOpen) {
		t.Fatalf("unbound wrap accepted: %v", err)
	}
}

func TestOpenWrongRootKey(t *testing.T) {
	root, other := mustRootKey(t), mustRootKey(t)
	_, env := wrapRoot(t, root)
	_, idx, err := Open(t.Context(), env, ResolveByID(other))
	if !errors.Is(err, ErrWrongRootKey) || !errors.Is(err, ErrNoUsableWrap) || idx != -1 {
		t.Fatalf("Open with another root key: %d, %v", idx, err)
	}
	ctx := WithDataKeyID(t.Context(), env.DataKeyID)
	if _, err := other.Unwrap(ctx, env.Wraps[0]); !errors.Is(err, ErrWrongRootKey) {
		t.Fatalf("Unwrap with another root key: %v", err)
	}
	// Same fingerprint claimed, different key: authentication fails.
	w := env.Wraps[0]
	w.KEKVersion = other.Fingerprint()
	if _, err := other.Unwrap(ctx, w); !errors.Is(err, ErrOpen) || errors.Is(err, ErrWrongRootKey) {
		t.Fatalf("Unwrap with a forged fingerprint: %v", err)
	}
}

func TestRootUnwrapRejects(t *testing.T) {
	root := mustRootKey(t)
	_, env := wrapRoot(t, root)
	ctx := WithDataKeyID(t.Context(), env.DataKeyID)
	good := env.Wraps[0]
	if _, err := root.Unwrap(ctx, good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		mod  func(w *WrappedKey)
	}{
		{"other KEK id", ctx, func(w *WrappedKey) { w.KEKID = "kv1/k1" }},
		{"other algorithm", ctx, func(w *WrappedKey) { w.Algorithm = AlgRSAOAEP }},
		{"short", ctx, func(w *WrappedKey) { w.Ciphertext = w.Ciphertext[:59] }},
		{"long", ctx, func(w *WrappedKey) { w.Ciphertext = append(bytes.Clone(w.Ciphertext), 0) }},
		{"no id in ctx", t.Context(), func(*WrappedKey) {}},
		{"other id in ctx", WithDataKeyID(t.Context(), strings.Repeat("0", 32)), func(*WrappedKey) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := good
			tc.mod(&w)
			if _, err := root.Unwrap(tc.ctx, w); !errors.Is(err, ErrOpen) {
				t.Fatalf("Unwrap: %v", err)
			}
		})
	}
	if _, err := root.Wrap(ctx, make([]byte, 31)); err == nil {
		t.Fatal("root wrapped a 31-byte key")
	}
}

func TestOpenSkipsWrongLengthAndUnknown(t *testing.T) {
	root := mustRootKey(t)
	k := mustDataKey(t)
	short := &funcKEK{
		id: "short",
		wrap: func(context.Context, []byte) (WrappedKey, error) {
			return WrappedKey{KEKID: "short", Algorithm: "X", Ciphertext: []byte{1}}, nil
		},
		unwrap: func(context.Context, WrappedKey) ([]byte, error) { return make([]byte, 31), nil },
	}
	unknown := &funcKEK{
		id: "gone",
		wrap: func(context.Context, []byte) (WrappedKey, error) {
			return WrappedKey{KEKID: "gone", Algorithm: "X", Ciphertext: []byte{1}}, nil
		},
	}
	env, err := Wrap(t.Context(), k, short, unknown, root)
	if err != nil {
		t.Fatal(err)
	}
	// A resolver that returns a KEK with another id is not trusted either.
	resolve := func(w WrappedKey) (KEK, bool) {
		switch w.KEKID {
		case "short":
			return short, true
		case RootKEKID:
			return root, true
		}
		return nil, false
	}
	if _, idx, err := Open(t.Context(), env, resolve); err != nil || idx != 2 {
		t.Fatalf("Open = %d, %v", idx, err)
	}
	_, _, err = Open(t.Context(), env, func(WrappedKey) (KEK, bool) { return short, true })
	if !errors.Is(err, ErrNoUsableWrap) || !strings.Contains(err.Error(), "31 bytes") || !strings.Contains(err.Error(), `resolver returned KEK "short"`) {
		t.Fatalf("Open = %v", err)
	}
	if _, _, err := Open(t.Context(), env, nil); err == nil {
		t.Fatal("nil resolver accepted")
	}
}

func TestOpenStopsOnCancelledContext(t *testing.T) {
	root := mustRootKey(t)
	_, env := wrapRoot(t, root)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := Open(ctx, env, ResolveByID(root)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open = %v", err)
	}
	k := mustDataKey(t)
	env, err := Wrap(ctx, k, root)
	if !errors.Is(err, context.Canceled) || len(env.Wraps) != 0 {
		t.Fatalf("Wrap = %+v, %v", env, err)
	}
}

// TestTamperEnvelopeRoot flips every bit of a marshaled root envelope: each
// flip must fail to parse or fail to open.
func TestTamperEnvelopeRoot(t *testing.T) {
	root := mustRootKey(t)
	_, env := wrapRoot(t, root)
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	resolve := ResolveByID(root)
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			m := bytes.Clone(b)
			m[i] ^= 1 << bit
			var e Envelope
			if err := e.UnmarshalBinary(m); err != nil {
				continue
			}
			if _, _, err := Open(t.Context(), e, resolve); err == nil {
				t.Fatalf("flip byte %d bit %d: opened", i, bit)
			}
		}
	}
}

// TestTamperEnvelopeRSA flips every byte of a marshaled envelope holding an
// RSA wrap (RSA binds nothing; the key check must catch what OAEP misses).
func TestTamperEnvelopeRSA(t *testing.T) {
	kek := newRSAKEK(t, "kv1/k1")
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, kek)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	resolve := ResolveByID(kek)
	if _, _, err := Open(t.Context(), env, resolve); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		m := bytes.Clone(b)
		m[i] ^= 0x5A
		var e Envelope
		if err := e.UnmarshalBinary(m); err != nil {
			continue
		}
		if _, _, err := Open(t.Context(), e, resolve); err == nil {
			t.Fatalf("flip byte %d: opened", i)
		}
	}
}

func TestEnvelopeWithRSAAndRootRoundTrip(t *testing.T) {
	root := mustRootKey(t)
	kek := newRSAKEK(t, "https://kv1.vault.keyward.localhost:8443/keys/k1")
	k := mustDataKey(t)
	env, err := Wrap(t.Context(), k, kek, root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var e Envelope
	if err := e.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keks []KEK
		idx  int
	}{{[]KEK{kek, root}, 0}, {[]KEK{root}, 1}, {[]KEK{kek}, 0}} {
		got, idx, err := Open(t.Context(), e, ResolveByID(tc.keks...))
		if err != nil || idx != tc.idx || !bytes.Equal(secretOf(t, got), secretOf(t, k)) {
			t.Fatalf("Open with %d KEKs = %d, %v", len(tc.keks), idx, err)
		}
	}
}
