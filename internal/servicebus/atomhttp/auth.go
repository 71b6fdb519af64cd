package atomhttp

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// credential is a verified caller: a SAS grant or Entra ID claims.
type credential struct {
	sas    *namespaces.Grant
	claims *identity.Claims
}

const sasPrefix = "SharedAccessSignature "

// authenticate reads the Authorization header: a shared access signature,
// "Bearer <JWT>" (REST clients) or a bare JWT (the azservicebus admin
// client sends the token without a scheme).
func (c *call) authenticate() (credential, *apiError) {
	raw := strings.TrimSpace(c.r.Header.Get("Authorization"))
	if raw == "" {
		return credential{}, errorf(http.StatusUnauthorized, codeUnauthorized, "MissingToken: The authorization header was not found. Send a SharedAccessSignature or a Microsoft Entra ID bearer token.")
	}
	return c.verify(raw)
}

// verify checks one token value (of Authorization or a supplementary
// authorization header).
func (c *call) verify(raw string) (credential, *apiError) {
	if strings.HasPrefix(raw, sasPrefix) {
		g, err := c.h.o.Namespaces.VerifySAS(c.ctx, c.ns.Name, raw)
		if err != nil {
			msg := "InvalidSignature: The token has an invalid signature."
			if !errors.Is(err, namespaces.ErrSAS) {
				msg = "The shared access signature is not valid: " + err.Error() + "."
			}
			return credential{}, errorf(http.StatusUnauthorized, codeUnauthorized, "%s", msg)
		}
		// The admin client signs the full request URL, query included.
		g.Resource, _, _ = strings.Cut(g.Resource, "?")
		g.Resource = strings.TrimRight(g.Resource, "/")
		return credential{sas: &g}, nil
	}
	tok := raw
	if scheme, rest, ok := strings.Cut(raw, " "); ok {
		if !strings.EqualFold(scheme, "Bearer") {
			return credential{}, errorf(http.StatusUnauthorized, codeUnauthorized, "InvalidAuthorizationScheme: The authorization scheme '%s' is not supported: use SharedAccessSignature or Bearer.", clip(scheme))
		}
		tok = strings.TrimSpace(rest)
	}
	claims, err := c.h.o.ValidateToken(tok, c.h.o.Audiences...)
	if err != nil {
		return credential{}, errorf(http.StatusUnauthorized, codeUnauthorized, "InvalidToken: The Microsoft Entra ID token is not valid for Service Bus: %s.", strings.TrimPrefix(err.Error(), "invalid token: "))
	}
	return credential{claims: claims}, nil
}

func dataActionFor(right string) string {
	switch right {
	case RightSend:
		return DataActionSend
	case RightListen:
		return DataActionReceive
	}
	return DataActionManage
}

// allows reports whether cred holds right on the resource path (for SAS
// grants) or at one of the scopes (for Entra ID principals).
func (c *call) allows(cred credential, right, resourcePath string, scopes []string) bool {
	if cred.sas != nil {
		return cred.sas.Allows(right, c.host, resourcePath)
	}
	if cred.claims == nil || cred.claims.ObjectID == "" {
		return false
	}
	action := dataActionFor(right)
	for _, s := range scopes {
		if c.h.o.Authz.AllowedData(cred.claims.ObjectID, s, action) {
			return true
		}
	}
	return false
}

// authorize checks the caller's credential; resourcePath is the path the
// operation acts on (an SAS token must be scoped to it or to a prefix).
func (c *call) authorize(right, resourcePath string, scopes []string) error {
	if c.allows(c.cred, right, resourcePath, scopes) {
		return nil
	}
	return errorf(http.StatusUnauthorized, codeUnauthorized, "Unauthorized access. '%s' claim(s) are required to perform this operation. Resource: 'sb://%s/%s'.", right, c.host, strings.Trim(resourcePath, "/"))
}

// authorizeForward checks that the caller may send to an auto-forwarding
// target: with its own credential, or with the token of the supplementary
// authorization header the admin client sends for it.
func (c *call) authorizeForward(header, target string) error {
	target = forwardName(target)
	if target == "" {
		return nil
	}
	scopes := c.entityScopes(target)
	if c.allows(c.cred, RightSend, target, scopes) || c.namespaceKeyAllows(c.cred, RightSend) {
		return nil
	}
	if raw := strings.TrimSpace(c.r.Header.Get(header)); raw != "" {
		cred, aerr := c.verify(raw)
		if aerr == nil && c.allows(cred, RightSend, target, scopes) {
			return nil
		}
	}
	return errorf(http.StatusUnauthorized, codeSupplementaryDenied, "Unauthorized access to the forwarding destination '%s': 'Send' claim(s) on it are required. Send a token for it in the %s header.", target, header)
}

// namespaceKeyAllows reports whether a SAS credential was signed with a
// namespace-level key holding right: its holder can sign a token for any
// entity, so the token's own scope (the admin client signs the request URL)
// does not limit what the key allows.
func (c *call) namespaceKeyAllows(cred credential, right string) bool {
	if cred.sas == nil {
		return false
	}
	for _, r := range c.ns.AuthRules {
		if r.Name == cred.sas.KeyName && slices.Equal(r.Rights, cred.sas.Rights) {
			return r.HasRight(right)
		}
	}
	return false
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// forwardName turns a forwarding destination ("q2", "/q2",
// "sb://ns.host/q2") into an entity path.
func forwardName(s string) string {
	s = strings.TrimSpace(s)
	if _, rest, ok := strings.Cut(s, "://"); ok {
		_, path, _ := strings.Cut(rest, "/")
		return strings.Trim(path, "/")
	}
	return strings.Trim(s, "/")
}
