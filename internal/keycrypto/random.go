package keycrypto

import (
	"crypto/rand"
	"fmt"
)

// MaxRandomBytes is the largest count Key Vault's getRandomBytes accepts.
const MaxRandomBytes = 128

// RandomBytes returns n bytes from the system's cryptographically secure
// random number generator (Key Vault "getRandomBytes"). n must be between
// 1 and MaxRandomBytes; otherwise the error wraps ErrInvalidArgument.
func RandomBytes(n int) ([]byte, error) {
	if n < 1 || n > MaxRandomBytes {
		return nil, errorf(ErrInvalidArgument, "random byte count %d is out of range; use 1 to %d", n, MaxRandomBytes)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("keycrypto: random bytes: %w", err)
	}
	return b, nil
}
