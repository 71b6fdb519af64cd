package keycrypto

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"math/big"
)

// JSONWebKey is a JSON Web Key with the field names Key Vault uses. Every
// binary field is unpadded base64url on the wire (see Base64URL).
//
// Decoding with encoding/json is strict about the binary fields and names
// the offending field in the error; unknown fields (such as "alg") are
// ignored. Decoding checks syntax only: use ParseJWK to validate the key.
type JSONWebKey struct {
	Kid    string    `json:"kid,omitempty"`     // key identifier URL
	Kty    KeyType   `json:"kty,omitempty"`     // key type
	KeyOps KeyOps    `json:"key_ops,omitempty"` // permitted operations
	N      Base64URL `json:"n,omitempty"`       // RSA modulus
	E      Base64URL `json:"e,omitempty"`       // RSA public exponent
	D      Base64URL `json:"d,omitempty"`       // RSA private exponent or EC private scalar
	DP     Base64URL `json:"dp,omitempty"`      // RSA d mod (p-1)
	DQ     Base64URL `json:"dq,omitempty"`      // RSA d mod (q-1)
	QI     Base64URL `json:"qi,omitempty"`      // RSA q^-1 mod p
	P      Base64URL `json:"p,omitempty"`       // RSA first prime
	Q      Base64URL `json:"q,omitempty"`       // RSA second prime
	Crv    CurveName `json:"crv,omitempty"`     // EC curve
	X      Base64URL `json:"x,omitempty"`       // EC x coordinate
	Y      Base64URL `json:"y,omitempty"`       // EC y coordinate
	K      Base64URL `json:"k,omitempty"`       // symmetric key (unsupported)
	// T is the protected key blob of a Bring-Your-Own-Key import
	// ("key_hsm"); it is not supported and ParseJWK rejects it.
	T Base64URL `json:"key_hsm,omitempty"`
}

// jwkWire mirrors JSONWebKey with the binary fields left raw so that a
// decoding error can name its field.
type jwkWire struct {
	Kid    string          `json:"kid"`
	Kty    KeyType         `json:"kty"`
	KeyOps KeyOps          `json:"key_ops"`
	Crv    CurveName       `json:"crv"`
	N      json.RawMessage `json:"n"`
	E      json.RawMessage `json:"e"`
	D      json.RawMessage `json:"d"`
	DP     json.RawMessage `json:"dp"`
	DQ     json.RawMessage `json:"dq"`
	QI     json.RawMessage `json:"qi"`
	P      json.RawMessage `json:"p"`
	Q      json.RawMessage `json:"q"`
	X      json.RawMessage `json:"x"`
	Y      json.RawMessage `json:"y"`
	K      json.RawMessage `json:"k"`
	T      json.RawMessage `json:"key_hsm"`
}

// UnmarshalJSON decodes a JWK, rejecting padded or non-base64url binary
// fields with an ErrInvalidKey error that names the field.
func (j *JSONWebKey) UnmarshalJSON(data []byte) error {
	var w jwkWire
	if err := json.Unmarshal(data, &w); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return errorf(ErrInvalidKey, "JWK field %q has the wrong JSON type (%s)", clip(typeErr.Field), typeErr.Value)
		}
		return errorf(ErrInvalidKey, "JWK is not a valid JSON object")
	}
	out := JSONWebKey{Kid: w.Kid, Kty: w.Kty, KeyOps: w.KeyOps, Crv: w.Crv}
	fields := []struct {
		name string
		raw  json.RawMessage
		dst  *Base64URL
	}{
		{"n", w.N, &out.N}, {"e", w.E, &out.E}, {"d", w.D, &out.D},
		{"dp", w.DP, &out.DP}, {"dq", w.DQ, &out.DQ}, {"qi", w.QI, &out.QI},
		{"p", w.P, &out.P}, {"q", w.Q, &out.Q},
		{"x", w.X, &out.X}, {"y", w.Y, &out.Y},
		{"k", w.K, &out.K}, {"key_hsm", w.T, &out.T},
	}
	for _, f := range fields {
		if f.raw == nil {
			continue
		}
		v, problem := decodeBase64URLJSON(f.raw)
		if problem != "" {
			return errorf(ErrInvalidKey, "JWK field %q %s", f.name, problem)
		}
		*f.dst = v
	}
	*j = out
	return nil
}

