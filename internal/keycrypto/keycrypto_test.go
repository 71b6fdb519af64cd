package keycrypto_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/keycrypto"
)

func TestGenerateSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		spec keycrypto.KeySpec
		kind error
		msg  string // exact message when non-empty
		part string // substring otherwise
	}{
		{"rsa 1024", keycrypto.KeySpec{Kty: "RSA", Size: 1024}, keycrypto.ErrUnsupported,
			"keycrypto: RSA key size 1024 is not supported; use 2048, 3072 or 4096", ""},
		{"rsa-hsm 2047", keycrypto.KeySpec{Kty: "RSA-HSM", Size: 2047}, keycrypto.ErrUnsupported, "", "RSA key size 2047"},
		{"rsa 8192", keycrypto.KeySpec{Kty: "RSA", Size: 8192}, keycrypto.ErrUnsupported, "", "RSA key size 8192"},
		{"rsa exponent 5", keycrypto.KeySpec{Kty: "RSA", PublicExponent: 5}, keycrypto.ErrUnsupported,
			"keycrypto: RSA public exponent 5 is not supported; use 3 or 65537", ""},
		{"rsa exponent -1", keycrypto.KeySpec{Kty: "RSA", PublicExponent: -1}, keycrypto.ErrUnsupported, "", "exponent -1"},
		{"rsa with curve", keycrypto.KeySpec{Kty: "RSA", Curve: "P-256"}, keycrypto.ErrInvalidArgument, "", "curve (crv) cannot be given for key type RSA"},
		{"ec P-256K", keycrypto.KeySpec{Kty: "EC", Curve: "P-256K"}, keycrypto.ErrUnsupported,
			"keycrypto: curve P-256K (secp256k1) is not supported; use P-256, P-384 or P-521", ""},
		{"ec-hsm P-256K", keycrypto.KeySpec{Kty: "EC-HSM", Curve: "P-256K"}, keycrypto.ErrUnsupported, "", "P-256K"},
		{"ec unknown curve", keycrypto.KeySpec{Kty: "EC", Curve: "P-192"}, keycrypto.ErrInvalidArgument, "", `unknown curve "P-192"`},
		{"ec exponent", keycrypto.KeySpec{Kty: "EC", PublicExponent: 65537}, keycrypto.ErrInvalidArgument, "", "public exponent cannot be given"},
		{"ec size mismatch", keycrypto.KeySpec{Kty: "EC", Size: 384, Curve: "P-256"}, keycrypto.ErrInvalidArgument,
			"keycrypto: key size 384 does not match curve P-256", ""},
		{"ec bad size", keycrypto.KeySpec{Kty: "EC", Size: 2048}, keycrypto.ErrUnsupported, "", "EC key size 2048 is not supported"},
		{"ec size 256 with P-256K", keycrypto.KeySpec{Kty: "EC", Size: 256, Curve: "P-256K"}, keycrypto.ErrUnsupported, "", "P-256K"},
		{"oct", keycrypto.KeySpec{Kty: "oct"}, keycrypto.ErrUnsupported, `keycrypto: key type "oct" is not supported; use RSA, RSA-HSM, EC or EC-HSM`, ""},
		{"oct-HSM", keycrypto.KeySpec{Kty: "oct-HSM", Size: 256}, keycrypto.ErrUnsupported, "", `"oct-HSM" is not supported`},
		{"missing kty", keycrypto.KeySpec{Size: 2048}, keycrypto.ErrInvalidArgument, "", "key type (kty) is missing"},
		{"lowercase kty", keycrypto.KeySpec{Kty: "rsa"}, keycrypto.ErrInvalidArgument, "", `unknown key type "rsa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keycrypto.Generate(context.Background(), tt.spec)
			if k != nil {
				t.Fatal("got a key with an error")
			}
			wantErr(t, err, tt.kind, tt.part)
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message %q, want %q", err, tt.msg)
			}
		})
	}
}

func TestGenerateCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, spec := range []keycrypto.KeySpec{{Kty: "RSA", Size: 4096}, {Kty: "RSA", PublicExponent: 3}, {Kty: "EC"}} {
		if _, err := keycrypto.Generate(ctx, spec); !errors.Is(err, context.Canceled) {
			t.Errorf("Generate(%+v) with canceled context: %v", spec, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		spec  keycrypto.KeySpec
		size  int
		e     int
		curve keycrypto.CurveName
		slow  bool
	}{
		{spec: keycrypto.KeySpec{Kty: "RSA"}, size: 2048, e: 65537},
		{spec: keycrypto.KeySpec{Kty: "RSA-HSM", Size: 2048, PublicExponent: 3}, size: 2048, e: 3},
		{spec: keycrypto.KeySpec{Kty: "RSA", Size: 3072, PublicExponent: 65537}, size: 3072, e: 65537, slow: true},
		{spec: keycrypto.KeySpec{Kty: "RSA-HSM", Size: 4096}, size: 4096, e: 65537, slow: true},
		{spec: keycrypto.KeySpec{Kty: "EC"}, size: 256, curve: "P-256"},
		{spec: keycrypto.KeySpec{Kty: "EC-HSM", Curve: "P-384"}, size: 384, curve: "P-384"},
		{spec: keycrypto.KeySpec{Kty: "EC", Size: 521}, size: 521, curve: "P-521"},
		{spec: keycrypto.KeySpec{Kty: "EC-HSM", Size: 256, Curve: "P-256"}, size: 256, curve: "P-256"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d-%d%s", tt.spec.Kty, tt.size, tt.e, tt.curve), func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("slow RSA key generation")
			}
			k := generate(t, tt.spec)
			if k.Kty() != tt.spec.Kty || k.Size() != tt.size || k.Curve() != tt.curve || !k.HasPrivate() {
				t.Fatalf("got kty %s size %d curve %q private %v", k.Kty(), k.Size(), k.Curve(), k.HasPrivate())
			}
			jwk := k.PublicJWK()
			if jwk.Kty != tt.spec.Kty {
				t.Fatalf("PublicJWK kty %q, want %q", jwk.Kty, tt.spec.Kty)
			}
			if tt.e != 0 {
				if pub := k.Public().(*rsa.PublicKey); pub.E != tt.e {
					t.Fatalf("public exponent %d, want %d", pub.E, tt.e)
				}
				if got := new(big.Int).SetBytes(jwk.E).Int64(); got != int64(tt.e) {
					t.Fatalf("JWK e = %d, want %d", got, tt.e)
				}
				checkEncryptionRoundTrips(t, k)
			}
			checkSignatures(t, k)
		})
	}
}

// wycheproofKeys returns the fixed RSA keys of all three sizes.
func wycheproofKeys(t *testing.T) []*keycrypto.Key {
	return []*keycrypto.Key{
		wycheproofKey(t, "rsa_oaep_2048_sha1_mgf1sha1_test.json"),
		wycheproofKey(t, "rsa_oaep_3072_sha256_mgf1sha256_test.json"),
		wycheproofKey(t, "rsa_oaep_4096_sha256_mgf1sha256_test.json"),
	}
}

func TestEncryptRoundTrips(t *testing.T) {
	for _, k := range wycheproofKeys(t) {
		t.Run(fmt.Sprint(k.Size()), func(t *testing.T) { checkEncryptionRoundTrips(t, k) })
	}
}

var encryptionAlgorithms = []keycrypto.EncryptionAlgorithm{keycrypto.AlgRSA15, keycrypto.AlgRSAOAEP, keycrypto.AlgRSAOAEP256}

// checkEncryptionRoundTrips encrypts and wraps with every algorithm at
// several lengths including the maximum, checks the maximum, decrypts with
// the key and with the standard library directly (which pins the hash and
// MGF of each algorithm), and checks that encryption needs only the public
// key.
func checkEncryptionRoundTrips(t *testing.T, k *keycrypto.Key) {
	t.Helper()
	priv := privateRSA(t, k)
	pub := publicOnly(t, k)
	k0 := priv.Size()
	wantMax := map[keycrypto.EncryptionAlgorithm]int{
		keycrypto.AlgRSA15: k0 - 11, keycrypto.AlgRSAOAEP: k0 - 42, keycrypto.AlgRSAOAEP256: k0 - 66,
	}
	for _, alg := range encryptionAlgorithms {
		limit, err := k.MaxPlaintextLen(alg)
		if err != nil || limit != wantMax[alg] {
			t.Fatalf("%s: MaxPlaintextLen = %d, %v; want %d", alg, limit, err, wantMax[alg])
		}
		for _, n := range []int{0, 1, 32, limit} {
			msg := make([]byte, n)
			rand.Read(msg)
			for _, useWrap := range []bool{false, true} {
				var ct, got []byte
				if useWrap {
					ct, err = pub.WrapKey(alg, msg)
				} else {
					ct, err = pub.Encrypt(alg, msg)
				}
				if err != nil {
					t.Fatalf("%s encrypt %d bytes: %v", alg, n, err)
				}
				if len(ct) != k0 {
					t.Fatalf("%s: ciphertext is %d bytes, want %d", alg, len(ct), k0)
				}
				if useWrap {
					got, err = k.UnwrapKey(alg, ct)
				} else {
					got, err = k.Decrypt(alg, ct)
				}
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%s decrypt %d bytes: %v", alg, n, err)
				}
				var std []byte
				switch alg {
				case keycrypto.AlgRSA15:
					std, err = rsa.DecryptPKCS1v15(nil, priv, ct)
				case keycrypto.AlgRSAOAEP:
					std, err = rsa.DecryptOAEP(sha1.New(), nil, priv, ct, nil)
				case keycrypto.AlgRSAOAEP256:
					std, err = priv.Decrypt(nil, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
				}
				if err != nil || !bytes.Equal(std, msg) {
					t.Fatalf("%s: standard library decryption: %v", alg, err)
				}
			}
		}
		_, err = pub.Encrypt(alg, make([]byte, limit+1))
		wantErr(t, err, keycrypto.ErrMessageTooLong, fmt.Sprintf("at most %d", limit))
		_, err = pub.WrapKey(alg, make([]byte, limit+1))
		wantErr(t, err, keycrypto.ErrMessageTooLong, fmt.Sprintf("input is %d bytes", limit+1))
	}
}

// privateRSA gets the standard library private key back through
// MarshalPrivate, which the tests trust to be PKCS #8 after the header.
func privateRSA(t *testing.T, k *keycrypto.Key) *rsa.PrivateKey {
	t.Helper()
	blob, err := keycrypto.MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	der := blob[4+1+int(blob[4]):]
	parsed, err := parsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.(*rsa.PrivateKey)
}

func TestDecryptErrors(t *testing.T) {
	k := wycheproofKey(t, "rsa_oaep_2048_sha1_mgf1sha1_test.json")
	pub := publicOnly(t, k)
	ec := generate(t, keycrypto.KeySpec{Kty: "EC"})
	for _, alg := range encryptionAlgorithms {
		// A ciphertext whose first byte is 0 is the same number without it:
		// encrypt again (the padding is random) so that "short" really is
		// another ciphertext.
		var ct []byte
		var err error
		for ct == nil || ct[0] == 0 {
			if ct, err = k.Encrypt(alg, []byte("a 32-byte data encryption key!!!")); err != nil {
				t.Fatal(err)
			}
		}
		bad := map[string][]byte{
			"flipped":   flip(ct, len(ct)-1),
			"first":     flip(ct, 0),
			"short":     ct[1:],
			"long":      append(slices.Clone(ct), 0),
			"leading 0": append([]byte{0}, ct...),
			"empty":     nil,
			"modulus":   k.PublicJWK().N,
			"all ff":    bytes.Repeat([]byte{0xff}, len(ct)),
		}
		for name, c := range bad {
			for _, f := range []func(keycrypto.EncryptionAlgorithm, []byte) ([]byte, error){k.Decrypt, k.UnwrapKey} {
				got, err := f(alg, c)
				if err != keycrypto.ErrDecryption || got != nil {
					t.Errorf("%s %s: got %x, %v; want exactly ErrDecryption", alg, name, got, err)
				}
			}
		}
		// A ciphertext of another algorithm fails the same way under OAEP
		// (not under RSA1_5, whose weak check passes random input with
		// probability about 1/2^16 and would make the test flaky).
		for _, other := range []keycrypto.EncryptionAlgorithm{keycrypto.AlgRSAOAEP, keycrypto.AlgRSAOAEP256} {
			if other == alg {
				continue
			}
			if _, err := k.Decrypt(other, ct); err != keycrypto.ErrDecryption {
				t.Errorf("%s ciphertext decrypted with %s: %v", alg, other, err)
			}
		}
		_, err = pub.Decrypt(alg, ct)
		wantErr(t, err, keycrypto.ErrNoPrivateKey, "")
		_, err = ec.Encrypt(alg, []byte("x"))
		wantErr(t, err, keycrypto.ErrAlgorithmMismatch, "not valid for key type EC")
		_, err = ec.UnwrapKey(alg, ct)
		wantErr(t, err, keycrypto.ErrAlgorithmMismatch, "")
	}
	for _, tc := range []struct {
		alg  keycrypto.EncryptionAlgorithm
		kind error
		part string
	}{
		{"RSA-OAEP-384", keycrypto.ErrUnknownAlgorithm, `unknown encryption algorithm "RSA-OAEP-384"`},
		{"rsa-oaep", keycrypto.ErrUnknownAlgorithm, ""},
		{"", keycrypto.ErrUnknownAlgorithm, "missing"},
		{"A256GCM", keycrypto.ErrAlgorithmMismatch, "needs an oct key"},
		{"A128KW", keycrypto.ErrAlgorithmMismatch, ""},
		{"RS256", keycrypto.ErrUnknownAlgorithm, ""},
	} {
		_, err := k.Encrypt(tc.alg, []byte("x"))
		wantErr(t, err, tc.kind, tc.part)
		_, err = k.Decrypt(tc.alg, make([]byte, 256))
		wantErr(t, err, tc.kind, tc.part)
		_, err = k.MaxPlaintextLen(tc.alg)
		wantErr(t, err, tc.kind, tc.part)
	}
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x01
	return c
}

var signatureAlgorithms = map[keycrypto.SignatureAlgorithm]crypto.Hash{
	keycrypto.AlgRS256: crypto.SHA256, keycrypto.AlgRS384: crypto.SHA384, keycrypto.AlgRS512: crypto.SHA512,
	keycrypto.AlgPS256: crypto.SHA256, keycrypto.AlgPS384: crypto.SHA384, keycrypto.AlgPS512: crypto.SHA512,
	keycrypto.AlgES256: crypto.SHA256, keycrypto.AlgES384: crypto.SHA384, keycrypto.AlgES512: crypto.SHA512,
}

func digest(h crypto.Hash, msg string) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256([]byte(msg))
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384([]byte(msg))
		return d[:]
	default:
		d := sha512.Sum512([]byte(msg))
		return d[:]
	}
}

// checkSignatures signs and verifies with every algorithm valid for k,
// cross-checks with the standard library, and checks the rejections.
func checkSignatures(t *testing.T, k *keycrypto.Key) {
	t.Helper()
	pub := publicOnly(t, k)
	var valid []keycrypto.SignatureAlgorithm
	if k.Curve() == "" {
		valid = []keycrypto.SignatureAlgorithm{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	} else {
		valid = []keycrypto.SignatureAlgorithm{map[keycrypto.CurveName]keycrypto.SignatureAlgorithm{
			"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[k.Curve()]}
	}
	for alg, h := range signatureAlgorithms {
		d := digest(h, "message "+string(alg))
		if !slices.Contains(valid, alg) {
			_, err := k.Sign(alg, d)
			wantErr(t, err, keycrypto.ErrAlgorithmMismatch, string(alg))
			_, err = k.Verify(alg, d, make([]byte, 64))
			wantErr(t, err, keycrypto.ErrAlgorithmMismatch, string(alg))
			continue
		}
		sig, err := k.Sign(alg, d)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if ok, err := pub.Verify(alg, d, sig); !ok || err != nil {
			t.Fatalf("%s: Verify = %v, %v", alg, ok, err)
		}
		for name, bad := range map[string][]byte{
			"flipped signature": flip(sig, len(sig)/2), "truncated signature": sig[:len(sig)-1],
			"extended signature": append(slices.Clone(sig), 0), "empty signature": nil,
		} {
			if ok, err := k.Verify(alg, d, bad); ok || err != nil {
				t.Errorf("%s %s: Verify = %v, %v", alg, name, ok, err)
			}
		}
		if ok, err := k.Verify(alg, flip(d, 0), sig); ok || err != nil {
			t.Errorf("%s other digest: Verify = %v, %v", alg, ok, err)
		}
		// Digest length.
		_, err = k.Sign(alg, d[:len(d)-1])
		wantErr(t, err, keycrypto.ErrDigestLength, fmt.Sprintf("must be %d bytes (%s), got %d", h.Size(), h, h.Size()-1))
		_, err = k.Verify(alg, append(slices.Clone(d), 0), sig)
		wantErr(t, err, keycrypto.ErrDigestLength, "")
		_, err = pub.Sign(alg, d)
		wantErr(t, err, keycrypto.ErrNoPrivateKey, "")
		checkStandardSignature(t, k, alg, h, d, sig)
	}
}

// checkStandardSignature verifies sig with the standard library, pinning
// the encoding (raw r||s), the padding and the PSS salt length.
func checkStandardSignature(t *testing.T, k *keycrypto.Key, alg keycrypto.SignatureAlgorithm, h crypto.Hash, d, sig []byte) {
	t.Helper()
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		if alg[0] == 'R' {
			if err := rsa.VerifyPKCS1v15(pub, h, d, sig); err != nil {
				t.Fatalf("%s: standard verification: %v", alg, err)
			}
			return
		}
		if err := rsa.VerifyPSS(pub, h, d, sig, &rsa.PSSOptions{SaltLength: h.Size()}); err != nil {
			t.Fatalf("%s: standard verification with salt length %d: %v", alg, h.Size(), err)
		}
		// A PSS signature with another salt length is rejected.
		other, err := rsa.SignPSS(rand.Reader, privateRSA(t, k), h, d, &rsa.PSSOptions{SaltLength: h.Size() - 1})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := k.Verify(alg, d, other); ok || err != nil {
			t.Fatalf("%s: salt length %d accepted: %v, %v", alg, h.Size()-1, ok, err)
		}
	case *ecdsa.PublicKey:
		n := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			t.Fatalf("%s: signature is %d bytes, want %d", alg, len(sig), 2*n)
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(pub, d, r, s) {
			t.Fatalf("%s: standard verification of r||s failed", alg)
		}
		// The ASN.1 form is not accepted.
		der, err := ecdsa.SignASN1(rand.Reader, ecPrivate(t, k), d)
		if err == nil {
			if ok, _ := k.Verify(alg, d, der); ok {
				t.Fatalf("%s: ASN.1 signature accepted", alg)
			}
		}
	}
}

// ecPrivate returns the standard library EC private key of k.
func ecPrivate(t *testing.T, k *keycrypto.Key) *ecdsa.PrivateKey {
	t.Helper()
	blob, err := keycrypto.MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parsePKCS8(blob[4+1+int(blob[4]):])
	if err != nil {
		t.Fatal(err)
	}
	return parsed.(*ecdsa.PrivateKey)
}

func TestSignRSAFixedKeys(t *testing.T) {
	for _, k := range wycheproofKeys(t) {
		t.Run(fmt.Sprint(k.Size()), func(t *testing.T) { checkSignatures(t, k) })
	}
}

func TestSignErrors(t *testing.T) {
	rsaKey := wycheproofKey(t, "rsa_oaep_2048_sha1_mgf1sha1_test.json")
	ecKey := generate(t, keycrypto.KeySpec{Kty: "EC"})
	d := digest(crypto.SHA256, "x")
	tests := []struct {
		key  *keycrypto.Key
		alg  keycrypto.SignatureAlgorithm
		kind error
		part string
	}{
		{ecKey, "ES256K", keycrypto.ErrUnsupported, "ES256K (secp256k1) is not supported"},
		{rsaKey, "ES256K", keycrypto.ErrUnsupported, ""},
		{rsaKey, "RS1", keycrypto.ErrUnknownAlgorithm, `unknown signature algorithm "RS1"`},
		{rsaKey, "", keycrypto.ErrUnknownAlgorithm, "missing"},
		{rsaKey, "RSA-OAEP", keycrypto.ErrUnknownAlgorithm, ""},
		{rsaKey, "HS256", keycrypto.ErrAlgorithmMismatch, "needs an oct key"},
		{rsaKey, "ES256", keycrypto.ErrAlgorithmMismatch, "not valid for key type RSA"},
		{ecKey, "RS256", keycrypto.ErrAlgorithmMismatch, "not valid for key type EC"},
		{ecKey, "PS256", keycrypto.ErrAlgorithmMismatch, ""},
		{ecKey, "ES384", keycrypto.ErrAlgorithmMismatch, "not valid for a P-256 key; use ES256"},
	}
	for _, tt := range tests {
		_, err := tt.key.Sign(tt.alg, d)
		wantErr(t, err, tt.kind, tt.part)
		_, err = tt.key.Verify(tt.alg, d, make([]byte, 64))
		wantErr(t, err, tt.kind, tt.part)
	}
}

func TestPublicJWK(t *testing.T) {
	keys := append(wycheproofKeys(t),
		generate(t, keycrypto.KeySpec{Kty: "EC", Curve: "P-256"}),
		generate(t, keycrypto.KeySpec{Kty: "EC-HSM", Curve: "P-384"}),
		generate(t, keycrypto.KeySpec{Kty: "EC", Curve: "P-521"}),
	)
	for _, k := range keys {
		jwk := k.PublicJWK()
		jwk.Kid = "https://kv1.vault.local:8443/keys/k1/0123456789abcdef0123456789abcdef"
		jwk.KeyOps = keycrypto.DefaultKeyOps(k.Kty())
		data, err := json.Marshal(jwk)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		want := []string{"crv", "key_ops", "kid", "kty", "x", "y"}
		if k.Curve() == "" {
			want = []string{"e", "key_ops", "kid", "kty", "n"}
			if fields["e"] != "AQAB" {
				t.Errorf("e = %v, want AQAB", fields["e"])
			}
		}
		got := make([]string, 0, len(fields))
		for name, v := range fields {
			got = append(got, name)
			if s, ok := v.(string); ok && strings.ContainsAny(s, "=+/") && name != "kid" {
				t.Errorf("field %s is not unpadded base64url: %q", name, s)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s-%d: PublicJWK fields %v, want %v", k.Kty(), k.Size(), got, want)
		}
		if k.Curve() != "" {
			n := (k.Size() + 7) / 8
			if len(jwk.X) != n || len(jwk.Y) != n {
				t.Errorf("%s: coordinates are %d and %d bytes, want %d", k.Curve(), len(jwk.X), len(jwk.Y), n)
			}
		}
		back, err := parseJWKJSON(data)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if back.HasPrivate() || back.Kty() != k.Kty() || back.Size() != k.Size() || back.Curve() != k.Curve() {
			t.Fatalf("re-parsed key differs: %s %d %s %v", back.Kty(), back.Size(), back.Curve(), back.HasPrivate())
		}
		if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatal("re-parsed public key differs")
		}
	}
}

func TestParseJWKPrivate(t *testing.T) {
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	full := privateJWK(t, "RSA-HSM", rsaPriv)
	noCRT := full
	noCRT.DP, noCRT.DQ, noCRT.QI = nil, nil, nil
	ec := privateJWK(t, "EC", fixedECKey(t, elliptic.P384()))
	for name, jwk := range map[string]keycrypto.JSONWebKey{"rsa": full, "rsa without crt": noCRT, "ec": ec} {
		k, err := keycrypto.ParseJWK(jwk)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !k.HasPrivate() || k.Kty() != jwk.Kty {
			t.Fatalf("%s: private %v kty %s", name, k.HasPrivate(), k.Kty())
		}
		checkSignatures(t, k)
	}
}

func TestParseJWKShortFields(t *testing.T) {
	// EC coordinates and scalars shorter than the curve size (leading zero
	// bytes dropped by some encoders) are accepted as left-padded; find
	// P-256 keys whose x, and whose d, start with a zero byte.
	var doneX, doneD bool
	for i := 0; i < 20000 && !(doneX && doneD); i++ {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwk := privateJWK(t, "EC", priv)
		switch {
		case !doneX && jwk.X[0] == 0:
			doneX = true
			jwk.X = jwk.X[1:]
			jwk.D = nil
			k, err := keycrypto.ParseJWK(jwk)
			if err != nil {
				t.Fatalf("short x rejected: %v", err)
			}
			if got := k.PublicJWK().X; len(got) != 32 || !bytes.Equal(got[1:], jwk.X) {
				t.Fatal("PublicJWK does not restore the full-width coordinate")
			}
		case !doneD && jwk.D[0] == 0:
			doneD = true
			jwk.D = jwk.D[1:]
			k, err := keycrypto.ParseJWK(jwk)
			if err != nil || !k.HasPrivate() {
				t.Fatalf("short d rejected: %v", err)
			}
			checkSignatures(t, k)
		}
	}
	if !doneX || !doneD {
		t.Fatal("no key with a leading zero byte found")
	}
}

func TestParseJWKErrors(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallJSON, _ := json.Marshal(privateJWK(t, "RSA", small))
	ecJSON, _ := json.Marshal(privateJWK(t, "EC", fixedECKey(t, elliptic.P256())))
	other := privateJWK(t, "EC", fixedECKey(t, elliptic.P384()))
	other256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherD, _ := other256.Bytes()
	rsaJSON := rsaJWKJSON(t)

	edit := func(base []byte, f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	b64 := func(b []byte) string { return keycryptoB64(b) }
	tests := []struct {
		name string
		data []byte
		kind error
		part string
	}{
		{"padded n", edit(rsaJSON, func(m map[string]any) { m["n"] = m["n"].(string) + "==" }), keycrypto.ErrInvalidKey, `JWK field "n" must not be padded`},
		{"padded e", edit(rsaJSON, func(m map[string]any) { m["e"] = "AQAB====" }), keycrypto.ErrInvalidKey, `"e" must not be padded`},
		{"std alphabet d", edit(rsaJSON, func(m map[string]any) { m["d"] = "ab+/" + m["d"].(string)[4:] }), keycrypto.ErrInvalidKey, `JWK field "d" uses the standard base64 alphabet`},
		{"newline in qi", edit(rsaJSON, func(m map[string]any) { m["qi"] = "AQ\nAB" }), keycrypto.ErrInvalidKey, `JWK field "qi" contains a character outside`},
		{"number x", edit(ecJSON, func(m map[string]any) { m["x"] = 5 }), keycrypto.ErrInvalidKey, `JWK field "x" must be a JSON string`},
		{"not an object", []byte(`["RSA"]`), keycrypto.ErrInvalidKey, "not a valid JSON object"},
		{"kty number", []byte(`{"kty":5}`), keycrypto.ErrInvalidKey, `"kty" has the wrong JSON type`},
		{"missing n", edit(rsaJSON, func(m map[string]any) { delete(m, "n") }), keycrypto.ErrInvalidKey, `"n" (RSA modulus) is missing`},
		{"empty n", edit(rsaJSON, func(m map[string]any) { m["n"] = "" }), keycrypto.ErrInvalidKey, `"n" (RSA modulus) is missing`},
		{"missing e", edit(rsaJSON, func(m map[string]any) { delete(m, "e") }), keycrypto.ErrInvalidKey, `"e" (RSA public exponent) is missing`},
		{"wrong kty", edit(rsaJSON, func(m map[string]any) { m["kty"] = "RSA2" }), keycrypto.ErrInvalidKey, `JWK key type "RSA2" is unknown`},
		{"kty EC with RSA fields", edit(rsaJSON, func(m map[string]any) { m["kty"] = "EC" }), keycrypto.ErrInvalidKey, `JWK field "n" is not valid for key type EC`},
		{"missing kty", edit(rsaJSON, func(m map[string]any) { delete(m, "kty") }), keycrypto.ErrInvalidKey, `"kty" is missing`},
		{"oct", []byte(`{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAA"}`), keycrypto.ErrUnsupported, `"oct" is not supported`},
		{"oct-HSM", []byte(`{"kty":"oct-HSM","k":"AAAAAAAAAAAAAAAAAAAAAA"}`), keycrypto.ErrUnsupported, ""},
		{"byok", edit(rsaJSON, func(m map[string]any) { m["key_hsm"] = "AAAA" }), keycrypto.ErrUnsupported, "key_hsm"},
		{"rsa with crv", edit(rsaJSON, func(m map[string]any) { m["crv"] = "P-256" }), keycrypto.ErrInvalidKey, `JWK field "crv" is not valid for key type RSA`},
		{"rsa with k", edit(rsaJSON, func(m map[string]any) { m["k"] = "AAAA" }), keycrypto.ErrInvalidKey, `"k" is not valid`},
		{"too small key", smallJSON, keycrypto.ErrUnsupported, "RSA key size 1024 is not supported; use 2048, 3072 or 4096"},
		{"public too small key", edit(smallJSON, func(m map[string]any) {
			for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				delete(m, f)
			}
		}), keycrypto.ErrUnsupported, "RSA key size 1024"},
		{"2040-bit modulus", edit(rsaJSON, func(m map[string]any) { m["n"] = b64(bytes.Repeat([]byte{0xf1}, 255)) }), keycrypto.ErrUnsupported, "RSA key size 2040"},
		{"even modulus", edit(rsaJSON, func(m map[string]any) { m["n"] = b64(bytes.Repeat([]byte{0xf2}, 256)) }), keycrypto.ErrInvalidKey, "modulus is even"},
		{"e=1", edit(rsaJSON, func(m map[string]any) { m["e"] = "AQ" }), keycrypto.ErrInvalidKey, "exponent 1 is too small"},
		{"e even", edit(rsaJSON, func(m map[string]any) { m["e"] = "AQAA" }), keycrypto.ErrInvalidKey, "is even"},
		{"e huge", edit(rsaJSON, func(m map[string]any) { m["e"] = "AQAAAAAB" }), keycrypto.ErrUnsupported, "too large"},
		{"e 2^31+1", edit(rsaJSON, func(m map[string]any) { m["e"] = "gAAAAQ" }), keycrypto.ErrUnsupported, "too large"},
		{"d without p", edit(rsaJSON, func(m map[string]any) { delete(m, "p") }), keycrypto.ErrInvalidKey, `JWK field "p" is missing`},
		{"p without d", edit(rsaJSON, func(m map[string]any) { delete(m, "d") }), keycrypto.ErrInvalidKey, `JWK field "d" is missing`},
		{"partial crt", edit(rsaJSON, func(m map[string]any) { delete(m, "qi") }), keycrypto.ErrInvalidKey, "dp, dq and qi must be given together"},
		{"swapped dp dq", edit(rsaJSON, func(m map[string]any) { m["dp"], m["dq"] = m["dq"], m["dp"] }), keycrypto.ErrInvalidKey, "RSA private key is inconsistent"},
		{"swapped p q", edit(rsaJSON, func(m map[string]any) { m["p"], m["q"] = m["q"], m["p"] }), keycrypto.ErrInvalidKey, "inconsistent"},
		{"wrong d", edit(rsaJSON, func(m map[string]any) { d := []byte(m["d"].(string)); d[10] ^= 1; m["d"] = string(d) }), keycrypto.ErrInvalidKey, "inconsistent"},
		{"wrong p", edit(rsaJSON, func(m map[string]any) { p := []byte(m["p"].(string)); p[10] ^= 1; m["p"] = string(p) }), keycrypto.ErrInvalidKey, "inconsistent"},
		{"bad curve point", edit(ecJSON, func(m map[string]any) { delete(m, "d"); x := []byte(m["x"].(string)); x[5] ^= 1; m["x"] = string(x) }), keycrypto.ErrInvalidKey, "not a valid point on curve P-256"},
		{"point at zero", edit(ecJSON, func(m map[string]any) { delete(m, "d"); m["x"] = b64(make([]byte, 32)); m["y"] = b64(make([]byte, 32)) }), keycrypto.ErrInvalidKey, "not a valid point"},
		{"coordinate too long", edit(ecJSON, func(m map[string]any) { m["x"] = b64(make([]byte, 33)) }), keycrypto.ErrInvalidKey, `"x" is 33 bytes; a P-256 coordinate is 32 bytes`},
		{"point of other curve", edit(ecJSON, func(m map[string]any) { m["x"], m["y"] = b64(other.X), b64(other.Y) }), keycrypto.ErrInvalidKey, ""},
		{"missing y", edit(ecJSON, func(m map[string]any) { delete(m, "y") }), keycrypto.ErrInvalidKey, `"y" (EC coordinate) is missing`},
		{"missing crv", edit(ecJSON, func(m map[string]any) { delete(m, "crv") }), keycrypto.ErrInvalidKey, `"crv" is missing`},
		{"P-256K", edit(ecJSON, func(m map[string]any) { m["crv"] = "P-256K" }), keycrypto.ErrUnsupported, "P-256K (secp256k1) is not supported"},
		{"unknown curve", edit(ecJSON, func(m map[string]any) { m["crv"] = "secp256r1" }), keycrypto.ErrInvalidKey, `curve "secp256r1" is unknown`},
		{"d mismatch", edit(ecJSON, func(m map[string]any) { m["d"] = b64(otherD) }), keycrypto.ErrInvalidKey, "does not match the public point"},
		{"d zero", edit(ecJSON, func(m map[string]any) { m["d"] = b64(make([]byte, 32)) }), keycrypto.ErrInvalidKey, "not a valid P-256 private key"},
		{"d order", edit(ecJSON, func(m map[string]any) { m["d"] = b64(elliptic.P256().Params().N.Bytes()) }), keycrypto.ErrInvalidKey, "not a valid P-256 private key"},
		{"d empty", edit(ecJSON, func(m map[string]any) { m["d"] = "" }), keycrypto.ErrInvalidKey, `"d" is 0 bytes`},
		{"ec with e", edit(ecJSON, func(m map[string]any) { m["e"] = "AQAB" }), keycrypto.ErrInvalidKey, `"e" is not valid for key type EC`},
		{"unknown key op", edit(rsaJSON, func(m map[string]any) { m["key_ops"] = []string{"wrapKey", "delete"} }), keycrypto.ErrInvalidArgument, `unknown key operation "delete"`},
		{"key op number", edit(rsaJSON, func(m map[string]any) { m["key_ops"] = []any{1} }), keycrypto.ErrInvalidKey, `"key_ops" has the wrong JSON type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := parseJWKJSON(tt.data)
			if k != nil {
				t.Fatal("got a key with an error")
			}
			wantErr(t, err, tt.kind, tt.part)
			if !strings.HasPrefix(err.Error(), "keycrypto: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
	// Errors never echo key material.
	_, err = parseJWKJSON(edit(rsaJSON, func(m map[string]any) { m["dp"], m["dq"] = m["dq"], m["dp"] }))
	var m map[string]string
	_ = json.Unmarshal(rsaJSON, &m)
	for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if strings.Contains(err.Error(), m[f][:12]) {
			t.Errorf("error %q contains field %s", err, f)
		}
	}
}

func keycryptoB64(b []byte) string {
	out, _ := keycrypto.Base64URL(b).MarshalJSON()
	return string(out[1 : len(out)-1])
}

func TestParseJWKWycheproofFields(t *testing.T) {
	// The Wycheproof JWKs carry "alg" and "kid"; unknown fields are ignored
	// and kid is kept in the JSONWebKey.
	var j keycrypto.JSONWebKey
	if err := json.Unmarshal(rsaJWKJSON(t), &j); err != nil {
		t.Fatal(err)
	}
	if j.Kid != "none" || j.Kty != "RSA" || len(j.N) != 256 || len(j.QI) == 0 {
		t.Fatalf("decoded %q %q n=%d qi=%d", j.Kid, j.Kty, len(j.N), len(j.QI))
	}
}

func TestBase64URL(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		err  string
	}{
		{`"AQAB"`, []byte{1, 0, 1}, ""},
		{`"-_8"`, []byte{0xfb, 0xff}, ""},
		{`""`, []byte{}, ""},
		{`null`, nil, ""},
		{`"AQAB\u003d"`, nil, "must not be padded"},
		{`"AQ=="`, nil, "must not be padded"},
		{`"+/8"`, nil, "standard base64 alphabet"},
		{`"AQ\nAB"`, nil, "outside the base64url alphabet"},
		{`"AQ AB"`, nil, "outside the base64url alphabet"},
		{`"A"`, nil, "impossible length"},
		{`"AR"`, nil, "not canonical"},
		{`5`, nil, "must be a JSON string"},
		{`{}`, nil, "must be a JSON string"},
	}
	for _, tt := range tests {
		var b keycrypto.Base64URL
		err := json.Unmarshal([]byte(tt.in), &b)
		if tt.err != "" {
			wantErr(t, err, keycrypto.ErrInvalidArgument, tt.err)
			continue
		}
		if err != nil || !bytes.Equal(b, tt.want) || (b == nil) != (tt.want == nil) {
			t.Errorf("%s: got %#v, %v; want %#v", tt.in, b, err, tt.want)
		}
		out, err := json.Marshal(b)
		if err != nil || string(out) != tt.in {
			t.Errorf("%s: marshals to %s, %v", tt.in, out, err)
		}
	}
	if _, err := keycrypto.DecodeBase64URL("AQAB="); !errors.Is(err, keycrypto.ErrInvalidArgument) {
		t.Errorf("DecodeBase64URL padded: %v", err)
	}
	// Inside a struct, omitempty drops empty values.
	out, _ := json.Marshal(keycrypto.JSONWebKey{Kty: "RSA", N: keycrypto.Base64URL{}, E: []byte{1, 0, 1}})
	if string(out) != `{"kty":"RSA","e":"AQAB"}` {
		t.Errorf("JWK marshals to %s", out)
	}
}

func TestKeyOps(t *testing.T) {
	ops, err := keycrypto.ParseKeyOps([]string{"wrapKey", "unwrapKey", "wrapKey", "import", "export"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ops, keycrypto.KeyOps{"wrapKey", "unwrapKey", "import", "export"}) {
		t.Fatalf("ParseKeyOps = %v", ops)
	}
	if !ops.Permits(keycrypto.OpUnwrapKey) || ops.Permits(keycrypto.OpDecrypt) || ops.Permits("WrapKey") {
		t.Fatal("Permits is wrong")
	}
	empty, err := keycrypto.ParseKeyOps(nil)
	if err != nil || empty == nil || len(empty) != 0 || empty.Permits(keycrypto.OpSign) {
		t.Fatalf("ParseKeyOps(nil) = %#v, %v", empty, err)
	}
	for _, bad := range [][]string{{"Encrypt"}, {"sign", "delete"}, {""}, {"wrapkey"}} {
		_, err := keycrypto.ParseKeyOps(bad)
		wantErr(t, err, keycrypto.ErrInvalidArgument, "unknown key operation")
		wantErr(t, err, keycrypto.ErrInvalidArgument, "valid operations are encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, export")
		wantErr(t, keycrypto.KeyOps{keycrypto.KeyOp(bad[len(bad)-1])}.Validate(), keycrypto.ErrInvalidArgument, "")
	}
	if err := (keycrypto.KeyOps{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"}).Validate(); err != nil {
		t.Fatal(err)
	}
	defaults := map[keycrypto.KeyType]keycrypto.KeyOps{
		"RSA":     {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"},
		"RSA-HSM": {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"},
		"EC":      {"sign", "verify"},
		"EC-HSM":  {"sign", "verify"},
		"oct":     nil,
		"bogus":   nil,
	}
	for kty, want := range defaults {
		got := keycrypto.DefaultKeyOps(kty)
		if !slices.Equal(got, want) {
			t.Errorf("DefaultKeyOps(%s) = %v, want %v", kty, got, want)
		}
	}
	// The result is fresh.
	a := keycrypto.DefaultKeyOps("RSA")
	a[0] = "x"
	if keycrypto.DefaultKeyOps("RSA")[0] != "encrypt" {
		t.Fatal("DefaultKeyOps shares its slice")
	}
	if !keycrypto.KeyType("RSA-HSM").IsHSM() || keycrypto.KeyType("EC").IsHSM() {
		t.Fatal("IsHSM is wrong")
	}
}

func TestRandomBytes(t *testing.T) {
	for _, n := range []int{0, -1, 129, 1 << 20} {
		_, err := keycrypto.RandomBytes(n)
		wantErr(t, err, keycrypto.ErrInvalidArgument, fmt.Sprintf("random byte count %d is out of range; use 1 to 128", n))
	}
	for _, n := range []int{1, 32, 128} {
		b, err := keycrypto.RandomBytes(n)
		if err != nil || len(b) != n {
			t.Fatalf("RandomBytes(%d) = %d bytes, %v", n, len(b), err)
		}
	}
	a, _ := keycrypto.RandomBytes(32)
	b, _ := keycrypto.RandomBytes(32)
	if bytes.Equal(a, b) {
		t.Fatal("two random 32-byte strings are equal")
	}
}

func TestMarshalParsePrivate(t *testing.T) {
	keys := append(wycheproofKeys(t),
		generate(t, keycrypto.KeySpec{Kty: "RSA-HSM", PublicExponent: 3}),
		generate(t, keycrypto.KeySpec{Kty: "EC"}),
		generate(t, keycrypto.KeySpec{Kty: "EC-HSM", Curve: "P-384"}),
		generate(t, keycrypto.KeySpec{Kty: "EC", Curve: "P-521"}),
	)
	for _, k := range keys {
		blob, err := keycrypto.MarshalPrivate(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := keycrypto.ParsePrivate(blob)
		if err != nil {
			t.Fatalf("%s-%d: %v", k.Kty(), k.Size(), err)
		}
		if back.Kty() != k.Kty() || back.Size() != k.Size() || back.Curve() != k.Curve() || !back.HasPrivate() {
			t.Fatalf("round trip changed the key: %s %d %s", back.Kty(), back.Size(), back.Curve())
		}
		alg := keycrypto.SignatureAlgorithm("PS256")
		h := crypto.SHA256
		switch k.Curve() {
		case "P-256":
			alg = "ES256"
		case "P-384":
			alg, h = "ES384", crypto.SHA384
		case "P-521":
			alg, h = "ES512", crypto.SHA512
		}
		d := digest(h, "stored")
		sig, err := back.Sign(alg, d)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := k.Verify(alg, d, sig); !ok || err != nil {
			t.Fatalf("signature of the parsed key does not verify: %v", err)
		}
	}

	if _, err := keycrypto.MarshalPrivate(publicOnly(t, keys[0])); !errors.Is(err, keycrypto.ErrNoPrivateKey) {
		t.Fatalf("MarshalPrivate(public) = %v", err)
	}
	rsaBlob, _ := keycrypto.MarshalPrivate(keys[0])
	ecBlob, _ := keycrypto.MarshalPrivate(keys[4])
	swapKty := func(blob []byte, kty string) []byte {
		der := blob[4+1+int(blob[4]):]
		out := append([]byte("KWK1"), byte(len(kty)))
		return append(append(out, kty...), der...)
	}
	bad := []struct {
		name string
		data []byte
		kind error
	}{
		{"empty", nil, keycrypto.ErrInvalidKey},
		{"magic only", []byte("KWK1"), keycrypto.ErrInvalidKey},
		{"wrong magic", append([]byte("KWK2"), rsaBlob[4:]...), keycrypto.ErrInvalidKey},
		{"truncated kty", []byte("KWK1\x07RSA"), keycrypto.ErrInvalidKey},
		{"truncated der", rsaBlob[:len(rsaBlob)-10], keycrypto.ErrInvalidKey},
		{"trailing data", append(slices.Clone(rsaBlob), 0), keycrypto.ErrInvalidKey},
		{"rsa as EC", swapKty(rsaBlob, "EC"), keycrypto.ErrInvalidKey},
		{"ec as RSA-HSM", swapKty(ecBlob, "RSA-HSM"), keycrypto.ErrInvalidKey},
		{"oct", swapKty(rsaBlob, "oct"), keycrypto.ErrInvalidKey},
		{"no kty", swapKty(rsaBlob, ""), keycrypto.ErrInvalidKey},
		{"flipped der", flip(rsaBlob, len(rsaBlob)-50), keycrypto.ErrInvalidKey},
	}
	for _, tt := range bad {
		k, err := keycrypto.ParsePrivate(tt.data)
		if k != nil || !errors.Is(err, tt.kind) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, k != nil, err, tt.kind)
		}
	}
}
