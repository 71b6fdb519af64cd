package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Known-answer vectors. They pin the formats: if one of these constants has
// to change, records or envelopes already stored would no longer open, so a
// change needs a new format version, not a new constant.
//
// Inputs: a counting "random" source (0x00, 0x01, ...) gives the data key
// 00..1f, its id 20..2f, and the record's XAES nonce 30..47 (algorithm 2) or
// salt 30..4f and nonce 50..5b (algorithm 1, katRecord). A
// second counting source starting at 0x80 gives the root key 80..9f and the
// root wrap's nonce a0..ab.
const (
	katContextA  = "keyward"
	katContextB  = "known-answer"
	katPlaintext = "keyward known-answer vector"
	katDataKeyID = "202122232425262728292a2b2c2d2e2f"
	katRecord    = "0101202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b" +
		"ebc865ec940d3e54cbd3e4b1861e395e90db9570dd0e5891624b8894b8709f24e628233e5826c271e2d36a"
	katRecordXAES  = "0102202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464780408d31a674443e12f8b07a90c666ed9bbc18758af9ba5eb28189dcfa238c405345306bb256451a3c80ad"
	katKeyCheck    = "644c6adf1b0de2e3c00e0f4a419bae4720e283381e7a9a39a91e90e9aa0dfab1"
	katFingerprint = "77087c73413b3377"
	katRootWrap    = "a0a1a2a3a4a5a6a7a8a9aaab82db1612ed41d8a8d4a65084ef8d97306c101fefdc5a6fda6054c447f03e049557eda7bd20e962e70fdff08dc7684fa9"
	katEnvelope    = "4b574501202122232425262728292a2b2c2d2e2f644c6adf1b0de2e3c00e0f4a419bae4720e283381e7a9a39a91e90e9aa0dfab101" +
		"0004726f6f7400103737303837633733343133623333373700134132353647434d2d484b44462d534841323536" +
		"003ca0a1a2a3a4a5a6a7a8a9aaab82db1612ed41d8a8d4a65084ef8d97306c101fefdc5a6fda6054c447f03e049557eda7bd20e962e70fdff08dc7684fa9"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex constant: %v", err)
	}
	return b
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func checkHex(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	if hex.EncodeToString(got) != want {
		t.Errorf("%s:\n got %x\nwant %s", name, got, want)
	}
}

