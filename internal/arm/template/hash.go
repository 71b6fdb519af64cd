package template

import (
	"encoding/binary"
	"math/bits"
	"strings"

	"github.com/google/uuid"
)

// armGUIDNamespace is the namespace ARM's guid() function hashes names in.
var armGUIDNamespace = uuid.MustParse("11fb06fb-712d-4ddd-98c7-e71bbd588830")

// armGUID implements guid(): an RFC 4122 version 5 (SHA-1, name-based) UUID
// of the arguments joined with '-' in ARM's namespace.
func armGUID(args []string) string {
	return uuid.NewSHA1(armGUIDNamespace, []byte(strings.Join(args, "-"))).String()
}

// uniqueString implements uniqueString(): the arguments joined with '-',
// hashed with ARM's 64-bit MurmurHash variant and written as 13 base32
// characters (the top 5 bits first).
func uniqueString(args []string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	h := murmur64([]byte(strings.Join(args, "-")))
	var out [13]byte
	for i := range out {
		out[i] = alphabet[h>>59]
		h <<= 5
	}
	return string(out[:])
}

// murmur64 is the 64-bit MurmurHash variant ARM's uniqueString uses: two
// 32-bit lanes fed 8 bytes per round, seed 0, with MurmurHash3's fmix32 on
// each lane at the end.
func murmur64(data []byte) uint64 {
	const (
		c1 uint32 = 597399067
		c2 uint32 = 2869860233
	)
	var h1, h2 uint32
	n := len(data)
	i := 0
	for ; i+8 <= n; i += 8 {
		k1 := binary.LittleEndian.Uint32(data[i:])
		k2 := binary.LittleEndian.Uint32(data[i+4:])
		k1 *= c1
		k1 = bits.RotateLeft32(k1, 15)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft32(h1, 19)
		h1 += h2
		h1 = h1*5 + 1444728091
		k2 *= c2
		k2 = bits.RotateLeft32(k2, 17)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft32(h2, 13)
		h2 += h1
		h2 = h2*5 + 197830471
	}
	if rem := n - i; rem > 0 {
		var k1 uint32
		for j := min(rem, 4) - 1; j >= 0; j-- {
			k1 = k1<<8 | uint32(data[i+j])
		}
		k1 *= c1
		k1 = bits.RotateLeft32(k1, 15)
		k1 *= c2
		h1 ^= k1
		if rem > 4 {
			var k2 uint32
			for j := rem - 1; j >= 4; j-- {
				k2 = k2<<8 | uint32(data[i+j])
			}
			k2 *= c2
			k2 = bits.RotateLeft32(k2, 17)
			k2 *= c1
			h2 ^= k2
		}
	}
	h1 ^= uint32(n)
	h2 ^= uint32(n)
	h1 += h2
	h2 += h1
	h1 = fmix32(h1)
	h2 = fmix32(h2)
	h1 += h2
	h2 += h1
	return uint64(h2)<<32 | uint64(h1)
}

// fmix32 is MurmurHash3's 32-bit finaliser.
func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
