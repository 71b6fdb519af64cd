package seal

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// DataKey is an unwrapped data key held in memory. It seals and opens records
// and is safe for concurrent use. Create one with NewDataKey or recover one
// from an envelope with Open; a zero DataKey behaves as destroyed.
//
// The key bytes live two pointers away from the DataKey, so fmt, which only
// dereferences the outermost pointer of a value it cannot format, shows an
// address instead of the key even for a copied DataKey value.
type DataKey struct {
	id    [DataKeyIDSize]byte
	idHex string
	st    *dataKeyState
}

type dataKeyState struct {
	mu   sync.RWMutex
	key  *[DataKeySize]byte // nil once destroyed; a pointer so fmt never prints it
	xkey *[32]byte          // the XAES record key derived from key; nil once destroyed
	rand io.Reader          // nil means crypto/rand; set only by tests
}

// NewDataKey returns a new data key: 32 random bytes and a random 16-byte id.
func NewDataKey() (*DataKey, error) {
	return newDataKey(nil)
}

// newDataKey draws the key, the id and later every salt and nonce from r
// (crypto/rand when nil). Tests pass a deterministic reader.
func newDataKey(r io.Reader) (*DataKey, error) {
	var buf [DataKeySize + DataKeyIDSize]byte
	defer clear(buf[:])
	if err := readRandom(r, buf[:]); err != nil {
		return nil, fmt.Errorf("seal: new data key: %w", err)
	}
	var id [DataKeyIDSize]byte
	copy(id[:], buf[DataKeySize:])
	k := dataKeyFrom(id, buf[:DataKeySize])
	k.st.rand = r
	return k, nil
}

// dataKeyFrom builds a DataKey from a copy of key, which must be DataKeySize bytes.
func dataKeyFrom(id [DataKeyIDSize]byte, key []byte) *DataKey {
	kb := new([DataKeySize]byte)
	copy(kb[:], key)
	// HKDF-SHA256 with a 32-byte output does not fail; were it ever to,
	// xkey stays nil and every XAES record operation fails (never a zero key).
	var xb *[32]byte
	if xk, err := deriveKey(key, nil, recordXAESKeyInfo, 32); err == nil {
		xb = new([32]byte)
		copy(xb[:], xk)
		clear(xk)
	}
	return &DataKey{id: id, idHex: hex.EncodeToString(id[:]), st: &dataKeyState{key: kb, xkey: xb}}
}

// ID returns the lower-case hex of the data key's 16-byte id. The id is not secret.
func (k *DataKey) ID() string {
	if k == nil {
		return ""
	}
	return k.idHex
}

// Destroy zeroes the key bytes. Every later Seal, Open or Wrap with k fails
// with ErrDestroyed; ID keeps working. Destroy may be called more than once.
func (k *DataKey) Destroy() {
	if k == nil || k.st == nil {
		return
	}
	k.st.mu.Lock()
	if k.st.key != nil {
		clear(k.st.key[:])
		k.st.key = nil
	}
	if k.st.xkey != nil {
		clear(k.st.xkey[:])
		k.st.xkey = nil
	}
	k.st.mu.Unlock()
}

// String returns "DataKey(<id>)"; it never shows the key.
func (k *DataKey) String() string {
	if k == nil {
		return "DataKey(nil)"
	}
	return "DataKey(" + k.idHex + ")"
}

// GoString is String, so %#v does not show the key.
func (k *DataKey) GoString() string { return k.String() }

