package keycrypto_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/keycrypto"
)

// wycheproofFile is the subset of the Wycheproof RSAES decryption schemas
// the tests use.
type wycheproofFile struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		KeySize       int             `json:"keySize"`
		Sha           string          `json:"sha"`
		MgfSha        string          `json:"mgfSha"`
		PrivateKeyJwk json.RawMessage `json:"privateKeyJwk"`
		Tests         []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Msg     string   `json:"msg"`
			Ct      string   `json:"ct"`
			Label   string   `json:"label"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func loadWycheproof(t testing.TB, name string) wycheproofFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	if len(f.TestGroups) == 0 {
		t.Fatalf("%s: no test groups", name)
	}
	return f
}

// parseJWKJSON decodes and validates a JWK from JSON; the error may come
// from either step.
func parseJWKJSON(data []byte) (*keycrypto.Key, error) {
	var j keycrypto.JSONWebKey
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	return keycrypto.ParseJWK(j)
}

// wycheproofKey returns the private key of the first group of a vector
// file: a fixed RSA key for tests that do not need a fresh one.
func wycheproofKey(t testing.TB, name string) *keycrypto.Key {
	t.Helper()
	f := loadWycheproof(t, name)
	k, err := parseJWKJSON(f.TestGroups[0].PrivateKeyJwk)
	if err != nil {
		t.Fatalf("parse %s key: %v", name, err)
	}
	return k
}

// rsaJWKJSON returns the Wycheproof RSA-2048 private key as JSON.
func rsaJWKJSON(t testing.TB) []byte {
	t.Helper()
	return loadWycheproof(t, "rsa_oaep_2048_sha1_mgf1sha1_test.json").TestGroups[0].PrivateKeyJwk
}

func generate(t testing.TB, spec keycrypto.KeySpec) *keycrypto.Key {
	t.Helper()
	k, err := keycrypto.Generate(context.Background(), spec)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", spec, err)
	}
	return k
}

// fixedECKey returns a deterministic EC private key whose scalar is
// 0x0101...01.
func fixedECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	size := (curve.Params().BitSize + 7) / 8
	d := make([]byte, size)
	for i := range d {
		d[i] = 1
	}
	priv, err := ecdsa.ParseRawPrivateKey(curve, d)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// privateJWK builds a full private JWK from a standard library key, as an
// importing client would.
func privateJWK(t testing.TB, kty keycrypto.KeyType, priv crypto.PrivateKey) keycrypto.JSONWebKey {
	t.Helper()
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		p.Precompute()
		return keycrypto.JSONWebKey{
			Kty: kty, N: p.N.Bytes(), E: big.NewInt(int64(p.E)).Bytes(), D: p.D.Bytes(),
			P: p.Primes[0].Bytes(), Q: p.Primes[1].Bytes(),
			DP: p.Precomputed.Dp.Bytes(), DQ: p.Precomputed.Dq.Bytes(), QI: p.Precomputed.Qinv.Bytes(),
		}
	case *ecdsa.PrivateKey:
		pt, err := p.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		n := len(d)
		return keycrypto.JSONWebKey{Kty: kty, Crv: keycrypto.CurveName(p.Curve.Params().Name), X: pt[1 : 1+n], Y: pt[1+n:], D: d}
	}
	t.Fatalf("unsupported key %T", priv)
	return keycrypto.JSONWebKey{}
}

// publicOnly returns the public-only copy of k, through its JWK.
func publicOnly(t testing.TB, k *keycrypto.Key) *keycrypto.Key {
	t.Helper()
	pk, err := keycrypto.ParseJWK(k.PublicJWK())
	if err != nil {
		t.Fatalf("ParseJWK(PublicJWK): %v", err)
	}
	if pk.HasPrivate() {
		t.Fatal("public JWK produced a private key")
	}
	return pk
}

// wantErr checks that err wraps kind and, when want is non-empty, that its
// message contains want.
func wantErr(t testing.TB, err, kind error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not wrap %v", err, kind)
	}
	if want != "" && !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// sentinels are all error kinds a parser may return.
var sentinels = []error{
	keycrypto.ErrUnsupported, keycrypto.ErrUnknownAlgorithm, keycrypto.ErrAlgorithmMismatch,
	keycrypto.ErrInvalidArgument, keycrypto.ErrInvalidKey, keycrypto.ErrNoPrivateKey,
	keycrypto.ErrMessageTooLong, keycrypto.ErrDigestLength, keycrypto.ErrDecryption,
}

func classified(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
