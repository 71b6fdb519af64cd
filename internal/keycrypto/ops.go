package keycrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 for PS384 and PS512
	"encoding/asn1"
	"hash"
	"math/big"
)

// EncryptionAlgorithm is a Key Vault algorithm for encrypt, decrypt,
// wrapKey and unwrapKey.
type EncryptionAlgorithm string

// Supported encryption and key-wrap algorithms (RSA keys only).
const (
	// AlgRSA15 is RSAES-PKCS1-v1_5 ("RSA1_5").
	AlgRSA15 EncryptionAlgorithm = "RSA1_5"
	// AlgRSAOAEP is RSAES-OAEP with SHA-1 and MGF1-SHA-1 ("RSA-OAEP").
	AlgRSAOAEP EncryptionAlgorithm = "RSA-OAEP"
	// AlgRSAOAEP256 is RSAES-OAEP with SHA-256 and MGF1-SHA-256
	// ("RSA-OAEP-256").
	AlgRSAOAEP256 EncryptionAlgorithm = "RSA-OAEP-256"
)

// symmetricEncryptionAlgorithms are Key Vault algorithms for oct keys; they
// are recognized only to give a precise error.
var symmetricEncryptionAlgorithms = map[EncryptionAlgorithm]bool{
	"A128GCM": true, "A192GCM": true, "A256GCM": true,
	"A128KW": true, "A192KW": true, "A256KW": true,
	"A128CBC": true, "A192CBC": true, "A256CBC": true,
	"A128CBCPAD": true, "A192CBCPAD": true, "A256CBCPAD": true,
	"CKM_AES_KEY_WRAP": true, "CKM_AES_KEY_WRAP_PAD": true,
}

// SignatureAlgorithm is a Key Vault algorithm for sign and verify.
type SignatureAlgorithm string

// Signature algorithms.
const (
	AlgRS256 SignatureAlgorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	AlgRS384 SignatureAlgorithm = "RS384" // RSASSA-PKCS1-v1_5 with SHA-384
	AlgRS512 SignatureAlgorithm = "RS512" // RSASSA-PKCS1-v1_5 with SHA-512
	AlgPS256 SignatureAlgorithm = "PS256" // RSASSA-PSS with SHA-256, salt length 32
	AlgPS384 SignatureAlgorithm = "PS384" // RSASSA-PSS with SHA-384, salt length 48
	AlgPS512 SignatureAlgorithm = "PS512" // RSASSA-PSS with SHA-512, salt length 64
	AlgES256 SignatureAlgorithm = "ES256" // ECDSA on P-256 with SHA-256
	AlgES384 SignatureAlgorithm = "ES384" // ECDSA on P-384 with SHA-384
	AlgES512 SignatureAlgorithm = "ES512" // ECDSA on P-521 with SHA-512
	// AlgES256K (ECDSA on secp256k1) is known but rejected with
	// ErrUnsupported.
	AlgES256K SignatureAlgorithm = "ES256K"
)

// signatureScheme describes a supported signature algorithm.
type signatureScheme struct {
	fam   family
	hash  crypto.Hash
	pss   bool      // RSA: PSS rather than PKCS #1 v1.5
	curve CurveName // EC: the curve the algorithm requires
}

var signatureSchemes = map[SignatureAlgorithm]signatureScheme{
	AlgRS256: {fam: familyRSA, hash: crypto.SHA256},
	AlgRS384: {fam: familyRSA, hash: crypto.SHA384},
	AlgRS512: {fam: familyRSA, hash: crypto.SHA512},
	AlgPS256: {fam: familyRSA, hash: crypto.SHA256, pss: true},
	AlgPS384: {fam: familyRSA, hash: crypto.SHA384, pss: true},
	AlgPS512: {fam: familyRSA, hash: crypto.SHA512, pss: true},
	AlgES256: {fam: familyEC, hash: crypto.SHA256, curve: CurveP256},
	AlgES384: {fam: familyEC, hash: crypto.SHA384, curve: CurveP384},
	AlgES512: {fam: familyEC, hash: crypto.SHA512, curve: CurveP521},
}

// MaxPlaintextLen returns the longest plaintext (or key to wrap) that alg
// can encrypt with this key: k-11 bytes for RSA1_5 and k-2·hLen-2 for
// OAEP, where k is the modulus size in bytes.
func (k *Key) MaxPlaintextLen(alg EncryptionAlgorithm) (int, error) {
	if err := k.checkEncryptionAlgorithm(alg); err != nil {
		return 0, err
	}
	size := k.rsaPub.Size()
	switch alg {
	case AlgRSA15:
		return size - 11, nil
	case AlgRSAOAEP:
		return size - 2*sha1.Size - 2, nil
	default: // AlgRSAOAEP256
		return size - 2*sha256.Size - 2, nil
	}
}

