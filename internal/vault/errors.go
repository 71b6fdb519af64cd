package vault

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/keycrypto"
)

// HTTP status hints carried by Error. The domain does not import net/http;
// these are the numbers transports answer with.
const (
	StatusBadRequest       = 400
	StatusUnauthorized     = 401
	StatusForbidden        = 403
	StatusNotFound         = 404
	StatusMethodNotAllowed = 405
	StatusConflict         = 409
	StatusInternal         = 500
)

// Error is a failure a client can act on, shaped like Azure's error bodies:
// {"error":{"code":Code,"message":Message,"innerError":{"code":InnerCode}}}.
// Status is the HTTP status a transport should answer with. Both the
// data-plane API and the resource-manager adapter map it as is.
type Error struct {
	Status    int
	Code      string
	Message   string
	InnerCode string // optional innerError.code
}

// Error implements error.
func (e *Error) Error() string {
	if e.InnerCode != "" {
		return fmt.Sprintf("vault: %s (%s): %s", e.Code, e.InnerCode, e.Message)
	}
	return fmt.Sprintf("vault: %s: %s", e.Code, e.Message)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// StatusOf returns the HTTP status an error maps to: 200 for nil, the
// Error's Status, or 500 for anything else.
func StatusOf(err error) int {
	if err == nil {
		return 200
	}
	if e, ok := AsError(err); ok {
		return e.Status
	}
	return StatusInternal
}

func newError(status int, code, inner, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, InnerCode: inner, Message: fmt.Sprintf(format, args...)}
}

func errBadParameter(format string, args ...any) *Error {
	return newError(StatusBadRequest, "BadParameter", "", format, args...)
}

func errKeyNotFound(name, version string) *Error {
	id := name
	if version != "" {
		id = name + "/" + version
	}
	return newError(StatusNotFound, "KeyNotFound", "",
		"A key with (name/id) %s was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", id)
}

func errDeletedKeyNotFound(name string) *Error {
	return newError(StatusNotFound, "KeyNotFound", "", "Deleted Key not found: %s", name)
}

func errKeyDeleted(name string) *Error {
	return newError(StatusConflict, "Conflict", "ObjectIsDeletedButRecoverable",
		"Key %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.", name)
}

func errVaultNotFound(name string) *Error {
	return newError(StatusNotFound, "VaultNotFound", "", "The vault '%s' could not be found.", name)
}

func errResourceNotFound(rg, name string) *Error {
	if rg == "" {
		return newError(StatusNotFound, "ResourceNotFound", "", "The Resource 'Microsoft.KeyVault/vaults/%s' was not found.", name)
	}
	return newError(StatusNotFound, "ResourceNotFound", "",
		"The Resource 'Microsoft.KeyVault/vaults/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
}

// cryptoError maps a keycrypto error to a client error. Every decryption
// failure gives the same message so padding errors are never told apart.
func cryptoError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, keycrypto.ErrDecryption) {
		return errBadParameter("The ciphertext could not be decrypted with this key and algorithm.")
	}
	for _, kind := range []error{
		keycrypto.ErrUnsupported, keycrypto.ErrUnknownAlgorithm, keycrypto.ErrAlgorithmMismatch,
		keycrypto.ErrInvalidArgument, keycrypto.ErrInvalidKey, keycrypto.ErrNoPrivateKey,
		keycrypto.ErrMessageTooLong, keycrypto.ErrDigestLength,
	} {
		if errors.Is(err, kind) {
			return errBadParameter("%s", clientMessage(err))
		}
	}
	return err
}

// clientMessage strips the package prefix from a keycrypto message.
func clientMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "keycrypto: ")
}
