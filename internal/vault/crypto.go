package vault

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
)

// keyUse is a key version ready for a cryptographic operation.
type keyUse struct {
	kid     string
	version string
	key     *keycrypto.Key
}

// useKey finds the key version for a cryptographic operation and checks
// that it may be used now: enabled, inside nbf/exp, and allowed by key_ops.
// It reads only memory.
func (s *Service) useKey(a *vaultAuth, name, version string, o op, kop keycrypto.KeyOp) (keyUse, error) {
	s.mu.RLock()
	vs := s.vaults[a.name]
	var ks *keyState
	if vs != nil {
		ks = vs.keys[strings.ToLower(name)]
	}
	if ks == nil || ks.rec.Deleted != nil {
		s.mu.RUnlock()
		return keyUse{}, errKeyNotFound(name, version)
	}
	v := ks.current()
	if version != "" {
		v = ks.versions[version]
	}
	if v == nil {
		s.mu.RUnlock()
		return keyUse{}, errKeyNotFound(name, version)
	}
	rec := v.rec
	u := keyUse{version: rec.Version, key: v.key, kid: s.KeyID(a.name, ks.rec.Name, rec.Version)}
	s.mu.RUnlock()
	if !rec.Enabled {
		return u, newError(StatusForbidden, "Forbidden", "KeyDisabled", "Operation %s is not allowed on a disabled key.", o.verb)
	}
	now := s.clk.Now()
	if rec.NotBefore != nil && now.Before(*rec.NotBefore) {
		return u, newError(StatusForbidden, "Forbidden", "KeyNotYetValid",
			"Operation %s is not allowed before the key's activation date (nbf %s).", o.verb, rec.NotBefore.UTC().Format(time.RFC3339))
	}
	if rec.Expires != nil && !now.Before(*rec.Expires) {
		return u, newError(StatusForbidden, "Forbidden", "KeyExpired",
			"Operation %s is not allowed on an expired key (exp %s).", o.verb, rec.Expires.UTC().Format(time.RFC3339))
	}
	if !slices.Contains(rec.KeyOps, string(kop)) {
		return u, newError(StatusForbidden, "Forbidden", "KeyOperationForbidden", "Operation %s is not permitted on this key.", o.verb)
	}
	return u, nil
}

// cryptoOp is the frame of encrypt, decrypt, wrapKey, unwrapKey and sign.
func (s *Service) cryptoOp(ctx context.Context, c Caller, vault, name, version string, o op, kop keycrypto.KeyOp, fn func(k *keycrypto.Key) ([]byte, error)) (OperationResult, error) {
	var res OperationResult
	err := s.dataOp(ctx, c, vault, o, name, func(a *vaultAuth) (string, error) {
		u, err := s.useKey(a, name, version, o, kop)
		if err != nil {
			return u.version, err
		}
		out, err := fn(u.key)
		if err != nil {
			return u.version, cryptoError(err)
		}
		res = OperationResult{KID: u.kid, Value: out}
		return u.version, nil
	})
	return res, err
}

// Encrypt encrypts plaintext with a key version's public key.
func (s *Service) Encrypt(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.EncryptionAlgorithm, plaintext []byte) (OperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, opEncrypt, keycrypto.OpEncrypt, func(k *keycrypto.Key) ([]byte, error) {
		return k.Encrypt(alg, plaintext)
	})
}

// Decrypt decrypts ciphertext with a key version's private key. Every
// failure caused by the ciphertext gives the same error.
func (s *Service) Decrypt(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.EncryptionAlgorithm, ciphertext []byte) (OperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, opDecrypt, keycrypto.OpDecrypt, func(k *keycrypto.Key) ([]byte, error) {
		return k.Decrypt(alg, ciphertext)
	})
}

// WrapKey wraps (encrypts) a key with a key version's public key.
func (s *Service) WrapKey(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.EncryptionAlgorithm, key []byte) (OperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, opWrap, keycrypto.OpWrapKey, func(k *keycrypto.Key) ([]byte, error) {
		return k.WrapKey(alg, key)
	})
}

// UnwrapKey unwraps a key wrapped with a key version. Every failure caused
// by the wrapped bytes gives the same error.
func (s *Service) UnwrapKey(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.EncryptionAlgorithm, wrapped []byte) (OperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, opUnwrap, keycrypto.OpUnwrapKey, func(k *keycrypto.Key) ([]byte, error) {
		return k.UnwrapKey(alg, wrapped)
	})
}

// Sign signs a digest with a key version's private key.
func (s *Service) Sign(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.SignatureAlgorithm, digest []byte) (OperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, opSign, keycrypto.OpSign, func(k *keycrypto.Key) ([]byte, error) {
		return k.Sign(alg, digest)
	})
}

// Verify checks a signature over a digest with a key version's public key.
func (s *Service) Verify(ctx context.Context, c Caller, vault, name, version string, alg keycrypto.SignatureAlgorithm, digest, signature []byte) (bool, error) {
	var ok bool
	_, err := s.cryptoOp(ctx, c, vault, name, version, opVerify, keycrypto.OpVerify, func(k *keycrypto.Key) ([]byte, error) {
		var err error
		ok, err = k.Verify(alg, digest, signature)
		return nil, err
	})
	return ok, err
}

// GetRandomBytes returns count (1 to 128) random bytes. The caller needs
// keys get permission (or the keys read data action) on the vault.
func (s *Service) GetRandomBytes(ctx context.Context, c Caller, vault string, count int) ([]byte, error) {
	var out []byte
	err := s.dataOp(ctx, c, vault, opRandom, "", func(a *vaultAuth) (string, error) {
		var err error
		out, err = keycrypto.RandomBytes(count)
		return "", cryptoError(err)
	})
	return out, err
}