// checkEncryptionAlgorithm checks that alg is a supported encryption
// algorithm and this is an RSA key.
func (k *Key) checkEncryptionAlgorithm(alg EncryptionAlgorithm) error {
	switch {
	case alg == AlgRSA15 || alg == AlgRSAOAEP || alg == AlgRSAOAEP256:
		if k.rsaPub == nil {
			return errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for key type %s; it needs an RSA key", alg, k.kty)
		}
		return nil
	case symmetricEncryptionAlgorithms[alg]:
		return errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for key type %s; it needs an oct key, which is not supported", alg, k.kty)
	case alg == "":
		return errorf(ErrUnknownAlgorithm, "encryption algorithm (alg) is missing; use RSA1_5, RSA-OAEP or RSA-OAEP-256")
	default:
		return errorf(ErrUnknownAlgorithm, "unknown encryption algorithm %q; use RSA1_5, RSA-OAEP or RSA-OAEP-256", clip(string(alg)))
	}
}

// oaepHash returns a fresh hash for an OAEP algorithm.
func oaepHash(alg EncryptionAlgorithm) hash.Hash {
	if alg == AlgRSAOAEP {
		return sha1.New()
	}
	return sha256.New()
}

// Encrypt encrypts plaintext with the public key (Key Vault "encrypt").
// Errors: ErrUnknownAlgorithm, ErrAlgorithmMismatch (not an RSA key), and
// ErrMessageTooLong with the maximum for this key and padding.
func (k *Key) Encrypt(alg EncryptionAlgorithm, plaintext []byte) ([]byte, error) {
	return k.encrypt("encrypt", alg, plaintext)
}

// WrapKey encrypts a key with the public key (Key Vault "wrapKey"). It is
// the same operation as Encrypt.
func (k *Key) WrapKey(alg EncryptionAlgorithm, key []byte) ([]byte, error) {
	return k.encrypt("wrapKey", alg, key)
}

func (k *Key) encrypt(op string, alg EncryptionAlgorithm, plaintext []byte) ([]byte, error) {
	limit, err := k.MaxPlaintextLen(alg)
	if err != nil {
		return nil, err
	}
	if len(plaintext) > limit {
		return nil, errorf(ErrMessageTooLong, "%s: input is %d bytes; %s with a %d-bit RSA key allows at most %d",
			op, len(plaintext), alg, k.rsaPub.N.BitLen(), limit)
	}
	var out []byte
	if alg == AlgRSA15 {
		// PKCS #1 v1.5 encryption is deprecated in Go but part of the
		// Key Vault API.
		out, err = rsa.EncryptPKCS1v15(rand.Reader, k.rsaPub, plaintext)
	} else {
		out, err = rsa.EncryptOAEP(oaepHash(alg), rand.Reader, k.rsaPub, plaintext, nil)
	}
	if err != nil {
		return nil, errorf(ErrInvalidKey, "%s with %s failed: %v", op, alg, err)
	}
	return out, nil
}

// Decrypt decrypts ciphertext with the private key (Key Vault "decrypt").
// Errors about the request (ErrUnknownAlgorithm, ErrAlgorithmMismatch,
// ErrNoPrivateKey) are detailed; every failure caused by the ciphertext
// returns exactly ErrDecryption.
//
// OAEP decoding in the standard library is constant time. RSA1_5 cannot
// hide whether the padding was valid because Key Vault reports it as an
// error (implicit rejection, as in rsa.DecryptPKCS1v15SessionKey, would
// change Key Vault's semantics); prefer the OAEP algorithms.
func (k *Key) Decrypt(alg EncryptionAlgorithm, ciphertext []byte) ([]byte, error) {
	return k.decrypt(alg, ciphertext)
}

// UnwrapKey decrypts a wrapped key with the private key (Key Vault
// "unwrapKey"). It is the same operation as Decrypt, with the same errors.
func (k *Key) UnwrapKey(alg EncryptionAlgorithm, wrapped []byte) ([]byte, error) {
	return k.decrypt(alg, wrapped)
}

