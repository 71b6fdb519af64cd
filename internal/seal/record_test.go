package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustDataKey(t)
	sizes := []int{0, 1, 15, 16, 17, 1024, 64 << 10}
	contexts := map[string][]byte{
		"nil":   nil,
		"empty": {},
		"parts": Context("servicebus", "ns1", "queue", "q1", "msg", "42"),
	}
	for _, n := range sizes {
		for name, c := range contexts {
			pt := bytes.Repeat([]byte{0xA5}, n)
			rec, err := k.Seal(c, pt)
			if err != nil {
				t.Fatalf("size %d ctx %s: seal: %v", n, name, err)
			}
			if len(rec) != n+RecordOverhead {
				t.Fatalf("size %d: record is %d bytes, want %d", n, len(rec), n+RecordOverhead)
			}
			got, err := k.Open(c, rec)
			if err != nil {
				t.Fatalf("size %d ctx %s: open: %v", n, name, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("size %d ctx %s: plaintext mismatch", n, name)
			}
		}
	}
}

func TestRecordHeader(t *testing.T) {
	k := mustDataKey(t)
	pt := []byte("hello, keyward")
	rec, err := k.Seal(nil, pt)
	if err != nil {
		t.Fatal(err)
	}
	if rec[0] != 0x01 || rec[1] != 0x02 {
		t.Fatalf("version/alg = %#x/%#x, want 0x01/0x02", rec[0], rec[1])
	}
	if got := hex.EncodeToString(rec[2:18]); got != k.ID() {
		t.Fatalf("id in header = %s, want %s", got, k.ID())
	}
	if bytes.Contains(rec, pt) {
		t.Fatal("record contains the plaintext")
	}
	id, err := RecordDataKeyID(rec)
	if err != nil || id != k.ID() {
		t.Fatalf("RecordDataKeyID = %q, %v; want %q", id, err, k.ID())
	}
	rec2, err := k.Seal(nil, pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(rec[18:62], rec2[18:62]) || bytes.Equal(rec, rec2) {
		t.Fatal("two seals share salt/nonce or are identical")
	}
	if _, err := RecordDataKeyID(rec[:RecordOverhead-1]); !errors.Is(err, ErrOpen) {
		t.Fatalf("RecordDataKeyID of a short record: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	k := mustDataKey(t)
	other := mustDataKey(t)
	ctx := Context("servicebus", "ns1", "queue", "q1", "msg", "42")
	rec, err := k.Seal(ctx, []byte("a payload longer than one GCM tag"))
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(rec)) }
	tests := []struct {
		name    string
		key     *DataKey
		ctx     []byte
		rec     []byte
		wantMsg string
	}{
		{"wrong context", k, Context("servicebus", "ns1", "queue", "q1", "msg", "43"), rec, "authentication failed"},
		{"no context", k, nil, rec, "authentication failed"},
		{"shifted context parts", k, Context("servicebus", "ns1", "queue", "q1", "msg4", "2"), rec, "authentication failed"},
		{"raw context bytes", k, []byte("servicebusns1queueq1msg42"), rec, "authentication failed"},
		{"other data key", other, ctx, rec, "sealed under another data key"},
		{"unknown version", k, ctx, mod(func(b []byte) []byte { b[0] = 2; return b }), "unsupported version"},
		{"unknown algorithm", k, ctx, mod(func(b []byte) []byte { b[1] = 9; return b }), "unsupported algorithm"},
		{"truncated to header", k, ctx, rec[:RecordHeaderSize], "truncated"},
		{"empty", k, ctx, nil, "truncated"},
		{"tag dropped", k, ctx, rec[:len(rec)-gcmTagSize], "authentication failed"},
		{"extra byte", k, ctx, append(bytes.Clone(rec), 0), "authentication failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.key.Open(tc.ctx, tc.rec)
			if err == nil {
				t.Fatalf("opened: %q", pt)
			}
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("error %v does not wrap ErrOpen", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestTamperRecord(t *testing.T) {
	k := mustDataKey(t)
	ctx := Context("t", "tamper")
	rec, err := k.Seal(ctx, []byte("forty bytes of plaintext for the tamper!"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		for bit := 0; bit < 8; bit++ {
			b := bytes.Clone(rec)
			b[i] ^= 1 << bit
			if _, err := k.Open(ctx, b); !errors.Is(err, ErrOpen) {
				t.Fatalf("flip byte %d bit %d: err = %v, want ErrOpen", i, bit, err)
			}
		}
		b := bytes.Clone(rec)
		b[i] ^= 0xFF
		if _, err := k.Open(ctx, b); !errors.Is(err, ErrOpen) {
			t.Fatalf("invert byte %d: err = %v", i, err)
		}
	}
	for n := 0; n < len(rec); n++ {
		if _, err := k.Open(ctx, rec[:n]); !errors.Is(err, ErrOpen) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := k.Open(ctx, rec); err != nil {
		t.Fatalf("untouched record: %v", err)
	}
}

func TestContextEncoding(t *testing.T) {
	if got := Context(); len(got) != 0 {
		t.Fatalf("Context() = %x", got)
	}
	if got, want := Context("ab", ""), []byte{2, 'a', 'b', 0}; !bytes.Equal(got, want) {
		t.Fatalf("Context(ab, \"\") = %x, want %x", got, want)
	}
	long := strings.Repeat("x", 300)
	if got := Context(long); !bytes.Equal(got[:2], []byte{0xAC, 0x02}) || len(got) != 302 {
		t.Fatalf("Context(300 bytes) prefix = %x, len %d", got[:2], len(got))
	}
	distinct := [][]string{
		{}, {""}, {"", ""}, {"a"}, {"a", ""}, {"", "a"}, {"ab"}, {"a", "b"},
		{"ns1", "q1"}, {"ns1q1"}, {"ns", "1q1"}, {"\x01a"}, {"\x01", "a"},
	}
	seen := map[string]int{}
	for i, parts := range distinct {
		enc := string(Context(parts...))
		if j, ok := seen[enc]; ok {
			t.Fatalf("Context(%q) == Context(%q)", parts, distinct[j])
		}
		seen[enc] = i
	}
}

func TestDestroy(t *testing.T) {
	k := mustDataKey(t)
	rec, err := k.Seal(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	id := k.ID()
	k.Destroy()
	k.Destroy() // twice is fine
	if k.ID() != id {
		t.Fatal("ID changed after Destroy")
	}
	if _, err := k.Seal(nil, []byte("x")); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Seal after Destroy: %v", err)
	}
	if _, err := k.Open(nil, rec); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Open after Destroy: %v", err)
	}
	if _, err := Wrap(t.Context(), k, mustRootKey(t)); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Wrap after Destroy: %v", err)
	}
	var zero DataKey
	if _, err := zero.Seal(nil, nil); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("zero DataKey Seal: %v", err)
	}
	var nilKey *DataKey
	if _, err := nilKey.Open(nil, rec); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("nil DataKey Open: %v", err)
	}
	nilKey.Destroy()
}

func TestDestroyZeroesKey(t *testing.T) {
	k := mustDataKey(t)
	buf := k.st.key // the backing array Destroy must zero
	k.Destroy()
	if *buf != [DataKeySize]byte{} {
		t.Fatal("Destroy left key bytes in memory")
	}
}

// TestConcurrentUseAndDestroy is meant for -race: Seal/Open race with Destroy.
func TestConcurrentUseAndDestroy(t *testing.T) {
	k := mustDataKey(t)
	rec, err := k.Seal(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := k.Seal(nil, []byte("x")); err != nil && !errors.Is(err, ErrDestroyed) {
					t.Error(err)
					return
				}
				if _, err := k.Open(nil, rec); err != nil && !errors.Is(err, ErrDestroyed) {
					t.Error(err)
					return
				}
			}
		}()
	}
	k.Destroy()
	wg.Wait()
}

func TestSealRandomFailure(t *testing.T) {
	k, err := newDataKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	k.st.rand = failingReader{}
	if _, err := k.Seal(nil, []byte("x")); err == nil {
		t.Fatal("Seal succeeded without randomness")
	}
	if _, err := newDataKey(failingReader{}); err == nil {
		t.Fatal("newDataKey succeeded without randomness")
	}
	if _, err := newRootKey(failingReader{}); err == nil {
		t.Fatal("newRootKey succeeded without randomness")
	}
}
