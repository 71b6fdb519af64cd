package seal

import (
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"testing"
)

// TestXAESVectors checks newXAES against the C2SP XAES-256-GCM test vectors.
func TestXAESVectors(t *testing.T) {
	nonce := []byte("ABCDEFGHIJKLMNOPQRSTUVWX")
	pt := []byte("XAES-256-GCM")
	for _, tc := range []struct {
		key  byte
		aad  string
		want string
	}{
		{0x01, "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
		{0x03, "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
	} {
		var key [32]byte
		copy(key[:], bytes.Repeat([]byte{tc.key}, 32))
		aead, n, err := newXAES(&key, nonce)
		if err != nil {
			t.Fatal(err)
		}
		var aad []byte
		if tc.aad != "" {
			aad = []byte(tc.aad)
		}
		ct := aead.Seal(nil, n, pt, aad)
		if got := hex.EncodeToString(ct); got != tc.want {
			t.Errorf("key %#x: got %s, want %s", tc.key, got, tc.want)
		}
		back, err := aead.Open(nil, n, ct, aad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Errorf("key %#x: open: %q, %v", tc.key, back, err)
		}
	}
	var key [32]byte
	if _, _, err := newXAES(&key, nonce[:12]); err == nil {
		t.Error("a 12-byte nonce was accepted")
	}
}

// TestXAESAccumulated is the C2SP accumulated vector: 10,000 random
// (key, nonce, plaintext, additional data) from SHAKE128, every ciphertext
// hashed into a second SHAKE128.
func TestXAESAccumulated(t *testing.T) {
	if testing.Short() {
		t.Skip("accumulated vector")
	}
	s, d := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := s.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := 0; i < 10_000; i++ {
		var key [32]byte
		copy(key[:], read(32))
		nonce := read(24)
		pt := read(int(read(1)[0]))
		aad := read(int(read(1)[0]))
		aead, n, err := newXAES(&key, nonce)
		if err != nil {
			t.Fatal(err)
		}
		ct := aead.Seal(nil, n, pt, aad)
		back, err := aead.Open(nil, n, ct, aad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("iteration %d: open: %v", i, err)
		}
		d.Write(ct)
	}
	got := make([]byte, 32)
	d.Read(got)
	if want := "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"; hex.EncodeToString(got) != want {
		t.Errorf("accumulated = %x, want %s", got, want)
	}
}
