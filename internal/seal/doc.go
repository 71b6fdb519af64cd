// Package seal is keyward's envelope-encryption core: data keys, the
// key-encryption-key (KEK) interface, wrapping one data key under up to
// MaxWraps KEKs at once, the root key of an installation, and the format of
// every sealed record.
//
// # Model
//
// A data key (the "seed", DataKeySize = 32 random bytes plus a random 16-byte
// id) lives for a long time (for example one per Service Bus namespace). It is
// never stored in the clear: it is wrapped under one to three KEKs (the root
// key, vault RSA keys, later external KMSs) and only the Envelope — the data
// key's id, a key-check value and the wraps — is stored. Each record is
// sealed with XAES-256-GCM (C2SP) under a record key derived once from the
// data key, with a fresh random 192-bit nonce: XAES derives an AES-256-GCM
// key per nonce, so neither nonce wear-out nor a counter/snapshot hazard
// limits how many records one data key may seal, and a record costs two AES
// blocks of key derivation rather than a hash-based KDF.
//
// Unwrapping happens once per data key per process (or per key poll), never
// per record: a remote KMS costs 20-300 ms and a local RSA-2048 unwrap about
// 0.85 ms, while a sealed 1 KiB record costs a few microseconds.
//
// # Record format (DataKey.Seal), version 1
//
// All integers are unsigned; offsets and lengths are in bytes. Seal writes
// algorithm 2; Open reads algorithms 1 and 2.
//
// Algorithm 2 (XAES-256-GCM):
//
//	offset  length  field
//	0       1       version   = 0x01
//	1       1       algorithm = 0x02 (XAES-256-GCM under the record key)
//	2       16      data key id (raw bytes; DataKey.ID is their lower-case hex)
//	18      24      nonce, random per record
//	42      n       ciphertext of the n-byte plaintext
//	42+n    16      GCM tag
//
// The record key is HKDF-SHA256(secret = data key, salt = none,
// info = "keyward record xaes key v1", length 32), derived when the data key
// is loaded; the record is XAES-256-GCM (c2sp.org/XAES-256-GCM) of the
// plaintext under the record key and the 24-byte nonce. The additional data
// is the whole 42-byte header followed by the caller's context (see
// Context), so the version, algorithm, data key id and nonce are all
// authenticated and a record cannot be moved to another place (context)
// without Open failing. RecordOverhead (58) is the size of a record minus its
// plaintext.
//
// Algorithm 1 (AES-256-GCM with a per-record HKDF key; written by keyward
// before XAES, still opened):
//
//	offset  length  field
//	0       1       version   = 0x01
//	1       1       algorithm = 0x01
//	2       16      data key id
//	18      32      salt, random per record
//	50      12      nonce, random per record
//	62      n       AES-256-GCM ciphertext of the n-byte plaintext
//	62+n    16      GCM tag
//
// The record key is HKDF-SHA256(secret = data key, salt = salt,
// info = "keyward record key v1", length 32); the additional data is the
// 62-byte header followed by the context.
//
// # Context encoding
//
// Context(parts...) is the concatenation, for each part, of the part's length
// as an unsigned LEB128 varint (encoding/binary.AppendUvarint) followed by the
// part's bytes. Distinct part lists always give distinct encodings.
//
// # Key-check value
//
// Every envelope carries a 32-byte key-check value
// HKDF-SHA256(secret = data key, salt = the 16 raw id bytes,
// info = "keyward data key check v1", length 32). Open accepts an unwrapped key
// only if it recomputes to the stored value (constant-time comparison), so a
// wrap of another data key under the same KEK (an RSA wrap binds nothing but
// the key) is never accepted as this envelope's key, and the id a DataKey
// reports is the id it was created with.
//
// # Root wrap (RootKey.Wrap), algorithm "A256GCM-HKDF-SHA256"
//
// The wrapping key is HKDF-SHA256(secret = root key, salt = none,
// info = "keyward root kek v1", length 32). A wrap has KEKID "root",
// KEKVersion = the root key's fingerprint and Ciphertext:
//
//	offset  length  field
//	0       12      nonce, random per wrap
//	12      32      AES-256-GCM ciphertext of the 32-byte data key
//	44      16      GCM tag
//
// Nonces are random; root wraps are made once per data key, far below the
// 2^32 wraps at which random 96-bit nonces under one key become a concern.
// The additional data is
// Context("keyward root wrap v1", "A256GCM-HKDF-SHA256", dataKeyID), where
// dataKeyID is the hex id that Wrap and Open pass to every KEK through the
// context.Context (see WithDataKeyID; an absent id is bound as ""). The
// fingerprint is the lower-case hex of the first 8 bytes of
// HKDF-SHA256(secret = root key, salt = none, info = "keyward root key
// fingerprint v1"); it names the root key without revealing it, and Unwrap
// compares it before authenticating so a wrap made under another root key
// fails with ErrWrongRootKey.
//
// # Envelope format (Envelope.MarshalBinary), version 1
//
//	offset  length  field
//	0       3       magic "KWE" (0x4B 0x57 0x45)
//	3       1       version = 0x01
//	4       16      data key id (raw bytes)
//	20      32      key-check value
//	52      1       number of wraps w, 1..MaxEnvelopeWraps (8)
//	53      ...     w wraps, each four length-prefixed fields:
//	                  2 (big-endian) + k bytes  KEKID       (1..1024, UTF-8)
//	                  2 (big-endian) + v bytes  KEKVersion  (0..256, UTF-8)
//	                  2 (big-endian) + a bytes  Algorithm   (1..64, UTF-8)
//	                  2 (big-endian) + c bytes  Ciphertext  (1..4096)
//
// Nothing may follow the last wrap. UnmarshalBinary enforces every bound and
// MarshalBinary refuses what UnmarshalBinary would refuse, so a marshaled
// envelope always parses back to the same value.
//
// # Secrets
//
// RootKey and DataKey print only non-secret names through every fmt verb and
// log/slog; their key bytes sit two pointers deep, so even printing a copied
// struct value with a mismatched verb shows an address, never the key. No
// error of this package contains key material. Destroy zeroes a data key's bytes, but Go cannot promise that no
// other copy exists (the AES key schedule inside a cipher, garbage-collected
// buffers), so Destroy limits exposure rather than guaranteeing erasure.
package seal
