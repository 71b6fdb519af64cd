package keycrypto

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns because of its input
// wraps one of them (ErrDecryption is returned as is), so callers can
// classify a failure with [errors.Is] while showing the detailed message to
// the client. The only other errors are a done context from Generate and a
// failing system random source.
var (
	// ErrUnsupported reports a key type, key size, curve, public exponent
	// or algorithm that Key Vault knows but this implementation does not
	// offer (for example "oct", "P-256K", "ES256K", RSA-1024).
	ErrUnsupported = errors.New("keycrypto: unsupported")

	// ErrUnknownAlgorithm reports an algorithm name that is not a Key Vault
	// algorithm for the requested operation.
	ErrUnknownAlgorithm = errors.New("keycrypto: unknown algorithm")

	// ErrAlgorithmMismatch reports an algorithm that exists but cannot be
	// used with this key (e.g. ES256 with an RSA key, ES384 with a P-256
	// key).
	ErrAlgorithmMismatch = errors.New("keycrypto: algorithm not valid for this key")

	// ErrInvalidArgument reports a malformed request parameter: a bad
	// key specification, an unknown key operation, an invalid random byte
	// count.
	ErrInvalidArgument = errors.New("keycrypto: invalid argument")

	// ErrInvalidKey reports a malformed or inconsistent JSON Web Key or
	// stored private key.
	ErrInvalidKey = errors.New("keycrypto: invalid key")

	// ErrNoPrivateKey reports an operation that needs the private key
	// (decrypt, unwrapKey, sign, private serialization) on a public-only key.
	ErrNoPrivateKey = errors.New("keycrypto: the key has no private part")

	// ErrMessageTooLong reports a plaintext that is too long for RSA
	// encryption with the chosen padding; the message names the maximum.
	ErrMessageTooLong = errors.New("keycrypto: plaintext too long")

	// ErrDigestLength reports a digest whose length does not match the
	// hash of the signature algorithm.
	ErrDigestLength = errors.New("keycrypto: wrong digest length")

	// ErrDecryption is returned, unwrapped and identical, for every
	// decryption or key-unwrap failure caused by the ciphertext (invalid
	// padding of any algorithm, wrong length, value out of range). It
	// deliberately carries no detail.
	ErrDecryption = errors.New("keycrypto: decryption failed")
)

// detailError is an error with a precise message that wraps a sentinel.
type detailError struct {
	kind error
	msg  string
}

func (e *detailError) Error() string { return "keycrypto: " + e.msg }

func (e *detailError) Unwrap() error { return e.kind }

// errorf builds an error of the given kind; the message gets the package
// prefix. Never pass key material as an argument.
func errorf(kind error, format string, args ...any) error {
	return &detailError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
