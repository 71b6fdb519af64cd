package keycrypto

import (
	"crypto/elliptic"
)

// KeyType is a Key Vault key type ("kty").
type KeyType string

// Key Vault key types. The -HSM variants are handled as software keys of
// the same family; the value given is remembered and reported back.
const (
	KeyTypeRSA    KeyType = "RSA"
	KeyTypeRSAHSM KeyType = "RSA-HSM"
	KeyTypeEC     KeyType = "EC"
	KeyTypeECHSM  KeyType = "EC-HSM"
	// KeyTypeOct and KeyTypeOctHSM are symmetric keys; they are known but
	// rejected with ErrUnsupported.
	KeyTypeOct    KeyType = "oct"
	KeyTypeOctHSM KeyType = "oct-HSM"
)

// IsHSM reports whether the key type is one of the "-HSM" variants.
func (t KeyType) IsHSM() bool {
	return t == KeyTypeRSAHSM || t == KeyTypeECHSM || t == KeyTypeOctHSM
}

// family is the key family of a key type.
type family int

const (
	familyNone family = iota
	familyRSA
	familyEC
)

// familyOf returns the family of a supported key type, or an error that
// says why the key type cannot be used.
func familyOf(t KeyType) (family, error) {
	switch t {
	case KeyTypeRSA, KeyTypeRSAHSM:
		return familyRSA, nil
	case KeyTypeEC, KeyTypeECHSM:
		return familyEC, nil
	case KeyTypeOct, KeyTypeOctHSM:
		return familyNone, errorf(ErrUnsupported, "key type %q is not supported; use RSA, RSA-HSM, EC or EC-HSM", string(t))
	case "":
		return familyNone, errorf(ErrInvalidArgument, "key type (kty) is missing; use RSA, RSA-HSM, EC or EC-HSM")
	default:
		return familyNone, errorf(ErrInvalidArgument, "unknown key type %q; use RSA, RSA-HSM, EC or EC-HSM", clip(string(t)))
	}
}

// CurveName is a Key Vault elliptic curve name ("crv").
type CurveName string

// Key Vault curve names.
const (
	CurveP256 CurveName = "P-256"
	CurveP384 CurveName = "P-384"
	CurveP521 CurveName = "P-521"
	// CurveP256K (secp256k1) is known but rejected with ErrUnsupported.
	CurveP256K CurveName = "P-256K"
)

// curveInfo describes a supported curve.
type curveInfo struct {
	name      CurveName
	curve     elliptic.Curve
	bits      int // key size as Key Vault reports it
	byteLen   int // length of a coordinate, scalar, r or s
	signature SignatureAlgorithm
}

// curveByName returns the parameters of a supported curve.
func curveByName(c CurveName) (curveInfo, error) {
	switch c {
	case CurveP256:
		return curveInfo{CurveP256, elliptic.P256(), 256, 32, AlgES256}, nil
	case CurveP384:
		return curveInfo{CurveP384, elliptic.P384(), 384, 48, AlgES384}, nil
	case CurveP521:
		return curveInfo{CurveP521, elliptic.P521(), 521, 66, AlgES512}, nil
	case CurveP256K:
		return curveInfo{}, errorf(ErrUnsupported, "curve P-256K (secp256k1) is not supported; use P-256, P-384 or P-521")
	case "":
		return curveInfo{}, errorf(ErrInvalidArgument, "curve (crv) is missing; use P-256, P-384 or P-521")
	default:
		return curveInfo{}, errorf(ErrInvalidArgument, "unknown curve %q; use P-256, P-384 or P-521", clip(string(c)))
	}
}

// curveBySize maps a Key Vault EC key size to its curve.
func curveBySize(bits int) (CurveName, bool) {
	switch bits {
	case 256:
		return CurveP256, true
	case 384:
		return CurveP384, true
	case 521:
		return CurveP521, true
	}
	return "", false
}

// RSA policy.
const (
	// DefaultRSAKeySize is the size used when KeySpec.Size is 0 for an RSA key.
	DefaultRSAKeySize = 2048
	// DefaultRSAPublicExponent is the exponent used when
	// KeySpec.PublicExponent is 0.
	DefaultRSAPublicExponent = 65537
)

// rsaSizeAllowed reports whether an RSA modulus size is accepted, for
// generated as well as imported keys.
func rsaSizeAllowed(bits int) bool {
	return bits == 2048 || bits == 3072 || bits == 4096
}

func rsaSizeError(bits int) error {
	return errorf(ErrUnsupported, "RSA key size %d is not supported; use 2048, 3072 or 4096", bits)
}

// KeySpec describes a key to generate, as in a Key Vault create-key request
// (kty, key_size, public_exponent, crv).
type KeySpec struct {
	// Kty is the key type: RSA, RSA-HSM, EC or EC-HSM.
	Kty KeyType
	// Size is the RSA modulus size in bits (2048, 3072 or 4096; 0 means
	// 2048). For EC keys it may be left 0 or must match the curve
	// (256, 384, 521); a size without a curve selects the curve.
	Size int
	// PublicExponent is the RSA public exponent, 3 or 65537; 0 means 65537.
	// It must be 0 for EC keys.
	PublicExponent int
	// Curve is the EC curve, P-256, P-384 or P-521; empty means P-256 (or
	// the curve that Size selects). It must be empty for RSA keys.
	Curve CurveName
}

// normalizedSpec is a validated KeySpec with defaults applied.
type normalizedSpec struct {
	kty   KeyType
	fam   family
	bits  int // RSA only
	e     int // RSA only
	curve curveInfo
}

// normalize validates the spec and fills in defaults.
func (s KeySpec) normalize() (normalizedSpec, error) {
	fam, err := familyOf(s.Kty)
	if err != nil {
		return normalizedSpec{}, err
	}
	n := normalizedSpec{kty: s.Kty, fam: fam}
	switch fam {
	case familyRSA:
		if s.Curve != "" {
			return normalizedSpec{}, errorf(ErrInvalidArgument, "a curve (crv) cannot be given for key type %s", s.Kty)
		}
		n.bits = s.Size
		if n.bits == 0 {
			n.bits = DefaultRSAKeySize
		}
		if !rsaSizeAllowed(n.bits) {
			return normalizedSpec{}, rsaSizeError(n.bits)
		}
		n.e = s.PublicExponent
		if n.e == 0 {
			n.e = DefaultRSAPublicExponent
		}
		if n.e != 3 && n.e != 65537 {
			return normalizedSpec{}, errorf(ErrUnsupported, "RSA public exponent %d is not supported; use 3 or 65537", n.e)
		}
	case familyEC:
		if s.PublicExponent != 0 {
			return normalizedSpec{}, errorf(ErrInvalidArgument, "a public exponent cannot be given for key type %s", s.Kty)
		}
		name := s.Curve
		if s.Size != 0 {
			bySize, ok := curveBySize(s.Size)
			if !ok {
				return normalizedSpec{}, errorf(ErrUnsupported, "EC key size %d is not supported; use 256 (P-256), 384 (P-384) or 521 (P-521)", s.Size)
			}
			if name == "" {
				name = bySize
			} else if name != bySize {
				if _, err := curveByName(name); err != nil {
					return normalizedSpec{}, err
				}
				return normalizedSpec{}, errorf(ErrInvalidArgument, "key size %d does not match curve %s", s.Size, name)
			}
		}
		if name == "" {
			name = CurveP256
		}
		ci, err := curveByName(name)
		if err != nil {
			return normalizedSpec{}, err
		}
		n.curve = ci
	}
	return n, nil
}

// clip shortens attacker-controlled strings echoed in error messages.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