// Format writes String for every verb, so no fmt verb shows the key.
func (k *DataKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue makes log/slog record only String.
func (k *DataKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// copyKey returns a copy of the key bytes, which the caller must clear.
func (k *DataKey) copyKey() ([]byte, error) {
	if k == nil || k.st == nil {
		return nil, ErrDestroyed
	}
	k.st.mu.RLock()
	defer k.st.mu.RUnlock()
	if k.st.key == nil {
		return nil, ErrDestroyed
	}
	return append(make([]byte, 0, DataKeySize), k.st.key[:]...), nil
}

func computeKeyCheck(key []byte, id [DataKeyIDSize]byte) ([]byte, error) {
	return deriveKey(key, id[:], keyCheckInfo, KeyCheckSize)
}

// keyCheckMatches reports in constant time whether key and id give want.
func keyCheckMatches(key []byte, id [DataKeyIDSize]byte, want []byte) bool {
	got, err := computeKeyCheck(key, id)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// recordAEAD returns the AEAD and GCM nonce of one record of algorithm alg
// from its header fields: the HKDF salt and nonce (algorithm 1) or the XAES
// nonce (algorithm 2).
func (k *DataKey) recordAEAD(alg byte, hdr []byte) (cipher.AEAD, []byte, error) {
	if k == nil || k.st == nil {
		return nil, nil, ErrDestroyed
	}
	k.st.mu.RLock()
	defer k.st.mu.RUnlock()
	if k.st.key == nil {
		return nil, nil, ErrDestroyed
	}
	fields := hdr[2+DataKeyIDSize:]
	switch alg {
	case recordAlgXAES256GCM:
		if k.st.xkey == nil {
			return nil, nil, errors.New("no record key")
		}
		return newXAES(k.st.xkey, fields[:xaesNonceSize])
	case recordAlgAES256GCMHKDF:
		rk, err := deriveKey(k.st.key[:], fields[:recordSaltSize], recordKeyInfo, 32)
		if err != nil {
			return nil, nil, err
		}
		defer clear(rk)
		aead, err := newGCM(rk)
		return aead, fields[recordSaltSize : recordSaltSize+gcmNonceSize], err
	}
	return nil, nil, fmt.Errorf("%w: unsupported algorithm %d", ErrOpen, alg)
}

// Seal encrypts and authenticates plaintext under k, binding context (build it
// with Context) as additional data. The record format is in the package
// documentation; a record is len(plaintext)+RecordOverhead bytes.
func (k *DataKey) Seal(context, plaintext []byte) ([]byte, error) {
	if k == nil || k.st == nil {
		return nil, fmt.Errorf("seal: seal record: %w", ErrDestroyed)
	}
	out := make([]byte, RecordHeaderSize, RecordHeaderSize+len(plaintext)+gcmTagSize)
	hdr := out[:RecordHeaderSize]
	hdr[0] = recordVersion1
	hdr[1] = recordAlgXAES256GCM
	copy(hdr[2:], k.id[:])
	if err := readRandom(k.st.rand, hdr[2+DataKeyIDSize:]); err != nil {
		return nil, fmt.Errorf("seal: seal record: %w", err)
	}
	aead, nonce, err := k.recordAEAD(recordAlgXAES256GCM, hdr)
	if err != nil {
		return nil, fmt.Errorf("seal: seal record: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, recordAAD(hdr, context)), nil
}

// Open authenticates and decrypts a record made by Seal with the same data key
// and context. Every failure wraps ErrOpen: an unknown version or algorithm, a
// record sealed under another data key (ids are not secret, so the message
// says so), a wrong context, truncation or any changed bit.
func (k *DataKey) Open(context, ciphertext []byte) ([]byte, error) {
	if k == nil || k.st == nil {
		return nil, fmt.Errorf("seal: open record: %w", ErrDestroyed)
	}
	id, hdrSize, err := parseRecordHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	if id != k.id {
		return nil, fmt.Errorf("seal: open record: %w: sealed under another data key (%s, not %s)",
			ErrOpen, hex.EncodeToString(id[:]), k.idHex)
	}
	hdr := ciphertext[:hdrSize]
	aead, nonce, err := k.recordAEAD(hdr[1], hdr)
	if err != nil {
		return nil, fmt.Errorf("seal: open record: %w", err)
	}
	pt, err := aead.Open(nil, nonce, ciphertext[hdrSize:], recordAAD(hdr, context))
	if err != nil {
		return nil, fmt.Errorf("seal: open record: %w: authentication failed", ErrOpen)
	}
	return pt, nil
}

// RecordDataKeyID returns the id of the data key a record was sealed under,
// read from its header without authenticating anything, so that a caller
// holding several data keys (for example across a rotation) can pick the
// right one. Open still authenticates the whole record.
func RecordDataKeyID(record []byte) (string, error) {
	id, _, err := parseRecordHeader(record)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(id[:]), nil
}

// parseRecordHeader checks a record's version, algorithm and length and
// returns its data key id and header size.
func parseRecordHeader(record []byte) ([DataKeyIDSize]byte, int, error) {
	var id [DataKeyIDSize]byte
	if len(record) < 2 {
		return id, 0, fmt.Errorf("seal: open record: %w: truncated (%d bytes)", ErrOpen, len(record))
	}
	if record[0] != recordVersion1 {
		return id, 0, fmt.Errorf("seal: open record: %w: unsupported version %d", ErrOpen, record[0])
	}
	var hdrSize int
	switch record[1] {
	case recordAlgXAES256GCM:
		hdrSize = RecordHeaderSize
	case recordAlgAES256GCMHKDF:
		hdrSize = recordHeaderSizeHKDF
	default:
		return id, 0, fmt.Errorf("seal: open record: %w: unsupported algorithm %d", ErrOpen, record[1])
	}
	if len(record) < hdrSize+gcmTagSize {
		return id, 0, fmt.Errorf("seal: open record: %w: truncated (%d bytes, need at least %d)", ErrOpen, len(record), hdrSize+gcmTagSize)
	}
	copy(id[:], record[2:2+DataKeyIDSize])
	return id, hdrSize, nil
}

// recordAAD returns a fresh header||context (the AEAD forbids dst and
// additional data to overlap, and the header is also the start of dst).
func recordAAD(hdr, context []byte) []byte {
	aad := make([]byte, 0, len(hdr)+len(context))
	aad = append(aad, hdr...)
	return append(aad, context...)
}