// ParseJWK validates a JSON Web Key and returns the key it describes.
//
// It checks the key type (RSA, RSA-HSM, EC, EC-HSM; oct and key_hsm are
// ErrUnsupported), that only the fields of that key type are present, that
// the required fields are there (n and e; crv, x and y), that key_ops only
// names known operations, the key size (RSA moduli of exactly 2048, 3072 or
// 4096 bits), the public exponent (odd, 3 ≤ e < 2^31), that an EC point
// lies on its curve, and the consistency of private parts: an RSA private
// key needs d, p and q (dp, dq and qi are computed when all three are
// absent and checked when present); an EC private scalar must match x and
// y. EC coordinates and scalars shorter than the curve's size are accepted
// as if left-padded with zeros.
//
// A JWK without private parts gives a public-only key; use Key.HasPrivate
// to require one. The Kid and KeyOps fields are not part of the Key: the
// caller keeps them. To import a key as an HSM key, set Kty to the -HSM
// variant before calling ParseJWK.
func ParseJWK(jwk JSONWebKey) (*Key, error) {
	if err := jwk.KeyOps.Validate(); err != nil {
		return nil, err
	}
	if len(jwk.T) > 0 {
		return nil, errorf(ErrUnsupported, "JWK field \"key_hsm\": Bring-Your-Own-Key (protected key blob) import is not supported")
	}
	switch jwk.Kty {
	case KeyTypeRSA, KeyTypeRSAHSM:
		return parseRSAJWK(jwk)
	case KeyTypeEC, KeyTypeECHSM:
		return parseECJWK(jwk)
	case KeyTypeOct, KeyTypeOctHSM:
		return nil, errorf(ErrUnsupported, "JWK key type %q is not supported; use RSA, RSA-HSM, EC or EC-HSM", string(jwk.Kty))
	case "":
		return nil, errorf(ErrInvalidKey, "JWK field \"kty\" is missing; use RSA, RSA-HSM, EC or EC-HSM")
	default:
		return nil, errorf(ErrInvalidKey, "JWK key type %q is unknown; use RSA, RSA-HSM, EC or EC-HSM", clip(string(jwk.Kty)))
	}
}

