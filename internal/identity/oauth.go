package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/store"
)

// OAuthError is an OAuth2 error as Entra ID reports it.
type OAuthError struct {
	Status      int    // HTTP status
	Code        string // "invalid_client", "invalid_request", ...
	AADSTS      int    // Entra's error number
	Description string
}

// Error implements error.
func (e *OAuthError) Error() string {
	return fmt.Sprintf("%s: AADSTS%d: %s", e.Code, e.AADSTS, e.Description)
}

// ClientCredentials is a client-credentials token request.
type ClientCredentials struct {
	Tenant        string // tenant id from the URL
	ClientID      string
	ClientSecret  string // either this
	Assertion     string // or a client assertion (JWT signed with a registered certificate)
	AssertionType string
	// TokenEndpoints are the URLs the assertion's audience may name.
	TokenEndpoints []string
	Resource       string // from scope (v2) or resource (v1)
}

// TokenForClient authenticates a client and issues a token for the resource.
func (s *Service) TokenForClient(ctx context.Context, req ClientCredentials) (Token, error) {
	t, err := s.Tenant(ctx, req.Tenant)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Token{}, &OAuthError{Status: 400, Code: "invalid_tenant", AADSTS: 90002, Description: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", req.Tenant)}
		}
		return Token{}, err
	}
	if req.ClientID == "" {
		return Token{}, &OAuthError{Status: 400, Code: "invalid_request", AADSTS: 900144, Description: "The request body must contain the following parameter: 'client_id'."}
	}
	if req.Resource == "" || !s.cfg.Resources(req.Resource) {
		return Token{}, &OAuthError{Status: 400, Code: "invalid_resource", AADSTS: 500011, Description: fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", req.Resource, t.ID)}
	}
	app, err := s.ApplicationByAppID(ctx, req.ClientID)
	if err != nil || !strings.EqualFold(app.TenantID, t.ID) {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Token{}, err
		}
		return Token{}, &OAuthError{Status: 400, Code: "unauthorized_client", AADSTS: 700016, Description: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", req.ClientID, t.ID)}
	}
	now := s.clock.Now()
	switch {
	case req.ClientSecret != "" && req.Assertion != "":
		return Token{}, &OAuthError{Status: 400, Code: "invalid_request", AADSTS: 50027, Description: "Only one client authentication method may be used: client_secret or client_assertion."}
	case req.ClientSecret != "":
		if !s.checkPassword(app, req.ClientSecret, now) {
			return Token{}, &OAuthError{Status: 401, Code: "invalid_client", AADSTS: 7000215, Description: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + app.AppID + "'."}
		}
	case req.Assertion != "":
		if req.AssertionType != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return Token{}, &OAuthError{Status: 400, Code: "invalid_request", AADSTS: 50027, Description: "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer."}
		}
		if err := s.checkAssertion(app, req.Assertion, req.TokenEndpoints, now); err != nil {
			return Token{}, err
		}
	default:
		return Token{}, &OAuthError{Status: 401, Code: "invalid_client", AADSTS: 7000218, Description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
	}
	sp, err := s.PrincipalByAppID(ctx, t.ID, app.AppID)
	if err != nil {
		return Token{}, &OAuthError{Status: 400, Code: "unauthorized_client", AADSTS: 7000112, Description: fmt.Sprintf("Application '%s' has no service principal in tenant '%s'.", app.AppID, t.ID)}
	}
	return s.IssueToken(ctx, sp, req.Resource)
}

// checkAssertion verifies a client assertion signed with one of app's
// certificates.
func (s *Service) checkAssertion(app Application, assertion string, endpoints []string, now time.Time) error {
	bad := func(why string) error {
		return &OAuthError{Status: 401, Code: "invalid_client", AADSTS: 700027, Description: "Client assertion failed signature validation or is not valid: " + why}
	}
	var claims jwt.RegisteredClaims
	var matched *KeyCredential
	_, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		var thumb []byte
		if x, ok := t.Header["x5t"].(string); ok {
			thumb = decodeThumbprint(x)
		}
		var thumb256 []byte
		if x, ok := t.Header["x5t#S256"].(string); ok {
			thumb256 = decodeThumbprint(x)
		}
		for i := range app.Certificates {
			c := &app.Certificates[i]
			s256 := sha256.Sum256(c.CertDER)
			if (thumb != nil && hmac.Equal(thumb, c.Thumbprint)) || (thumb256 != nil && hmac.Equal(thumb256, s256[:])) {
				if now.Before(c.Start) || now.After(c.End) {
					return nil, errors.New("the certificate is outside its validity period")
				}
				cert, err := x509.ParseCertificate(c.CertDER)
				if err != nil {
					return nil, err
				}
				matched = c
				return cert.PublicKey, nil
			}
		}
		return nil, errors.New("no certificate registered for the application matches the assertion's x5t")
	}, jwt.WithValidMethods([]string{"RS256", "PS256", "ES256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Minute))
	if err != nil {
		return bad(err.Error())
	}
	if matched == nil {
		return bad("no matching certificate")
	}
	if !strings.EqualFold(claims.Issuer, app.AppID) || !strings.EqualFold(claims.Subject, app.AppID) {
		return bad("iss and sub must be the client id")
	}
	okAud := false
	for _, a := range claims.Audience {
		for _, e := range endpoints {
			if strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(e, "/")) {
				okAud = true
			}
		}
	}
	if !okAud {
		return bad("the audience must be the token endpoint")
	}
	return nil
}

