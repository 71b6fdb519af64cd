package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// xaesNonceSize is the nonce size of XAES-256-GCM.
const xaesNonceSize = 24

// newXAES returns the AES-256-GCM AEAD that XAES-256-GCM (C2SP
// "XAES-256-GCM") uses for one 24-byte nonce under key, and the 12-byte GCM
// nonce to use with it. The derived key is the NIST SP 800-108r1 counter-mode
// KDF with AES-256-CMAC as the PRF: two CMAC blocks over
// 0x00 || counter || "X" || 0x00 || nonce[:12], which for single-block
// messages is AES_key(M xor K1) with K1 the CMAC subkey of AES_key(0^128).
func newXAES(key *[32]byte, nonce []byte) (cipher.AEAD, []byte, error) {
	if len(nonce) != xaesNonceSize {
		return nil, nil, fmt.Errorf("seal: XAES-256-GCM nonce must be %d bytes, got %d", xaesNonceSize, len(nonce))
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, nil, fmt.Errorf("seal: aes: %w", err)
	}
	var l, k1 [aes.BlockSize]byte
	block.Encrypt(l[:], l[:])
	// K1 = L << 1, reduced by x^128 + x^7 + x^2 + x + 1 when L's top bit
	// is set (constant time).
	for i := 0; i < aes.BlockSize-1; i++ {
		k1[i] = l[i]<<1 | l[i+1]>>7
	}
	k1[aes.BlockSize-1] = l[aes.BlockSize-1]<<1 ^ byte(subtle.ConstantTimeByteEq(l[0]>>7, 1))*0x87
	var m [aes.BlockSize]byte
	m[2] = 'X'
	copy(m[4:], nonce[:12])
	var derived [32]byte
	for i := 0; i < 2; i++ {
		m[1] = byte(i + 1)
		var in [aes.BlockSize]byte
		subtle.XORBytes(in[:], m[:], k1[:])
		block.Encrypt(derived[i*aes.BlockSize:], in[:])
	}
	clear(l[:])
	clear(k1[:])
	aead, err := newGCM(derived[:])
	clear(derived[:])
	if err != nil {
		return nil, nil, err
	}
	return aead, nonce[12:], nil
}
