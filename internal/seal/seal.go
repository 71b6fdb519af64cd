package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sizes and limits of the formats described in the package documentation.
const (
	// DataKeySize is the size in bytes of a data key (the "seed").
	DataKeySize = 32
	// DataKeyIDSize is the size in bytes of a data key's id.
	DataKeyIDSize = 16
	// KeyCheckSize is the size in bytes of an envelope's key-check value.
	KeyCheckSize = 32
	// MaxWraps is the most KEKs one Wrap call wraps a data key under.
	MaxWraps = 3
	// MaxEnvelopeWraps is the most wraps an envelope may hold (for example old
	// and new wraps side by side during a rotation).
	MaxEnvelopeWraps = 8
	// MaxKEKIDLen is the longest KEKID an envelope may hold, in bytes.
	MaxKEKIDLen = 1024
	// MaxKEKVersionLen is the longest KEKVersion an envelope may hold, in bytes.
	MaxKEKVersionLen = 256
	// MaxAlgorithmLen is the longest Algorithm an envelope may hold, in bytes.
	MaxAlgorithmLen = 64
	// MaxWrappedKeyLen is the longest wrap Ciphertext an envelope may hold, in bytes.
	MaxWrappedKeyLen = 4096
	// RecordHeaderSize is the size of the header of the records Seal makes
	// (algorithm 2, XAES-256-GCM).
	RecordHeaderSize = 2 + DataKeyIDSize + xaesNonceSize
	// RecordOverhead is the size of a sealed record minus the size of its plaintext.
	RecordOverhead = RecordHeaderSize + gcmTagSize
)

// Names used in wraps.
const (
	// RootKEKID is the KEK id of the root key (WrappedKey.KEKID of root wraps).
	RootKEKID = "root"
	// AlgRootWrap is the Algorithm of root wraps.
	AlgRootWrap = "A256GCM-HKDF-SHA256"
	// AlgRSAOAEP is the Algorithm of vault RSA wraps with OAEP and SHA-1.
	AlgRSAOAEP = "RSA-OAEP"
	// AlgRSAOAEP256 is the Algorithm of vault RSA wraps with OAEP and SHA-256.
	AlgRSAOAEP256 = "RSA-OAEP-256"
)

// Errors. Callers match them with errors.Is; the returned errors wrap them
// with context.
var (
	// ErrDestroyed is returned by every use of a destroyed (or zero) DataKey.
	ErrDestroyed = errors.New("data key destroyed")
	// ErrWrongRootKey is returned when a root wrap was made under another root key.
	ErrWrongRootKey = errors.New("wrapped under a different root key")
	// ErrOpen is returned for every record or root wrap that cannot be opened:
	// unknown version or algorithm, truncation, wrong key, wrong context or any
	// tampering. Causes are deliberately not told apart beyond non-secret
	// header facts.
	ErrOpen = errors.New("cannot open")
	// ErrNoUsableWrap is returned by Open when no wrap of an envelope yields its data key.
	ErrNoUsableWrap = errors.New("no usable wrap")
	// ErrMalformedEnvelope is returned for an envelope that breaks the format's rules.
	ErrMalformedEnvelope = errors.New("malformed envelope")
	// ErrInvalidRootKey is returned for root key text or files that do not hold a usable root key.
	ErrInvalidRootKey = errors.New("invalid root key")
)

// Internal format constants.
const (
	recordVersion1         = 0x01
	recordAlgAES256GCMHKDF = 0x01
	recordAlgXAES256GCM    = 0x02
	recordSaltSize         = 32
	recordHeaderSizeHKDF   = 2 + DataKeyIDSize + recordSaltSize + gcmNonceSize
	gcmNonceSize           = 12
	gcmTagSize             = 16

	recordKeyInfo     = "keyward record key v1"
	recordXAESKeyInfo = "keyward record xaes key v1"
	keyCheckInfo      = "keyward data key check v1"
	rootKEKInfo       = "keyward root kek v1"
	rootFPInfo        = "keyward root key fingerprint v1"
	rootWrapAADName   = "keyward root wrap v1"
	rootFPSize        = 8
)

// newGCM returns AES-256-GCM with the standard 12-byte nonce and 16-byte tag,
// the only AEAD configuration this package uses.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: AES-256 key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: gcm: %w", err)
	}
	return gcm, nil
}

// deriveKey is HKDF-SHA256 (extract and expand).
func deriveKey(secret, salt []byte, info string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, salt, info, n)
	if err != nil {
		return nil, fmt.Errorf("seal: hkdf: %w", err)
	}
	return k, nil
}

// readRandom fills b from r, or from crypto/rand when r is nil.
func readRandom(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("seal: random source: %w", err)
	}
	return nil
}

// Context builds an unambiguous additional-data value from parts: each part is
// prefixed with its length as a uvarint, so different part lists never give the
// same bytes. Example: Context("servicebus", "ns1", "queue", "q1", "msg", "42").
func Context(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}