func (k *Key) decrypt(alg EncryptionAlgorithm, ciphertext []byte) ([]byte, error) {
	if err := k.checkEncryptionAlgorithm(alg); err != nil {
		return nil, err
	}
	if k.rsaPriv == nil {
		return nil, errorf(ErrNoPrivateKey, "decryption needs the private key, and this key is public-only")
	}
	var (
		out []byte
		err error
	)
	if alg == AlgRSA15 {
		out, err = rsa.DecryptPKCS1v15(nil, k.rsaPriv, ciphertext)
	} else {
		out, err = rsa.DecryptOAEP(oaepHash(alg), nil, k.rsaPriv, ciphertext, nil)
	}
	if err != nil {
		return nil, ErrDecryption
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// signatureSchemeFor checks alg against this key.
func (k *Key) signatureSchemeFor(alg SignatureAlgorithm, digest []byte) (signatureScheme, error) {
	s, ok := signatureSchemes[alg]
	if !ok {
		switch alg {
		case AlgES256K:
			return s, errorf(ErrUnsupported, "algorithm ES256K (secp256k1) is not supported")
		case "HS256", "HS384", "HS512":
			return s, errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for key type %s; it needs an oct key, which is not supported", alg, k.kty)
		case "":
			return s, errorf(ErrUnknownAlgorithm, "signature algorithm (alg) is missing")
		}
		return s, errorf(ErrUnknownAlgorithm, "unknown signature algorithm %q; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512", clip(string(alg)))
	}
	switch s.fam {
	case familyRSA:
		if k.rsaPub == nil {
			return s, errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for key type %s; it needs an RSA key", alg, k.kty)
		}
	case familyEC:
		if k.ecPub == nil {
			return s, errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for key type %s; it needs an EC key on %s", alg, k.kty, s.curve)
		}
		if k.curve.name != s.curve {
			return s, errorf(ErrAlgorithmMismatch, "algorithm %s is not valid for a %s key; use %s", alg, k.curve.name, k.curve.signature)
		}
	}
	if len(digest) != s.hash.Size() {
		return s, errorf(ErrDigestLength, "digest for %s must be %d bytes (%s), got %d", alg, s.hash.Size(), s.hash, len(digest))
	}
	return s, nil
}

// Sign signs a digest the caller computed with the algorithm's hash (Key
// Vault "sign"). EC signatures are r||s, each left-padded to the curve's
// size; PSS uses a salt as long as the hash. Errors: ErrUnknownAlgorithm,
// ErrUnsupported (ES256K), ErrAlgorithmMismatch (wrong key type or curve),
// ErrDigestLength, ErrNoPrivateKey.
func (k *Key) Sign(alg SignatureAlgorithm, digest []byte) ([]byte, error) {
	s, err := k.signatureSchemeFor(alg, digest)
	if err != nil {
		return nil, err
	}
	if !k.HasPrivate() {
		return nil, errorf(ErrNoPrivateKey, "signing needs the private key, and this key is public-only")
	}
	if s.fam == familyRSA {
		var sig []byte
		if s.pss {
			sig, err = rsa.SignPSS(rand.Reader, k.rsaPriv, s.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, k.rsaPriv, s.hash, digest)
		}
		if err != nil {
			return nil, errorf(ErrInvalidKey, "sign with %s failed: %v", alg, err)
		}
		return sig, nil
	}
	der, err := ecdsa.SignASN1(rand.Reader, k.ecPriv, digest)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "sign with %s failed: %v", alg, err)
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		return nil, errorf(ErrInvalidKey, "sign with %s: malformed signature from the ECDSA implementation", alg)
	}
	n := k.curve.byteLen
	sig := make([]byte, 2*n)
	rs.R.FillBytes(sig[:n])
	rs.S.FillBytes(sig[n:])
	return sig, nil
}

// Verify checks a signature over a digest (Key Vault "verify"). A wrong
// signature, including one of the wrong length, gives false and a nil
// error; errors report a bad request (as for Sign, except that the public
// key suffices).
func (k *Key) Verify(alg SignatureAlgorithm, digest, signature []byte) (bool, error) {
	s, err := k.signatureSchemeFor(alg, digest)
	if err != nil {
		return false, err
	}
	if s.fam == familyRSA {
		if s.pss {
			err = rsa.VerifyPSS(k.rsaPub, s.hash, digest, signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(k.rsaPub, s.hash, digest, signature)
		}
		return err == nil, nil
	}
	n := k.curve.byteLen
	if len(signature) != 2*n {
		return false, nil
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(signature[:n]), new(big.Int).SetBytes(signature[n:]),
	})
	if err != nil {
		return false, nil
	}
	return ecdsa.VerifyASN1(k.ecPub, digest, der), nil
}
