package keycrypto_test

import (
	"testing"

	"github.com/keyward/keyward/internal/keycrypto"
)

func BenchmarkUnwrapKey(b *testing.B) {
	k := wycheproofKey(b, "rsa_oaep_2048_sha1_mgf1sha1_test.json")
	dek := make([]byte, 32)
	for _, alg := range []keycrypto.EncryptionAlgorithm{keycrypto.AlgRSAOAEP, keycrypto.AlgRSAOAEP256} {
		b.Run("RSA-2048/"+string(alg), func(b *testing.B) {
			wrapped, err := k.WrapKey(alg, dek)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := k.UnwrapKey(alg, wrapped); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWrapKey(b *testing.B) {
	k := wycheproofKey(b, "rsa_oaep_2048_sha1_mgf1sha1_test.json")
	dek := make([]byte, 32)
	for _, alg := range []keycrypto.EncryptionAlgorithm{keycrypto.AlgRSAOAEP, keycrypto.AlgRSAOAEP256} {
		b.Run("RSA-2048/"+string(alg), func(b *testing.B) {
			for b.Loop() {
				if _, err := k.WrapKey(alg, dek); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
