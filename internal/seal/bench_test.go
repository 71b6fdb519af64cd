package seal

import (
	"fmt"
	"testing"
)

// BenchmarkSealOpen measures one Seal plus one Open (the full per-record path:
// two HKDF derivations, two AES-GCM setups, encryption and decryption).
func BenchmarkSealOpen(b *testing.B) {
	k := mustDataKey(b)
	ctx := Context("servicebus", "ns1", "queue", "q1", "msg", "42")
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				rec, err := k.Seal(ctx, pt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.Open(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenEnvelopeRoot measures unwrapping a data key under the root key.
func BenchmarkOpenEnvelopeRoot(b *testing.B) {
	root := mustRootKey(b)
	k := mustDataKey(b)
	env, err := Wrap(b.Context(), k, root)
	if err != nil {
		b.Fatal(err)
	}
	resolve := ResolveByID(root)
	b.ReportAllocs()
	for b.Loop() {
		dk, _, err := Open(b.Context(), env, resolve)
		if err != nil {
			b.Fatal(err)
		}
		dk.Destroy()
	}
}
