package keycrypto_test

import "crypto/x509"

// parsePKCS8 is the standard library parser, used to check that stored
// blobs hold PKCS #8 and to reach the standard library key in tests.
func parsePKCS8(der []byte) (any, error) { return x509.ParsePKCS8PrivateKey(der) }
