package keycrypto

import (
	"encoding/base64"
	"encoding/json"
)

// Base64URL is a byte string that encodes in JSON as unpadded base64url
// (RFC 4648 §5 without "=", i.e. base64.RawURLEncoding), as Key Vault and
// the Azure SDK use for every binary field.
//
// Decoding is strict: padding, the standard alphabet ("+", "/"),
// whitespace or line breaks, and non-canonical trailing bits are rejected
// with an ErrInvalidArgument error. JSON null decodes to nil and a nil
// value encodes as null; an empty string decodes to an empty, non-nil
// slice.
type Base64URL []byte

// MarshalJSON encodes b as an unpadded base64url JSON string.
func (b Base64URL) MarshalJSON() ([]byte, error) {
	if b == nil {
		return []byte("null"), nil
	}
	out := make([]byte, 0, base64.RawURLEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.RawURLEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// UnmarshalJSON decodes an unpadded base64url JSON string.
func (b *Base64URL) UnmarshalJSON(data []byte) error {
	v, problem := decodeBase64URLJSON(data)
	if problem != "" {
		return errorf(ErrInvalidArgument, "base64url value %s", problem)
	}
	*b = v
	return nil
}

// DecodeBase64URL decodes s strictly as unpadded base64url; see Base64URL.
// The error names the problem but never echoes the input.
func DecodeBase64URL(s string) ([]byte, error) {
	v, problem := decodeBase64URL(s)
	if problem != "" {
		return nil, errorf(ErrInvalidArgument, "base64url value %s", problem)
	}
	return v, nil
}

// decodeBase64URLJSON decodes a JSON null or string holding base64url. On
// failure it returns a description of the problem that completes the
// phrase "value ...".
func decodeBase64URLJSON(data []byte) ([]byte, string) {
	if string(data) == "null" {
		return nil, ""
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, "must be a JSON string"
	}
	return decodeBase64URL(s)
}

// decodeBase64URL is the strict decoder behind Base64URL.
func decodeBase64URL(s string) ([]byte, string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '=':
			return nil, "must not be padded with '=' (use unpadded base64url)"
		case c == '+' || c == '/':
			return nil, "uses the standard base64 alphabet ('+' or '/'); base64url uses '-' and '_'"
		default:
			return nil, "contains a character outside the base64url alphabet"
		}
	}
	if len(s)%4 == 1 {
		return nil, "has an impossible length for base64url"
	}
	v, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, "is not canonical base64url (non-zero trailing bits)"
	}
	if v == nil {
		v = []byte{}
	}
	return v, ""
}
