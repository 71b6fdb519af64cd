package vault

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
)

// systemCaller is the caller recorded for work keyward does by itself
// (scheduled rotation, automatic purge, near-expiry notices).
func systemCaller() Caller { return Caller{ObjectID: "keyward-system", AppID: "keyward"} }

// ValidVaultName reports whether name follows Azure's rules for vault
// names: 3 to 24 characters, ASCII letters, digits and hyphens, starting
// with a letter, ending with a letter or digit, no consecutive hyphens.
func ValidVaultName(name string) bool {
	if len(name) < 3 || len(name) > 24 {
		return false
	}
	if !isLetter(name[0]) {
		return false
	}
	if last := name[len(name)-1]; !isLetter(last) && !isDigit(last) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isLetter(c), isDigit(c):
		case c == '-':
			if i > 0 && name[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func errVaultName(name string) *Error {
	return newError(StatusBadRequest, "VaultNameNotValid", "",
		"The vault name '%s' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens. Follow this link for more information: https://go.microsoft.com/fwlink/?linkid=2147742", clip(name))
}

// ValidKeyName reports whether name is a valid Key Vault object name:
// 1 to 127 ASCII letters, digits and hyphens.
func ValidKeyName(name string) bool {
	if len(name) < 1 || len(name) > 127 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func errKeyName(name string) *Error {
	return errBadParameter("The key name '%s' is invalid: a key name is 1 to 127 characters, letters, digits and '-' only.", clip(name))
}

// validVersion reports whether v looks like a key version: 1 to 64 ASCII
// letters and digits (keyward makes 32 lower-case hex digits).
func validVersion(v string) bool {
	if len(v) < 1 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isLetter(v[i]) && !isDigit(v[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// clip shortens untrusted text echoed in messages.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// newVersion returns a new key version id: 32 lower-case hex digits.
func newVersion() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// VaultResourceID returns the resource id of a vault.
func VaultResourceID(subscriptionID, resourceGroup, name string) string {
	return "/subscriptions/" + subscriptionID + "/resourceGroups/" + resourceGroup + "/providers/Microsoft.KeyVault/vaults/" + name
}

// DeletedVaultResourceID returns the resource id of a deleted vault.
func DeletedVaultResourceID(subscriptionID, location, name string) string {
	return "/subscriptions/" + subscriptionID + "/providers/Microsoft.KeyVault/locations/" + location + "/deletedVaults/" + name
}

// VaultURI returns "https://<name>.<dns suffix>[:<port>]/" (no port for 443).
func (s *Service) VaultURI(name string) string { return s.vaultBase(name) + "/" }

// vaultBase is VaultURI without the trailing slash.
func (s *Service) vaultBase(name string) string {
	host := strings.ToLower(name) + "." + s.cfg.DNSSuffix
	if s.cfg.Port != "" && s.cfg.Port != "443" {
		host += ":" + s.cfg.Port
	}
	return "https://" + host
}

// KeyID returns the key identifier https://<vault host>/keys/<name>[/<version>].
func (s *Service) KeyID(vault, name, version string) string {
	id := s.vaultBase(vault) + "/keys/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

// KeyRef names a key version in a vault.
type KeyRef struct {
	Vault   string
	Name    string
	Version string // "" = latest
}

// ParseKeyID splits a key identifier of this installation
// (https://<vault>.<dns suffix>[:port]/keys/<name>[/<version>]) into its
// parts. It checks the host's DNS suffix, not the port.
func (s *Service) ParseKeyID(kid string) (KeyRef, error) {
	u, err := url.Parse(kid)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return KeyRef{}, errBadParameter("'%s' is not a key identifier (https://<vault>.%s/keys/<name>[/<version>]).", clip(kid), s.cfg.DNSSuffix)
	}
	vault, ok := strings.CutSuffix(strings.ToLower(u.Hostname()), "."+strings.ToLower(s.cfg.DNSSuffix))
	if !ok || !ValidVaultName(vault) {
		return KeyRef{}, errBadParameter("key identifier host '%s' is not a vault of this keyward (*.%s).", clip(u.Hostname()), s.cfg.DNSSuffix)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" || !ValidKeyName(parts[1]) {
		return KeyRef{}, errBadParameter("'%s' is not a key identifier (https://<vault>.%s/keys/<name>[/<version>]).", clip(kid), s.cfg.DNSSuffix)
	}
	ref := KeyRef{Vault: vault, Name: parts[1]}
	if len(parts) == 3 {
		if !validVersion(parts[2]) {
			return KeyRef{}, errBadParameter("'%s' is not a key version.", clip(parts[2]))
		}
		ref.Version = parts[2]
	}
	return ref, nil
}
