package keycrypto

import (
	"slices"
	"strings"
)

// KeyOp is a Key Vault key operation ("key_ops" entry).
type KeyOp string

// Key Vault key operations.
const (
	OpEncrypt   KeyOp = "encrypt"
	OpDecrypt   KeyOp = "decrypt"
	OpSign      KeyOp = "sign"
	OpVerify    KeyOp = "verify"
	OpWrapKey   KeyOp = "wrapKey"
	OpUnwrapKey KeyOp = "unwrapKey"
	OpImport    KeyOp = "import"
	OpExport    KeyOp = "export"
)

// allKeyOps lists every valid operation in Key Vault's order.
var allKeyOps = []KeyOp{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey, OpImport, OpExport}

// Valid reports whether op is one of Key Vault's key operations. The
// comparison is exact (case-sensitive), as on the wire.
func (op KeyOp) Valid() bool {
	return slices.Contains(allKeyOps, op)
}

// KeyOps is the list of operations a key permits, in the order given.
type KeyOps []KeyOp

// ParseKeyOps validates a key_ops list from a request. Unknown operations
// are an ErrInvalidArgument error naming the operation; duplicates are
// dropped (first occurrence kept). An empty or nil list gives an empty,
// non-nil result; callers that want Key Vault's defaults for a missing
// list use DefaultKeyOps.
func ParseKeyOps(ops []string) (KeyOps, error) {
	out := make(KeyOps, 0, len(ops))
	for _, s := range ops {
		op := KeyOp(s)
		if !op.Valid() {
			return nil, unknownOpError(s)
		}
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	return out, nil
}

// Validate checks that every operation in the list is known.
func (o KeyOps) Validate() error {
	for _, op := range o {
		if !op.Valid() {
			return unknownOpError(string(op))
		}
	}
	return nil
}

func unknownOpError(s string) error {
	names := make([]string, len(allKeyOps))
	for i, op := range allKeyOps {
		names[i] = string(op)
	}
	return errorf(ErrInvalidArgument, "unknown key operation %q; valid operations are %s", clip(s), strings.Join(names, ", "))
}

// Permits reports whether op is in the list.
func (o KeyOps) Permits(op KeyOp) bool {
	return slices.Contains(o, op)
}

// DefaultKeyOps returns the operations Key Vault assigns when a key is
// created or imported without key_ops: the six cryptographic operations for
// RSA keys, sign and verify for EC keys, and nil for any other key type.
// The result is a fresh slice the caller may modify.
func DefaultKeyOps(kty KeyType) KeyOps {
	switch kty {
	case KeyTypeRSA, KeyTypeRSAHSM:
		return KeyOps{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey}
	case KeyTypeEC, KeyTypeECHSM:
		return KeyOps{OpSign, OpVerify}
	}
	return nil
}
