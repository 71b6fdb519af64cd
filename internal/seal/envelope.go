package seal

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"
)

// WrappedKey is one data key wrapped under one key-encryption key.
type WrappedKey struct {
	KEKID      string // stable id of the KEK without version, e.g. "root" or "https://kv1.vault.keyward.localhost:8443/keys/k1"
	KEKVersion string // version of the KEK that made this wrap ("" allowed)
	Algorithm  string // e.g. "A256GCM-HKDF-SHA256" (root) or "RSA-OAEP" / "RSA-OAEP-256" (vault keys)
	Ciphertext []byte
}

// KEK is a key-encryption key: the root key, a vault RSA key used through the
// vault API, later external KMSs. Implementations must not keep the dataKey
// slices they are given or return (the caller zeroes them), and should honour
// ctx. Wrap and Open pass the data key's id in ctx (see DataKeyIDFromContext);
// a KEK that can bind additional data (like the root key) should bind it.
type KEK interface {
	// ID is the same as WrappedKey.KEKID of its wraps.
	ID() string
	// Wrap wraps a DataKeySize-byte data key.
	Wrap(ctx context.Context, dataKey []byte) (WrappedKey, error)
	// Unwrap returns the data key of a wrap made by Wrap.
	Unwrap(ctx context.Context, w WrappedKey) ([]byte, error)
}

type dataKeyIDCtxKey struct{}

// WithDataKeyID returns ctx carrying the hex id of the data key being wrapped
// or unwrapped. Wrap and Open do this before calling a KEK.
func WithDataKeyID(ctx context.Context, dataKeyID string) context.Context {
	return context.WithValue(ctx, dataKeyIDCtxKey{}, dataKeyID)
}

// DataKeyIDFromContext returns the data key id set by WithDataKeyID.
func DataKeyIDFromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(dataKeyIDCtxKey{}).(string)
	return id, ok
}

// ResolveByID returns a resolver for Open that maps a wrap to the KEK among
// keks whose ID equals the wrap's KEKID. Nil KEKs are ignored.
func ResolveByID(keks ...KEK) func(WrappedKey) (KEK, bool) {
	m := make(map[string]KEK, len(keks))
	for _, k := range keks {
		if k != nil {
			m[k.ID()] = k
		}
	}
	return func(w WrappedKey) (KEK, bool) {
		k, ok := m[w.KEKID]
		return k, ok
	}
}

// Envelope is a data key's id plus its wraps; it is what is stored (never the
// data key itself). KeyCheck commits to the data key (see the package
// documentation); Wrap fills it, and an envelope without it cannot be opened
// or marshaled. To add wraps to an envelope, Wrap the same data key under the
// new KEKs and append the new Wraps (the KeyCheck is the same).
type Envelope struct {
	DataKeyID string
	KeyCheck  []byte
	Wraps     []WrappedKey
}

const (
	envelopeMagic      = "KWE"
	envelopeVersion1   = 0x01
	envelopeHeaderSize = 3 + 1 + DataKeyIDSize + KeyCheckSize + 1
)