// present returns the names of the given fields that are set.
func present(fields ...namedField) []string {
	var names []string
	for _, f := range fields {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

type namedField struct {
	name string
	set  bool
}

func parseRSAJWK(jwk JSONWebKey) (*Key, error) {
	if bad := present(
		namedField{"crv", jwk.Crv != ""}, namedField{"x", jwk.X != nil},
		namedField{"y", jwk.Y != nil}, namedField{"k", jwk.K != nil},
	); bad != nil {
		return nil, errorf(ErrInvalidKey, "JWK field %q is not valid for key type %s", bad[0], jwk.Kty)
	}
	if len(jwk.N) == 0 {
		return nil, errorf(ErrInvalidKey, "JWK field \"n\" (RSA modulus) is missing")
	}
	if len(jwk.E) == 0 {
		return nil, errorf(ErrInvalidKey, "JWK field \"e\" (RSA public exponent) is missing")
	}
	n := new(big.Int).SetBytes(jwk.N)
	if !rsaSizeAllowed(n.BitLen()) {
		return nil, errorf(ErrUnsupported, "RSA key size %d is not supported; use 2048, 3072 or 4096", n.BitLen())
	}
	if n.Bit(0) == 0 {
		return nil, errorf(ErrInvalidKey, "JWK field \"n\": RSA modulus is even")
	}
	e, err := parseExponent(jwk.E)
	if err != nil {
		return nil, err
	}
	pub := &rsa.PublicKey{N: n, E: e}

	anyPrivate := present(
		namedField{"d", jwk.D != nil}, namedField{"p", jwk.P != nil}, namedField{"q", jwk.Q != nil},
		namedField{"dp", jwk.DP != nil}, namedField{"dq", jwk.DQ != nil}, namedField{"qi", jwk.QI != nil},
	)
	if anyPrivate == nil {
		return &Key{kty: jwk.Kty, rsaPub: pub}, nil
	}
	for _, f := range []namedField{{"d", len(jwk.D) > 0}, {"p", len(jwk.P) > 0}, {"q", len(jwk.Q) > 0}} {
		if !f.set {
			return nil, errorf(ErrInvalidKey, "JWK field %q is missing: an RSA private key needs d, p and q", f.name)
		}
	}
	crt := present(namedField{"dp", len(jwk.DP) > 0}, namedField{"dq", len(jwk.DQ) > 0}, namedField{"qi", len(jwk.QI) > 0})
	if crt != nil && len(crt) != 3 {
		return nil, errorf(ErrInvalidKey, "JWK fields dp, dq and qi must be given together or not at all")
	}
	priv := &rsa.PrivateKey{
		PublicKey: *pub,
		D:         new(big.Int).SetBytes(jwk.D),
		Primes:    []*big.Int{new(big.Int).SetBytes(jwk.P), new(big.Int).SetBytes(jwk.Q)},
	}
	if crt != nil {
		priv.Precomputed.Dp = new(big.Int).SetBytes(jwk.DP)
		priv.Precomputed.Dq = new(big.Int).SetBytes(jwk.DQ)
		priv.Precomputed.Qinv = new(big.Int).SetBytes(jwk.QI)
	}
	if err := finishRSAPrivate(priv); err != nil {
		return nil, err
	}
	return &Key{kty: jwk.Kty, rsaPriv: priv, rsaPub: &priv.PublicKey}, nil
}

// finishRSAPrivate precomputes and validates an RSA private key. The
// standard library checks p·q = n, d·e ≡ 1 mod p-1 and q-1, the CRT
// values, |p-q| and the size of d.
func finishRSAPrivate(priv *rsa.PrivateKey) error {
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		// The standard library's messages are fixed strings without key
		// material.
		return errorf(ErrInvalidKey, "RSA private key is inconsistent: %v", err)
	}
	return nil
}

// parseExponent decodes an RSA public exponent.
func parseExponent(b []byte) (int, error) {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	b = b[i:]
	if len(b) > 4 {
		return 0, errorf(ErrUnsupported, "JWK field \"e\": RSA public exponent is too large (must be below 2^31)")
	}
	var e uint64
	for _, c := range b {
		e = e<<8 | uint64(c)
	}
	switch {
	case e >= 1<<31:
		return 0, errorf(ErrUnsupported, "JWK field \"e\": RSA public exponent is too large (must be below 2^31)")
	case e < 3:
		return 0, errorf(ErrInvalidKey, "JWK field \"e\": RSA public exponent %d is too small (must be at least 3)", e)
	case e%2 == 0:
		return 0, errorf(ErrInvalidKey, "JWK field \"e\": RSA public exponent %d is even", e)
	}
	return int(e), nil
}

func parseECJWK(jwk JSONWebKey) (*Key, error) {
	if bad := present(
		namedField{"n", jwk.N != nil}, namedField{"e", jwk.E != nil},
		namedField{"p", jwk.P != nil}, namedField{"q", jwk.Q != nil},
		namedField{"dp", jwk.DP != nil}, namedField{"dq", jwk.DQ != nil},
		namedField{"qi", jwk.QI != nil}, namedField{"k", jwk.K != nil},
	); bad != nil {
		return nil, errorf(ErrInvalidKey, "JWK field %q is not valid for key type %s", bad[0], jwk.Kty)
	}
	if jwk.Crv == "" {
		return nil, errorf(ErrInvalidKey, "JWK field \"crv\" is missing; use P-256, P-384 or P-521")
	}
	ci, err := curveByName(jwk.Crv)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, errorf(ErrInvalidKey, "JWK curve %q is unknown; use P-256, P-384 or P-521", clip(string(jwk.Crv)))
	}
	point := make([]byte, 1+2*ci.byteLen)
	point[0] = 4
	for _, f := range []struct {
		name string
		v    []byte
		dst  []byte
	}{{"x", jwk.X, point[1 : 1+ci.byteLen]}, {"y", jwk.Y, point[1+ci.byteLen:]}} {
		if len(f.v) == 0 {
			return nil, errorf(ErrInvalidKey, "JWK field %q (EC coordinate) is missing", f.name)
		}
		if len(f.v) > ci.byteLen {
			return nil, errorf(ErrInvalidKey, "JWK field %q is %d bytes; a %s coordinate is %d bytes", f.name, len(f.v), ci.name, ci.byteLen)
		}
		copy(f.dst[ci.byteLen-len(f.v):], f.v)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(ci.curve, point)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "JWK point (x, y) is not a valid point on curve %s", ci.name)
	}
	if jwk.D == nil {
		return &Key{kty: jwk.Kty, curve: ci, ecPub: pub}, nil
	}
	if len(jwk.D) == 0 || len(jwk.D) > ci.byteLen {
		return nil, errorf(ErrInvalidKey, "JWK field \"d\" is %d bytes; a %s private key is %d bytes", len(jwk.D), ci.name, ci.byteLen)
	}
	scalar := make([]byte, ci.byteLen)
	copy(scalar[ci.byteLen-len(jwk.D):], jwk.D)
	priv, err := ecdsa.ParseRawPrivateKey(ci.curve, scalar)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "JWK field \"d\" is not a valid %s private key (zero or not below the group order)", ci.name)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, errorf(ErrInvalidKey, "JWK private key d does not match the public point (x, y)")
	}
	return &Key{kty: jwk.Kty, curve: ci, ecPriv: priv, ecPub: &priv.PublicKey}, nil
}

// PublicJWK returns the public part of the key as a JWK: kty and n, e for
// RSA keys, or kty, crv, x, y (full width) for EC keys. It never includes
// private fields. Kid and KeyOps are left empty for the caller to fill.
func (k *Key) PublicJWK() JSONWebKey {
	switch {
	case k.rsaPub != nil:
		return JSONWebKey{Kty: k.kty, N: k.rsaPub.N.Bytes(), E: big.NewInt(int64(k.rsaPub.E)).Bytes()}
	case k.ecPub != nil:
		point, err := k.ecPub.Bytes()
		if err != nil || len(point) != 1+2*k.curve.byteLen {
			// Unreachable: keys are validated on construction.
			return JSONWebKey{Kty: k.kty, Crv: k.curve.name}
		}
		return JSONWebKey{
			Kty: k.kty, Crv: k.curve.name,
			X: point[1 : 1+k.curve.byteLen], Y: point[1+k.curve.byteLen:],
		}
	}
	return JSONWebKey{}
}
