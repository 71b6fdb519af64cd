package keycrypto_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/keyward/keyward/internal/keycrypto"
)

// TestWycheproofDecrypt runs the Wycheproof RSAES vectors through ParseJWK
// and Decrypt/UnwrapKey. Valid vectors must decrypt to msg; invalid ones
// must fail with exactly ErrDecryption; acceptable ones may do either but
// must not fail with any other error. Key Vault has no OAEP label
// parameter, so vectors encrypted with a non-empty label are decrypted
// with the empty label and must fail with ErrDecryption.
//
// Every key in these files is 2048, 3072 or 4096 bits, so all of them go
// through the public ParseJWK with the size policy applied.
func TestWycheproofDecrypt(t *testing.T) {
	files := []struct {
		name string
		alg  keycrypto.EncryptionAlgorithm
		bits int
	}{
		{"rsa_oaep_2048_sha1_mgf1sha1_test.json", keycrypto.AlgRSAOAEP, 2048},
		{"rsa_oaep_2048_sha256_mgf1sha256_test.json", keycrypto.AlgRSAOAEP256, 2048},
		{"rsa_oaep_3072_sha256_mgf1sha256_test.json", keycrypto.AlgRSAOAEP256, 3072},
		{"rsa_oaep_4096_sha256_mgf1sha256_test.json", keycrypto.AlgRSAOAEP256, 4096},
		{"rsa_pkcs1_2048_test.json", keycrypto.AlgRSA15, 2048},
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			f := loadWycheproof(t, file.name)
			var valid, invalid, labelled int
			for _, g := range f.TestGroups {
				if file.alg != keycrypto.AlgRSA15 {
					wantSha := map[keycrypto.EncryptionAlgorithm]string{keycrypto.AlgRSAOAEP: "SHA-1", keycrypto.AlgRSAOAEP256: "SHA-256"}[file.alg]
					if g.Sha != wantSha || g.MgfSha != wantSha {
						t.Fatalf("group uses %s/MGF1-%s, want %s", g.Sha, g.MgfSha, wantSha)
					}
				}
				key, err := parseJWKJSON(g.PrivateKeyJwk)
				if err != nil {
					t.Fatalf("ParseJWK: %v", err)
				}
				if key.Size() != file.bits || !key.HasPrivate() {
					t.Fatalf("key size %d private %v, want %d private", key.Size(), key.HasPrivate(), file.bits)
				}
				for _, tc := range g.Tests {
					ct, err := hex.DecodeString(tc.Ct)
					if err != nil {
						t.Fatalf("tc %d: ct: %v", tc.TcID, err)
					}
					msg, err := hex.DecodeString(tc.Msg)
					if err != nil {
						t.Fatalf("tc %d: msg: %v", tc.TcID, err)
					}
					decrypt := key.Decrypt
					if tc.TcID%2 == 0 {
						decrypt = key.UnwrapKey
					}
					got, err := decrypt(file.alg, ct)
					switch {
					case tc.Label != "":
						labelled++
						if err != keycrypto.ErrDecryption {
							t.Errorf("tc %d (%s, label %s): got %x, %v; want exactly ErrDecryption without the label", tc.TcID, tc.Comment, tc.Label, got, err)
						}
					case tc.Result == "valid":
						valid++
						if err != nil || !bytes.Equal(got, msg) {
							t.Errorf("tc %d (%s): got %x, %v; want %x", tc.TcID, tc.Comment, got, err, msg)
						}
					case tc.Result == "invalid":
						invalid++
						if err != keycrypto.ErrDecryption {
							t.Errorf("tc %d (%s %v): got %x, %v; want exactly ErrDecryption", tc.TcID, tc.Comment, tc.Flags, got, err)
						}
					case tc.Result == "acceptable":
						if err != nil && err != keycrypto.ErrDecryption {
							t.Errorf("tc %d (%s): unexpected error %v", tc.TcID, tc.Comment, err)
						}
					default:
						t.Fatalf("tc %d: unknown result %q", tc.TcID, tc.Result)
					}
				}
			}
			if valid < 10 || invalid < 10 {
				t.Fatalf("only %d valid and %d invalid vectors ran", valid, invalid)
			}
			t.Logf("%d valid, %d invalid, %d labelled vectors", valid, invalid, labelled)
		})
	}
}