// ManagedIdentityEndpoint is the environment a process uses to get tokens for
// the managed identities of one resource, App Service style.
type ManagedIdentityEndpoint struct {
	Secret string // the IDENTITY_HEADER value; returned once, stored as a verifier
}

// CreateIdentityEndpointSecret returns a new secret that lets its holder get
// tokens for the given managed identities of resourceID (system: object id
// of the system-assigned identity, may be empty; user: object ids of
// user-assigned identities).
func (s *Service) CreateIdentityEndpointSecret(ctx context.Context, tenantID, resourceID, system string, user []string) (string, error) {
	for _, oid := range append([]string{system}, user...) {
		if oid == "" {
			continue
		}
		p, err := s.Principal(ctx, tenantID, oid)
		if err != nil {
			return "", err
		}
		if p.Type != TypeManagedIdentity {
			return "", fmt.Errorf("%w: principal %s is not a managed identity", ErrInvalid, oid)
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	h := endpointHost{ResourceID: resourceID, TenantID: strings.ToLower(tenantID), System: system, User: user}
	b := &store.Batch{Sync: true}
	if err := s.hosts.Put(b, s.endpointKey(secret), h); err != nil {
		return "", err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return "", fmt.Errorf("identity: store identity endpoint: %w", err)
	}
	return secret, nil
}

func (s *Service) endpointKey(secret string) string {
	m := hmac.New(sha256.New, s.pepper)
	m.Write([]byte("keyward identity endpoint v1\x00"))
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ManagedIdentitySelector picks one identity of an endpoint host; at most one
// field is set. All empty selects the system-assigned identity.
type ManagedIdentitySelector struct {
	ClientID   string
	ObjectID   string
	ResourceID string
}

// TokenForManagedIdentity issues a token through an identity endpoint secret.
func (s *Service) TokenForManagedIdentity(ctx context.Context, secret string, sel ManagedIdentitySelector, resource string) (Token, error) {
	if secret == "" {
		return Token{}, &OAuthError{Status: 401, Code: "invalid_request", AADSTS: 0, Description: "The X-IDENTITY-HEADER header is missing."}
	}
	h, err := s.hosts.Get(ctx, s.endpointKey(secret))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Token{}, &OAuthError{Status: 401, Code: "invalid_request", Description: "The X-IDENTITY-HEADER value is not valid."}
		}
		return Token{}, err
	}
	if resource == "" || !s.cfg.Resources(resource) {
		return Token{}, &OAuthError{Status: 400, Code: "invalid_resource", AADSTS: 500011, Description: fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", resource, h.TenantID)}
	}
	candidates := h.User
	if h.System != "" {
		candidates = append([]string{h.System}, h.User...)
	}
	var chosen *Principal
	for _, oid := range candidates {
		p, err := s.Principal(ctx, h.TenantID, oid)
		if err != nil {
			continue
		}
		switch {
		case sel.ClientID != "":
			if strings.EqualFold(p.AppID, sel.ClientID) {
				chosen = &p
			}
		case sel.ObjectID != "":
			if strings.EqualFold(p.ObjectID, sel.ObjectID) {
				chosen = &p
			}
		case sel.ResourceID != "":
			if strings.EqualFold(p.ResourceID, sel.ResourceID) {
				chosen = &p
			}
		default:
			if oid == h.System {
				chosen = &p
			}
		}
		if chosen != nil {
			break
		}
	}
	if chosen == nil {
		return Token{}, &OAuthError{Status: 400, Code: "invalid_request", Description: "No managed identity matches the request: the resource has no such identity assigned (or, without a selector, no system-assigned identity)."}
	}
	return s.IssueToken(ctx, *chosen, resource)
}

// NewCertificateCredential builds a KeyCredential from a DER certificate.
func NewCertificateCredential(der []byte, displayName string) (KeyCredential, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyCredential{}, fmt.Errorf("%w: key is not an X.509 certificate: %v", ErrInvalid, err)
	}
	sum := sha1.Sum(der)
	return KeyCredential{
		KeyID: uuid.NewString(), DisplayName: displayName, Type: "AsymmetricX509Cert", Usage: "Verify",
		CertDER: der, Thumbprint: sum[:], Start: cert.NotBefore, End: cert.NotAfter,
	}, nil
}

// decodeThumbprint decodes an x5t header value: base64url as RFC 7515 says,
// or standard base64 as MSAL sends it, padded or not.
func decodeThumbprint(s string) []byte {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b
	}
	return nil
}