func TestKnownAnswerRecord(t *testing.T) {
	dk, err := newDataKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if dk.ID() != katDataKeyID {
		t.Fatalf("id = %s", dk.ID())
	}
	ctx := Context(katContextA, katContextB)
	wantCtx := append(append([]byte{byte(len(katContextA))}, katContextA...), append([]byte{byte(len(katContextB))}, katContextB...)...)
	if !bytes.Equal(ctx, wantCtx) {
		t.Fatalf("Context encoding = %x, want %x", ctx, wantCtx)
	}
	rec, err := dk.Seal(ctx, []byte(katPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "record", rec, katRecordXAES)

	// The same record built from the package documentation: the record key
	// from HKDF, then XAES-256-GCM (checked against its own C2SP vectors in
	// TestXAESVectors).
	key, id, nonce := seq(0x00, 32), seq(0x20, 16), seq(0x30, 24)
	hdr := append(append([]byte{0x01, 0x02}, id...), nonce...)
	xk, err := hkdf.Key(sha256.New, key, nil, "keyward record xaes key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	aead, n, err := newXAES((*[32]byte)(xk), nonce)
	if err != nil {
		t.Fatal(err)
	}
	want := aead.Seal(bytes.Clone(hdr), n, []byte(katPlaintext), append(bytes.Clone(hdr), wantCtx...))
	if !bytes.Equal(rec, want) {
		t.Errorf("record differs from the documented construction:\n got %x\nwant %x", rec, want)
	}
	pt, err := dk.Open(ctx, unhex(t, katRecordXAES))
	if err != nil || string(pt) != katPlaintext {
		t.Fatalf("KAT record does not open: %q, %v", pt, err)
	}
}

// TestKnownAnswerRecordHKDF keeps records of algorithm 1 (per-record
// HKDF-SHA256 keys, written by earlier versions) opening.
func TestKnownAnswerRecordHKDF(t *testing.T) {
	dk, err := newDataKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := Context(katContextA, katContextB)
	// The constant, built from the package documentation with the standard
	// library alone.
	key, id, salt, nonce := seq(0x00, 32), seq(0x20, 16), seq(0x30, 32), seq(0x50, 12)
	hdr := append(append(append([]byte{0x01, 0x01}, id...), salt...), nonce...)
	rk, err := hkdf.Key(sha256.New, key, salt, "keyward record key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(rk)
	gcm, _ := cipher.NewGCM(block)
	want := gcm.Seal(bytes.Clone(hdr), nonce, []byte(katPlaintext), append(bytes.Clone(hdr), ctx...))
	checkHex(t, "documented record", want, katRecord)
	pt, err := dk.Open(ctx, unhex(t, katRecord))
	if err != nil || string(pt) != katPlaintext {
		t.Fatalf("KAT record does not open: %q, %v", pt, err)
	}
	bad := unhex(t, katRecord)
	bad[len(bad)-1] ^= 1
	if _, err := dk.Open(ctx, bad); err == nil {
		t.Fatal("a tampered algorithm-1 record opened")
	}
}

func TestKnownAnswerEnvelope(t *testing.T) {
	dk, err := newDataKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := newRootKey(&countingReader{next: 0x80})
	if err != nil {
		t.Fatal(err)
	}
	if root.Fingerprint() != katFingerprint {
		t.Errorf("fingerprint = %s, want %s", root.Fingerprint(), katFingerprint)
	}
	env, err := Wrap(t.Context(), dk, root)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "key check", env.KeyCheck, katKeyCheck)
	checkHex(t, "root wrap", env.Wraps[0].Ciphertext, katRootWrap)
	b, err := env.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "envelope", b, katEnvelope)

	// Independent constructions from the package documentation.
	key, id, rootKey, nonce := seq(0x00, 32), seq(0x20, 16), seq(0x80, 32), seq(0xa0, 12)
	kcv, _ := hkdf.Key(sha256.New, key, id, "keyward data key check v1", 32)
	checkHex(t, "documented key check", kcv, katKeyCheck)
	fp, _ := hkdf.Key(sha256.New, rootKey, nil, "keyward root key fingerprint v1", 8)
	if hex.EncodeToString(fp) != katFingerprint {
		t.Errorf("documented fingerprint = %x", fp)
	}
	wk, _ := hkdf.Key(sha256.New, rootKey, nil, "keyward root kek v1", 32)
	block, _ := aes.NewCipher(wk)
	gcm, _ := cipher.NewGCM(block)
	var aad []byte
	for _, p := range []string{"keyward root wrap v1", "A256GCM-HKDF-SHA256", katDataKeyID} {
		aad = append(append(aad, byte(len(p))), p...)
	}
	checkHex(t, "documented root wrap", gcm.Seal(bytes.Clone(nonce), nonce, key, aad), katRootWrap)

	var doc []byte
	doc = append(doc, "KWE\x01"...)
	doc = append(doc, id...)
	doc = append(doc, kcv...)
	doc = append(doc, 1)
	for _, f := range [][]byte{[]byte("root"), []byte(katFingerprint), []byte("A256GCM-HKDF-SHA256"), unhex(t, katRootWrap)} {
		doc = binary.BigEndian.AppendUint16(doc, uint16(len(f)))
		doc = append(doc, f...)
	}
	checkHex(t, "documented envelope", doc, katEnvelope)

	// The constant opens to the data key.
	var e Envelope
	if err := e.UnmarshalBinary(unhex(t, katEnvelope)); err != nil {
		t.Fatal(err)
	}
	got, _, err := Open(t.Context(), e, ResolveByID(root))
	if err != nil || !bytes.Equal(secretOf(t, got), key) {
		t.Fatalf("KAT envelope does not open: %v", err)
	}
}
