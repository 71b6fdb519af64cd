package keycrypto_test

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/keyward/keyward/internal/keycrypto"
)

// FuzzParseJWK decodes arbitrary JSON as a JWK and validates it. Every
// failure must be classified by a sentinel error; every accepted key must
// give a public JWK that parses back to the same public key.
func FuzzParseJWK(f *testing.F) {
	f.Add(rsaJWKJSON(f))
	ecJSON, _ := json.Marshal(privateJWK(f, "EC-HSM", fixedECKey(f, elliptic.P256())))
	f.Add(ecJSON)
	p521, _ := json.Marshal(privateJWK(f, "EC", fixedECKey(f, elliptic.P521())))
	f.Add(p521)
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256K","x":"AA","y":"AA"}`))
	f.Add([]byte(`{"kty":"oct","k":"AAAA","key_ops":["encrypt"]}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB==","e":"AQAB"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // rejected by encoding/json before JSONWebKey sees it
		}
		k, err := parseJWKJSON(data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		pub := k.PublicJWK()
		if len(pub.D)+len(pub.P)+len(pub.Q)+len(pub.DP)+len(pub.DQ)+len(pub.QI)+len(pub.K) != 0 {
			t.Fatal("PublicJWK contains private fields")
		}
		out, err := json.Marshal(pub)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseJWKJSON(out)
		if err != nil {
			t.Fatalf("public JWK does not parse back: %v", err)
		}
		if back.HasPrivate() || back.Kty() != k.Kty() ||
			!back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatal("public JWK round trip changed the key")
		}
		if k.HasPrivate() {
			blob, err := keycrypto.MarshalPrivate(k)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keycrypto.ParsePrivate(blob); err != nil {
				t.Fatalf("accepted private key does not survive storage: %v", err)
			}
		}
	})
}

// FuzzBase64URL checks that the strict decoder accepts exactly the
// canonical unpadded base64url strings, and agrees with the JSON form.
func FuzzBase64URL(f *testing.F) {
	for _, s := range []string{"", "AQAB", "-_8", "AQ==", "AR", "A", "+/8", "AQ\nAB", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := keycrypto.DecodeBase64URL(s)
		if err == nil {
			if enc := base64.RawURLEncoding.EncodeToString(v); enc != s {
				t.Fatalf("accepted %q, which re-encodes as %q", s, enc)
			}
		} else if std, stdErr := base64.RawURLEncoding.Strict().DecodeString(s); stdErr == nil && !bytes.ContainsAny([]byte(s), "\r\n") {
			t.Fatalf("rejected canonical %q (%x): %v", s, std, err)
		}
		quoted, merr := json.Marshal(s)
		if merr != nil {
			return
		}
		var b keycrypto.Base64URL
		jerr := json.Unmarshal(quoted, &b)
		if (jerr == nil) != (err == nil) || !bytes.Equal(b, v) {
			t.Fatalf("JSON decoding disagrees: %v vs %v", jerr, err)
		}
		if jerr == nil {
			out, err := json.Marshal(b)
			if err != nil || !bytes.Equal(out, quoted) {
				t.Fatalf("re-marshals to %s, %v", out, err)
			}
		}
	})
}

// FuzzParsePrivate checks that stored private key blobs either fail with a
// classified error or round-trip.
func FuzzParsePrivate(f *testing.F) {
	rsaBlob, err := keycrypto.MarshalPrivate(wycheproofKey(f, "rsa_oaep_2048_sha1_mgf1sha1_test.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rsaBlob)
	ecKey, err := keycrypto.ParseJWK(privateJWK(f, "EC-HSM", fixedECKey(f, elliptic.P384())))
	if err != nil {
		f.Fatal(err)
	}
	ecBlob, err := keycrypto.MarshalPrivate(ecKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ecBlob)
	f.Add([]byte("KWK1\x03RSA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := keycrypto.ParsePrivate(data)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		blob, err := keycrypto.MarshalPrivate(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := keycrypto.ParsePrivate(blob)
		if err != nil || back.Kty() != k.Kty() ||
			!back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

// FuzzParseKeyOps checks that accepted lists hold only valid, distinct
// operations that include every input.
func FuzzParseKeyOps(f *testing.F) {
	f.Add("wrapKey", "unwrapKey")
	f.Add("sign", "sign")
	f.Add("Encrypt", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		ops, err := keycrypto.ParseKeyOps([]string{a, b})
		if err != nil {
			if keycrypto.KeyOp(a).Valid() && keycrypto.KeyOp(b).Valid() {
				t.Fatalf("rejected valid %q, %q: %v", a, b, err)
			}
			return
		}
		if ops.Validate() != nil || !ops.Permits(keycrypto.KeyOp(a)) || !ops.Permits(keycrypto.KeyOp(b)) {
			t.Fatalf("ParseKeyOps(%q, %q) = %v", a, b, ops)
		}
		if (a == b) != (len(ops) == 1) {
			t.Fatalf("duplicates not removed: %v", ops)
		}
	})
}
