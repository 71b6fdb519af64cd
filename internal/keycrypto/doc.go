// Package keycrypto implements the key types and cryptographic operations of
// the Azure Key Vault keys API, free of HTTP and storage.
//
// It generates and imports RSA and EC keys ([Generate], [ParseJWK]),
// converts them to and from the JSON Web Key form Key Vault uses on the wire
// ([JSONWebKey], [Key.PublicJWK]), serializes private keys for sealed
// storage ([MarshalPrivate], [ParsePrivate]) and performs the operations
// encrypt, decrypt, wrapKey, unwrapKey, sign and verify with Key Vault's
// algorithm names ([Key.Encrypt], [Key.Sign], ...).
//
// Policy, matching Key Vault:
//   - RSA keys are 2048, 3072 or 4096 bits; generated keys use the public
//     exponent 65537 (default) or 3.
//   - EC keys use P-256, P-384 or P-521. P-256K (secp256k1) and ES256K are
//     rejected as unsupported, and so are symmetric ("oct") keys.
//   - Key types ending in "-HSM" are software keys like their plain
//     counterparts; the key type given is remembered and reported back.
//   - sign and verify take a digest computed by the caller, whose length must
//     match the algorithm's hash. EC signatures are the fixed-width
//     concatenation r||s, not ASN.1.
//   - Every decryption failure (bad padding, wrong length, out-of-range
//     ciphertext) of every algorithm is reported as the single value
//     [ErrDecryption], so callers cannot tell padding errors apart.
//
// Errors carry a human-readable message that says exactly what is wrong and
// wrap one of the sentinel errors below, which callers classify with
// [errors.Is]. No error ever contains key material.
//
// A [Key] is immutable and safe for concurrent use.
package keycrypto