// Wrap wraps k under each kek (1..MaxWraps KEKs, distinct ids), one after the
// other. It returns the envelope with every wrap that succeeded and, if any
// failed, an error joining the failures (errors.Join); the caller decides
// whether a partial envelope is acceptable. An invalid call (destroyed key, no
// or too many KEKs, a nil or repeated KEK) returns an envelope without wraps.
func Wrap(ctx context.Context, k *DataKey, keks ...KEK) (Envelope, error) {
	if len(keks) == 0 || len(keks) > MaxWraps {
		return Envelope{}, fmt.Errorf("seal: wrap: need 1 to %d KEKs, got %d", MaxWraps, len(keks))
	}
	seen := make(map[string]bool, len(keks))
	for i, kek := range keks {
		if kek == nil {
			return Envelope{}, fmt.Errorf("seal: wrap: KEK %d is nil", i)
		}
		if seen[kek.ID()] {
			return Envelope{}, fmt.Errorf("seal: wrap: KEK %q given twice", kek.ID())
		}
		seen[kek.ID()] = true
	}
	key, err := k.copyKey()
	if err != nil {
		return Envelope{}, fmt.Errorf("seal: wrap: %w", err)
	}
	defer clear(key)
	kcv, err := computeKeyCheck(key, k.id)
	if err != nil {
		return Envelope{}, fmt.Errorf("seal: wrap: %w", err)
	}
	env := Envelope{DataKeyID: k.idHex, KeyCheck: kcv, Wraps: make([]WrappedKey, 0, len(keks))}
	ctx = WithDataKeyID(ctx, k.idHex)
	var errs []error
	for _, kek := range keks {
		w, err := wrapOne(ctx, kek, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("seal: wrap under KEK %q: %w", kek.ID(), err))
			continue
		}
		env.Wraps = append(env.Wraps, w)
	}
	return env, errors.Join(errs...)
}

func wrapOne(ctx context.Context, kek KEK, key []byte) (WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return WrappedKey{}, err
	}
	// The KEK gets its own copy so that a misbehaving KEK cannot change ours.
	in := append(make([]byte, 0, len(key)), key...)
	defer clear(in)
	w, err := kek.Wrap(ctx, in)
	if err != nil {
		return WrappedKey{}, err
	}
	if w.KEKID != kek.ID() {
		return WrappedKey{}, fmt.Errorf("KEK returned a wrap for KEK id %q", w.KEKID)
	}
	if err := validateWrap(w); err != nil {
		return WrappedKey{}, fmt.Errorf("KEK returned an unusable wrap: %w", err)
	}
	w.Ciphertext = append([]byte(nil), w.Ciphertext...)
	return w, nil
}

// Open unwraps e's data key, trying e.Wraps in order; resolve returns the KEK
// for a wrap (false = unknown, skip). The unwrapped key must be DataKeySize
// bytes and match e.KeyCheck for e.DataKeyID, so a wrap of another data key is
// never accepted. Open returns the data key and the index of the wrap that
// worked; when none worked the error wraps ErrNoUsableWrap and every wrap's
// failure (so errors.Is finds, for example, ErrWrongRootKey or a KEK's own
// errors). If ctx ends, Open stops and returns ctx's error.
func Open(ctx context.Context, e Envelope, resolve func(WrappedKey) (KEK, bool)) (*DataKey, int, error) {
	id, err := e.validate()
	if err != nil {
		return nil, -1, fmt.Errorf("seal: open envelope: %w", err)
	}
	if resolve == nil {
		return nil, -1, errors.New("seal: open envelope: nil resolver")
	}
	ctx = WithDataKeyID(ctx, e.DataKeyID)
	var errs []error
	for i, w := range e.Wraps {
		if err := ctx.Err(); err != nil {
			return nil, -1, fmt.Errorf("seal: open envelope %s: %w", e.DataKeyID, err)
		}
		kek, ok := resolve(w)
		if !ok || kek == nil {
			errs = append(errs, fmt.Errorf("wrap %d (KEK %q): unknown KEK", i, w.KEKID))
			continue
		}
		key, err := unwrapOne(ctx, kek, w, id, e.KeyCheck)
		if err != nil {
			errs = append(errs, fmt.Errorf("wrap %d (KEK %q): %w", i, w.KEKID, err))
			continue
		}
		dk := dataKeyFrom(id, key)
		clear(key)
		return dk, i, nil
	}
	return nil, -1, fmt.Errorf("seal: open envelope %s: %w: %w", e.DataKeyID, ErrNoUsableWrap, errors.Join(errs...))
}

