package vaulthttp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/vault"
)

// importableRSA returns a fresh RSA-2048 private key as an azkeys JWK.
func importableRSA(t testing.TB) *azkeys.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return rsaJWK(k)
}

func rsaJWK(k *rsa.PrivateKey) *azkeys.JSONWebKey {
	k.Precompute()
	return &azkeys.JSONWebKey{
		Kty: ptr(azkeys.KeyTypeRSA), N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes(),
		D: k.D.Bytes(), P: k.Primes[0].Bytes(), Q: k.Primes[1].Bytes(),
		DP: k.Precomputed.Dp.Bytes(), DQ: k.Precomputed.Dq.Bytes(), QI: k.Precomputed.Qinv.Bytes(),
	}
}

const vectorDir = "../../keycrypto/testdata/wycheproof"

type wycheproofFile struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		KeySize       int             `json:"keySize"`
		SHA           string          `json:"sha"`
		MGFSHA        string          `json:"mgfSha"`
		PrivateKeyJwk json.RawMessage `json:"privateKeyJwk"`
		Tests         []struct {
			TcID    int    `json:"tcId"`
			Msg     string `json:"msg"`
			CT      string `json:"ct"`
			Label   string `json:"label"`
			Result  string `json:"result"`
			Comment string `json:"comment"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofRSAOAEPThroughAPI imports each Wycheproof group's private
// key through the API, then decrypts and unwraps every test: valid cases
// must give the message, invalid ones (and cases with a label, which Key
// Vault cannot pass) must fail, all with one and the same error.
func TestWycheproofRSAOAEPThroughAPI(t *testing.T) {
	files := map[string]azkeys.EncryptionAlgorithm{
		"rsa_oaep_2048_sha1_mgf1sha1_test.json":     azkeys.EncryptionAlgorithmRSAOAEP,
		"rsa_oaep_2048_sha256_mgf1sha256_test.json": azkeys.EncryptionAlgorithmRSAOAEP256,
		"rsa_oaep_3072_sha256_mgf1sha256_test.json": azkeys.EncryptionAlgorithmRSAOAEP256,
		"rsa_oaep_4096_sha256_mgf1sha256_test.json": azkeys.EncryptionAlgorithmRSAOAEP256,
	}
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("wyche", nil, h.policy(owner, "import", "decrypt", "unwrapKey"))
	c := h.keys("wyche", owner)
	var failures []string // distinct error texts of failed decryptions
	checked := 0
	for file, alg := range files {
		raw, err := os.ReadFile(filepath.Join(vectorDir, file))
		if err != nil {
			t.Fatalf("vectors: %v", err)
		}
		var wf wycheproofFile
		if err := json.Unmarshal(raw, &wf); err != nil {
			t.Fatal(err)
		}
		for gi, g := range wf.TestGroups {
			var jwk azkeys.JSONWebKey
			if err := json.Unmarshal(g.PrivateKeyJwk, &jwk); err != nil {
				t.Fatalf("%s group %d jwk: %v", file, gi, err)
			}
			jwk.KID = nil
			name := fmt.Sprintf("%s-%d", strings.ReplaceAll(strings.TrimSuffix(file, "_test.json"), "_", "-"), gi)
			if _, err := c.ImportKey(ctx, name, azkeys.ImportKeyParameters{Key: &jwk}, nil); err != nil {
				t.Fatalf("import %s: %v", name, err)
			}
			for _, tc := range g.Tests {
				ct, _ := hex.DecodeString(tc.CT)
				msg, _ := hex.DecodeString(tc.Msg)
				wantOK := tc.Result == "valid" && tc.Label == ""
				mustFail := tc.Result == "invalid" || tc.Label != ""
				for _, op := range []string{"decrypt", "unwrap"} {
					params := azkeys.KeyOperationParameters{Algorithm: ptr(alg), Value: ct}
					var out []byte
					var err error
					if op == "decrypt" {
						var r azkeys.DecryptResponse
						r, err = c.Decrypt(ctx, name, "", params, nil)
						out = r.Result
					} else {
						var r azkeys.UnwrapKeyResponse
						r, err = c.UnwrapKey(ctx, name, "", params, nil)
						out = r.Result
					}
					checked++
					switch {
					case wantOK && (err != nil || !bytes.Equal(out, msg)):
						t.Errorf("%s tc %d (%s) %s: got %x, %v; want %x", file, tc.TcID, tc.Comment, op, out, err, msg)
					case mustFail && err == nil:
						t.Errorf("%s tc %d (%s) %s: decrypted an invalid ciphertext", file, tc.TcID, tc.Comment, op)
					case err != nil:
						var re *azcore.ResponseError
						if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BadParameter" {
							t.Errorf("%s tc %d %s: error %v, want 400 BadParameter", file, tc.TcID, op, err)
							continue
						}
						_, _, m := errorOf(t, bodyOf(re))
						if !contains(failures, m) {
							failures = append(failures, m)
						}
					}
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("only %d checks ran", checked)
	}
	if len(failures) != 1 {
		t.Fatalf("decryption failures are told apart: %q", failures)
	}
}

func bodyOf(re *azcore.ResponseError) []byte {
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return nil
	}
	var buf bytes.Buffer
	buf.ReadFrom(re.RawResponse.Body)
	return buf.Bytes()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBadInput sends malformed requests through the raw API: each gets
// 400 BadParameter with a message naming the problem, and nothing is
// created.
func TestBadInput(t *testing.T) {
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kvbad", func(s *vault.VaultSpec) { s.SKU = &vault.SKU{Family: "A", Name: "standard"} }, h.policy(owner, "all"))
	tok := h.token(owner)
	status, _, body := h.do(http.MethodPost, "kvbad", "/keys/good/create?api-version=2025-07-01", tok, `{"kty":"RSA","key_size":2048}`)
	if status != 200 {
		t.Fatalf("create: %d %s", status, body)
	}
	jwk := rsaJWK(mustRSA(t))
	goodJWK, _ := json.Marshal(jwk)
	padded := strings.Replace(string(goodJWK), `"e":"AQAB"`, `"e":"AQAB="`, 1)
	for _, tc := range []struct {
		name, method, path, body, part string
	}{
		{"wrong kty", "POST", "/keys/n1/create", `{"kty":"DSA"}`, "DSA"},
		{"missing kty", "POST", "/keys/n1/create", `{}`, "kty"},
		{"bad size", "POST", "/keys/n1/create", `{"kty":"RSA","key_size":1024}`, "1024"},
		{"float size", "POST", "/keys/n1/create", `{"kty":"RSA","key_size":2048.5}`, "key_size"},
		{"bad curve", "POST", "/keys/n1/create", `{"kty":"EC","crv":"P-192"}`, "P-192"},
		{"curve for RSA", "POST", "/keys/n1/create", `{"kty":"RSA","crv":"P-256"}`, "curve"},
		{"hsm on standard", "POST", "/keys/n1/create", `{"kty":"RSA-HSM"}`, "premium"},
		{"nbf after exp", "POST", "/keys/n1/create", `{"kty":"EC","attributes":{"nbf":1900000000,"exp":1800000000}}`, "nbf"},
		{"float time", "POST", "/keys/n1/create", `{"kty":"EC","attributes":{"exp":1800000000.5}}`, "exp"},
		{"bad key op", "POST", "/keys/n1/create", `{"kty":"RSA","key_ops":["fly"]}`, "fly"},
		{"not json", "POST", "/keys/n1/create", `{"kty":`, "JSON"},
		{"release policy", "POST", "/keys/n1/create", `{"kty":"EC","release_policy":{"data":"x"}}`, "release"},
		{"malformed jwk", "PUT", "/keys/n1", `{"key":{"kty":"RSA","n":"AQAB"}}`, "e"},
		{"padded jwk", "PUT", "/keys/n1", `{"key":` + padded + `}`, "\"e\""},
		{"no key", "PUT", "/keys/n1", `{}`, "key"},
		{"public jwk", "PUT", "/keys/n1", `{"key":{"kty":"RSA","n":"` + b64(jwk.N) + `","e":"AQAB"}}`, "private"},
		{"unknown alg", "POST", "/keys/good/encrypt", `{"alg":"RSA-OAEP-1024","value":"AAEC"}`, "RSA-OAEP-1024"},
		{"too long", "POST", "/keys/good/encrypt", `{"alg":"RSA-OAEP-256","value":"` + b64(make([]byte, 191)) + `"}`, "190"},
		{"padded value", "POST", "/keys/good/wrapkey", `{"alg":"RSA-OAEP","value":"AAE="}`, "value"},
		{"std base64", "POST", "/keys/good/wrapkey", `{"alg":"RSA-OAEP","value":"a+b/"}`, "value"},
		{"no value", "POST", "/keys/good/sign", `{"alg":"RS256"}`, "value"},
		{"iv for RSA", "POST", "/keys/good/encrypt", `{"alg":"RSA-OAEP","value":"AA","iv":"AA"}`, "iv"},
		{"digest length", "POST", "/keys/good/sign", `{"alg":"RS256","value":"AAEC"}`, "32 bytes"},
		{"ec alg on rsa", "POST", "/keys/good/sign", `{"alg":"ES256","value":"` + b64(make([]byte, 32)) + `"}`, "ES256"},
		{"rng count", "POST", "/rng", `{"count":0}`, "count"},
		{"rng too many", "POST", "/rng", `{"count":1025}`, "1025"},
		{"bad update", "PATCH", "/keys/good", `{"attributes":{"nbf":1900000000,"exp":1800000000}}`, "nbf"},
		{"bad policy", "PUT", "/keys/good/rotationpolicy", `{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P1D"},"action":{"type":"Rotate"}}]}`, "7 days"},
		{"bad restore", "POST", "/keys/restore", `{"value":"` + b64([]byte("not a backup")) + `"}`, "Backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := h.do(tc.method, "kvbad", tc.path+"?api-version=7.4", tok, tc.body)
			code, _, msg := errorOf(t, body)
			if status != 400 || code != "BadParameter" || !strings.Contains(msg, tc.part) {
				t.Fatalf("%d %s %q, want 400 BadParameter mentioning %q", status, code, msg, tc.part)
			}
		})
	}
	// api-version.
	for _, q := range []string{"", "?api-version=2099-01-01"} {
		status, _, body := h.do(http.MethodGet, "kvbad", "/keys"+q, tok, nil)
		if code, _, _ := errorOf(t, body); status != 400 || code != "BadParameter" {
			t.Fatalf("api-version %q: %d %s", q, status, body)
		}
	}
	for _, v := range []string{"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.6-preview.2", "2025-07-01"} {
		if status, _, body := h.do(http.MethodGet, "kvbad", "/keys/good/?api-version="+v, tok, nil); status != 200 {
			t.Fatalf("api-version %s: %d %s", v, status, body)
		}
	}
	// Nothing was created.
	status, _, body = h.do(http.MethodGet, "kvbad", "/keys?api-version=7.4", tok, nil)
	var l struct {
		Value []struct{ KID string } `json:"value"`
	}
	json.Unmarshal(body, &l)
	if status != 200 || len(l.Value) != 1 || !strings.HasSuffix(l.Value[0].KID, "/keys/good") {
		t.Fatalf("keys after bad input: %s", body)
	}
	status, _, body = h.do(http.MethodGet, "kvbad", "/deletedkeys?api-version=7.4", tok, nil)
	if status != 200 || !bytes.Contains(body, []byte(`"value":[]`)) {
		t.Fatalf("deleted keys: %s", body)
	}
	// Unknown routes and methods.
	if status, _, _ := h.do(http.MethodGet, "kvbad", "/secrets?api-version=7.4", tok, nil); status != 404 {
		t.Fatalf("secrets: %d", status)
	}
	if status, _, _ := h.do(http.MethodDelete, "kvbad", "/keys/good/create?api-version=7.4", tok, nil); status != 405 {
		t.Fatalf("DELETE create: %d", status)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStoreHoldsNoKeyMaterial imports a known key, uses it, closes
// everything, and scans every file of the store for the key's private
// values (raw and base64url).
func TestStoreHoldsNoKeyMaterial(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kvscan", nil, h.policy(owner, "all"))
	c := h.keys("kvscan", owner)
	k := mustRSA(t)
	if _, err := c.ImportKey(ctx, "known", azkeys.ImportKeyParameters{Key: rsaJWK(k)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateKey(ctx, "known", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateKey(ctx, "known", "", azkeys.UpdateKeyParameters{Tags: map[string]*string{"a": ptr("b")}}, nil); err != nil {
		t.Fatal(err)
	}
	wr, err := c.WrapKey(ctx, "known", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UnwrapKey(ctx, "known", wr.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: wr.Result}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BackupKey(ctx, "known", nil); err != nil {
		t.Fatal(err)
	}
	h.close()
	var needles [][]byte
	for _, v := range []*big.Int{k.D, k.Primes[0], k.Primes[1]} {
		b := v.Bytes()
		needles = append(needles, b[:24], b[len(b)-24:], []byte(b64(b)[:32]))
	}
	needles = append(needles, []byte("0123456789abcdef0123456789abcdef"))
	files := 0
	err = filepath.WalkDir(h.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds secret %d", path, i)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scan: %v (%d files)", err, files)
	}
}
