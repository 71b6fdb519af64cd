package keycrypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
)

// privateMagic starts every blob from MarshalPrivate; the digit is the
// format version.
const privateMagic = "KWK1"

// MarshalPrivate serializes a private key for sealed storage:
//
//	"KWK1" | len(kty) (1 byte) | kty | PKCS #8 DER of the private key
//
// The bytes are secret; the caller seals (encrypts) them before they reach
// any storage. It returns an ErrNoPrivateKey error for a public-only key.
func MarshalPrivate(k *Key) ([]byte, error) {
	var priv any
	switch {
	case k.rsaPriv != nil:
		priv = k.rsaPriv
	case k.ecPriv != nil:
		priv = k.ecPriv
	default:
		return nil, errorf(ErrNoPrivateKey, "cannot serialize a public-only key as a private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "serialize private key: %v", err)
	}
	out := make([]byte, 0, len(privateMagic)+1+len(k.kty)+len(der))
	out = append(out, privateMagic...)
	out = append(out, byte(len(k.kty)))
	out = append(out, k.kty...)
	return append(out, der...), nil
}

// ParsePrivate parses a blob from MarshalPrivate and checks it like an
// imported key (supported key type and size or curve, consistent private
// key, key type matching the key). Errors wrap ErrInvalidKey or
// ErrUnsupported and never contain key material.
func ParsePrivate(data []byte) (*Key, error) {
	if !bytes.HasPrefix(data, []byte(privateMagic)) {
		return nil, errorf(ErrInvalidKey, "stored private key has an unknown format")
	}
	data = data[len(privateMagic):]
	if len(data) < 1 || len(data) < 1+int(data[0]) {
		return nil, errorf(ErrInvalidKey, "stored private key is truncated")
	}
	kty := KeyType(data[1 : 1+int(data[0])])
	der := data[1+int(data[0]):]
	fam, err := familyOf(kty)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "stored private key has key type %q, which is not supported", clip(string(kty)))
	}
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 {
		return nil, errorf(ErrInvalidKey, "stored private key is not a single DER value")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// x509 errors describe the structure, not the key material.
		return nil, errorf(ErrInvalidKey, "stored private key: %v", err)
	}
	switch priv := parsed.(type) {
	case *rsa.PrivateKey:
		if fam != familyRSA {
			return nil, errorf(ErrInvalidKey, "stored private key is RSA but its key type is %s", kty)
		}
		if bits := priv.N.BitLen(); !rsaSizeAllowed(bits) {
			return nil, rsaSizeError(bits)
		}
		if len(priv.Primes) != 2 {
			return nil, errorf(ErrUnsupported, "stored RSA key has %d primes; only two-prime keys are supported", len(priv.Primes))
		}
		if err := finishRSAPrivate(priv); err != nil {
			return nil, err
		}
		return &Key{kty: kty, rsaPriv: priv, rsaPub: &priv.PublicKey}, nil
	case *ecdsa.PrivateKey:
		if fam != familyEC {
			return nil, errorf(ErrInvalidKey, "stored private key is EC but its key type is %s", kty)
		}
		ci, err := curveByName(CurveName(priv.Curve.Params().Name))
		if err != nil {
			return nil, errorf(ErrUnsupported, "stored EC key uses an unsupported curve")
		}
		return &Key{kty: kty, curve: ci, ecPriv: priv, ecPub: &priv.PublicKey}, nil
	default:
		return nil, errorf(ErrUnsupported, "stored private key has an unsupported algorithm")
	}
}