// unwrapOne unwraps w with kek and checks the result against the envelope's
// key-check value. The returned key must be cleared by the caller.
func unwrapOne(ctx context.Context, kek KEK, w WrappedKey, id [DataKeyIDSize]byte, kcv []byte) ([]byte, error) {
	if got := kek.ID(); got != w.KEKID {
		return nil, fmt.Errorf("resolver returned KEK %q", got)
	}
	// The KEK gets its own copy of the wrap so that it cannot change the caller's envelope.
	w.Ciphertext = append([]byte(nil), w.Ciphertext...)
	key, err := kek.Unwrap(ctx, w)
	if err != nil {
		return nil, err
	}
	if len(key) != DataKeySize {
		clear(key)
		return nil, fmt.Errorf("%w: unwrapped key has %d bytes, want %d", ErrOpen, len(key), DataKeySize)
	}
	if !keyCheckMatches(key, id, kcv) {
		clear(key)
		return nil, fmt.Errorf("%w: unwrapped key does not match the envelope's key check", ErrOpen)
	}
	return key, nil
}

// validate checks everything MarshalBinary and Open need and returns the raw id.
func (e *Envelope) validate() ([DataKeyIDSize]byte, error) {
	var id [DataKeyIDSize]byte
	if !isLowerHex(e.DataKeyID) || len(e.DataKeyID) != 2*DataKeyIDSize {
		return id, fmt.Errorf("%w: data key id must be %d lower-case hex characters", ErrMalformedEnvelope, 2*DataKeyIDSize)
	}
	if _, err := hex.Decode(id[:], []byte(e.DataKeyID)); err != nil {
		return id, fmt.Errorf("%w: data key id: %v", ErrMalformedEnvelope, err)
	}
	if len(e.KeyCheck) != KeyCheckSize {
		return id, fmt.Errorf("%w: key check must be %d bytes, got %d", ErrMalformedEnvelope, KeyCheckSize, len(e.KeyCheck))
	}
	if len(e.Wraps) == 0 || len(e.Wraps) > MaxEnvelopeWraps {
		return id, fmt.Errorf("%w: need 1 to %d wraps, got %d", ErrMalformedEnvelope, MaxEnvelopeWraps, len(e.Wraps))
	}
	for i, w := range e.Wraps {
		if err := validateWrap(w); err != nil {
			return id, fmt.Errorf("%w: wrap %d: %v", ErrMalformedEnvelope, i, err)
		}
	}
	return id, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validateWrap checks the bounds of the envelope format.
func validateWrap(w WrappedKey) error {
	switch {
	case len(w.KEKID) == 0 || len(w.KEKID) > MaxKEKIDLen:
		return fmt.Errorf("KEK id must be 1 to %d bytes, got %d", MaxKEKIDLen, len(w.KEKID))
	case len(w.KEKVersion) > MaxKEKVersionLen:
		return fmt.Errorf("KEK version must be at most %d bytes, got %d", MaxKEKVersionLen, len(w.KEKVersion))
	case len(w.Algorithm) == 0 || len(w.Algorithm) > MaxAlgorithmLen:
		return fmt.Errorf("algorithm must be 1 to %d bytes, got %d", MaxAlgorithmLen, len(w.Algorithm))
	case len(w.Ciphertext) == 0 || len(w.Ciphertext) > MaxWrappedKeyLen:
		return fmt.Errorf("wrapped key must be 1 to %d bytes, got %d", MaxWrappedKeyLen, len(w.Ciphertext))
	case !utf8.ValidString(w.KEKID) || !utf8.ValidString(w.KEKVersion) || !utf8.ValidString(w.Algorithm):
		return errors.New("KEK id, KEK version and algorithm must be UTF-8")
	}
	return nil
}

// MarshalBinary encodes e in the versioned envelope format described in the
// package documentation. It refuses an envelope that UnmarshalBinary would
// refuse (for example one without wraps or without a key check).
func (e Envelope) MarshalBinary() ([]byte, error) {
	id, err := e.validate()
	if err != nil {
		return nil, fmt.Errorf("seal: marshal envelope: %w", err)
	}
	n := envelopeHeaderSize
	for _, w := range e.Wraps {
		n += 8 + len(w.KEKID) + len(w.KEKVersion) + len(w.Algorithm) + len(w.Ciphertext)
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeMagic...)
	b = append(b, envelopeVersion1)
	b = append(b, id[:]...)
	b = append(b, e.KeyCheck...)
	b = append(b, byte(len(e.Wraps)))
	for _, w := range e.Wraps {
		b = appendField(b, []byte(w.KEKID))
		b = appendField(b, []byte(w.KEKVersion))
		b = appendField(b, []byte(w.Algorithm))
		b = appendField(b, w.Ciphertext)
	}
	return b, nil
}

func appendField(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
	return append(b, f...)
}

// UnmarshalBinary decodes an envelope made by MarshalBinary. It is strict:
// known magic and version, 1 to MaxEnvelopeWraps wraps, every length within
// its bound, UTF-8 strings and no trailing bytes. Errors wrap
// ErrMalformedEnvelope. The result does not alias b. On error e is unchanged.
func (e *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) < envelopeHeaderSize {
		return fmt.Errorf("seal: unmarshal envelope: %w: %d bytes is too short", ErrMalformedEnvelope, len(b))
	}
	if string(b[:3]) != envelopeMagic {
		return fmt.Errorf("seal: unmarshal envelope: %w: bad magic", ErrMalformedEnvelope)
	}
	if b[3] != envelopeVersion1 {
		return fmt.Errorf("seal: unmarshal envelope: %w: unsupported version %d", ErrMalformedEnvelope, b[3])
	}
	out := Envelope{
		DataKeyID: hex.EncodeToString(b[4 : 4+DataKeyIDSize]),
		KeyCheck:  append([]byte(nil), b[4+DataKeyIDSize:4+DataKeyIDSize+KeyCheckSize]...),
	}
	count := int(b[envelopeHeaderSize-1])
	if count == 0 || count > MaxEnvelopeWraps {
		return fmt.Errorf("seal: unmarshal envelope: %w: need 1 to %d wraps, got %d", ErrMalformedEnvelope, MaxEnvelopeWraps, count)
	}
	rest := b[envelopeHeaderSize:]
	out.Wraps = make([]WrappedKey, 0, count)
	for i := 0; i < count; i++ {
		var fields [4][]byte
		limits := [4]int{MaxKEKIDLen, MaxKEKVersionLen, MaxAlgorithmLen, MaxWrappedKeyLen}
		for j := range fields {
			if len(rest) < 2 {
				return fmt.Errorf("seal: unmarshal envelope: %w: wrap %d truncated", ErrMalformedEnvelope, i)
			}
			n := int(binary.BigEndian.Uint16(rest))
			rest = rest[2:]
			if n > limits[j] {
				return fmt.Errorf("seal: unmarshal envelope: %w: wrap %d: field %d too long (%d bytes)", ErrMalformedEnvelope, i, j, n)
			}
			if len(rest) < n {
				return fmt.Errorf("seal: unmarshal envelope: %w: wrap %d truncated", ErrMalformedEnvelope, i)
			}
			fields[j], rest = rest[:n], rest[n:]
		}
		w := WrappedKey{
			KEKID:      string(fields[0]),
			KEKVersion: string(fields[1]),
			Algorithm:  string(fields[2]),
			Ciphertext: append([]byte(nil), fields[3]...),
		}
		if err := validateWrap(w); err != nil {
			return fmt.Errorf("seal: unmarshal envelope: %w: wrap %d: %v", ErrMalformedEnvelope, i, err)
		}
		out.Wraps = append(out.Wraps, w)
	}
	if len(rest) != 0 {
		return fmt.Errorf("seal: unmarshal envelope: %w: %d trailing bytes", ErrMalformedEnvelope, len(rest))
	}
	*e = out
	return nil
}
