package keycrypto

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/big"
)

// Key is an RSA or EC key, private or public-only, together with the key
// type it was created or imported as. Create one with Generate, ParseJWK or
// ParsePrivate. A Key is immutable and safe for concurrent use.
type Key struct {
	kty KeyType

	// RSA keys: rsaPub is always set; rsaPriv when the private part is
	// known (then rsaPub == &rsaPriv.PublicKey).
	rsaPub  *rsa.PublicKey
	rsaPriv *rsa.PrivateKey

	// EC keys: ecPub is always set; ecPriv when the private part is known.
	curve  curveInfo
	ecPub  *ecdsa.PublicKey
	ecPriv *ecdsa.PrivateKey
}

// Kty returns the key type the key was created or imported as (e.g.
// "RSA-HSM").
func (k *Key) Kty() KeyType { return k.kty }

// Size returns the RSA modulus size in bits, or the EC key size Key Vault
// reports for the curve (256, 384 or 521).
func (k *Key) Size() int {
	if k.rsaPub != nil {
		return k.rsaPub.N.BitLen()
	}
	return k.curve.bits
}

// Curve returns the curve of an EC key, or "" for an RSA key.
func (k *Key) Curve() CurveName { return k.curve.name }

// HasPrivate reports whether the key includes its private part.
func (k *Key) HasPrivate() bool { return k.rsaPriv != nil || k.ecPriv != nil }

// Public returns the public key (*rsa.PublicKey or *ecdsa.PublicKey).
func (k *Key) Public() crypto.PublicKey {
	if k.rsaPub != nil {
		return k.rsaPub
	}
	return k.ecPub
}

// Generate creates a new private key as described by spec, after
// validating it (see KeySpec); validation errors wrap ErrInvalidArgument or
// ErrUnsupported and say exactly what is wrong. RSA generation takes up to
// seconds for 4096-bit keys; Generate returns early with ctx's error when
// ctx is done (the abandoned computation finishes in the background and is
// discarded).
func Generate(ctx context.Context, spec KeySpec) (*Key, error) {
	ns, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keycrypto: generate: %w", err)
	}
	switch ns.fam {
	case familyEC:
		priv, err := ecdsa.GenerateKey(ns.curve.curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keycrypto: generate %s key: %w", ns.curve.name, err)
		}
		return &Key{kty: ns.kty, curve: ns.curve, ecPriv: priv, ecPub: &priv.PublicKey}, nil
	case familyRSA:
		type result struct {
			priv *rsa.PrivateKey
			err  error
		}
		done := make(chan result, 1)
		go func() {
			priv, err := generateRSA(ctx, ns.bits, ns.e)
			done <- result{priv, err}
		}()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("keycrypto: generate: %w", ctx.Err())
		case r := <-done:
			if r.err != nil {
				return nil, fmt.Errorf("keycrypto: generate RSA-%d key: %w", ns.bits, r.err)
			}
			return &Key{kty: ns.kty, rsaPriv: r.priv, rsaPub: &r.priv.PublicKey}, nil
		}
	}
	// Unreachable: normalize only returns supported families.
	return nil, errorf(ErrUnsupported, "key type %q is not supported", string(spec.Kty))
}

// generateRSA creates an RSA key with the given modulus size and public
// exponent (3 or 65537).
func generateRSA(ctx context.Context, bits, e int) (*rsa.PrivateKey, error) {
	if e == 65537 {
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return generateRSASmallExponent(ctx, bits, e)
}

// generateRSASmallExponent creates a two-prime RSA key with a public
// exponent other than 65537, which the standard library does not offer.
// The primes come from crypto/rand.Prime (top two bits set, so n has
// exactly bits bits); primes with e | p-1 are skipped, and the key must
// pass the standard library's validation (|p-q| and d large enough).
// Unlike rsa.GenerateKey this uses variable-time big.Int arithmetic.
func generateRSASmallExponent(ctx context.Context, bits, e int) (*rsa.PrivateKey, error) {
	bigE := big.NewInt(int64(e))
	one := big.NewInt(1)
	prime := func() (*big.Int, error) {
		for {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			p, err := rand.Prime(rand.Reader, bits/2)
			if err != nil {
				return nil, err
			}
			pm1 := new(big.Int).Sub(p, one)
			if new(big.Int).GCD(nil, nil, bigE, pm1).Cmp(one) == 0 {
				return p, nil
			}
		}
	}
	for attempt := 0; attempt < 100; attempt++ {
		p, err := prime()
		if err != nil {
			return nil, err
		}
		q, err := prime()
		if err != nil {
			return nil, err
		}
		n := new(big.Int).Mul(p, q)
		if p.Cmp(q) == 0 || n.BitLen() != bits {
			continue
		}
		pm1 := new(big.Int).Sub(p, one)
		qm1 := new(big.Int).Sub(q, one)
		gcd := new(big.Int).GCD(nil, nil, pm1, qm1)
		lambda := new(big.Int).Div(new(big.Int).Mul(pm1, qm1), gcd)
		d := new(big.Int).ModInverse(bigE, lambda)
		if d == nil {
			continue
		}
		priv := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: e}, D: d, Primes: []*big.Int{p, q}}
		if finishRSAPrivate(priv) != nil {
			// |p-q| or d too small: astronomically rare; draw again.
			continue
		}
		return priv, nil
	}
	return nil, fmt.Errorf("no valid key after 100 attempts")
}
