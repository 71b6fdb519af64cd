package seal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// wycheproofAEAD is the part of Wycheproof's aead_test_schema_v1 this test reads.
type wycheproofAEAD struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		KeySize int `json:"keySize"`
		IVSize  int `json:"ivSize"`
		TagSize int `json:"tagSize"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Key     string   `json:"key"`
			IV      string   `json:"iv"`
			AAD     string   `json:"aad"`
			Msg     string   `json:"msg"`
			CT      string   `json:"ct"`
			Tag     string   `json:"tag"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofAESGCM runs every AES-256 / 96-bit IV / 128-bit tag case of
// Wycheproof through newGCM, the one AEAD constructor the package uses.
func TestWycheproofAESGCM(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "wycheproof", "aes_gcm_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofAEAD
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Algorithm != "AES-GCM" {
		t.Fatalf("algorithm %q", f.Algorithm)
	}
	dec := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("bad hex in vectors: %v", err)
		}
		return b
	}
	var valid, invalid int
	for _, g := range f.TestGroups {
		if g.KeySize != 256 || g.IVSize != 96 || g.TagSize != 128 {
			continue
		}
		for _, tc := range g.Tests {
			key, iv, aad, msg := dec(tc.Key), dec(tc.IV), dec(tc.AAD), dec(tc.Msg)
			sealed := append(dec(tc.CT), dec(tc.Tag)...)
			aead, err := newGCM(key)
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			switch tc.Result {
			case "valid":
				valid++
				if got := aead.Seal(nil, iv, msg, aad); !bytes.Equal(got, sealed) {
					t.Errorf("tc %d (%s): seal mismatch", tc.TcID, tc.Comment)
				}
				if got, err := aead.Open(nil, iv, sealed, aad); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("tc %d (%s): open failed: %v", tc.TcID, tc.Comment, err)
				}
			case "invalid":
				invalid++
				if _, err := aead.Open(nil, iv, sealed, aad); err == nil {
					t.Errorf("tc %d (%s) %v: invalid ciphertext opened", tc.TcID, tc.Comment, tc.Flags)
				}
			default:
				t.Errorf("tc %d: unexpected result %q for this configuration", tc.TcID, tc.Result)
			}
		}
	}
	if valid != 39 || invalid != 27 {
		t.Fatalf("ran %d valid and %d invalid cases, want 39 and 27", valid, invalid)
	}
}
