package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/store"
)

// signingKeyRecord is a token-signing key as stored (sealed).
type signingKeyRecord struct {
	KID       string    `json:"kid"`
	PKCS8     []byte    `json:"pkcs8"`
	CreatedAt time.Time `json:"createdAt"`
}

type signingKey struct {
	kid     string
	key     *rsa.PrivateKey
	created time.Time
}

// keySet holds the signing keys, newest first. It is replaced whole, never
// mutated, so readers need no lock beyond loading the pointer.
type keySet struct {
	keys []signingKey
}

func (k *keySet) byKID(kid string) (*rsa.PublicKey, bool) {
	for _, s := range k.keys {
		if s.kid == kid {
			return &s.key.PublicKey, true
		}
	}
	return nil, false
}

// keepSigningKeys is how many signing keys are published: the active one and
// its predecessors, so tokens signed before a rotation stay valid.
const keepSigningKeys = 3

func (s *Service) loadSigningKeys(ctx context.Context) error {
	recs, err := s.keys.List(ctx, "")
	if err != nil {
		return fmt.Errorf("identity: load signing keys: %w", err)
	}
	ks := &keySet{}
	for _, r := range recs {
		k, err := x509.ParsePKCS8PrivateKey(r.PKCS8)
		if err != nil {
			return fmt.Errorf("identity: parse signing key %s: %w", r.KID, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("identity: signing key %s is not RSA", r.KID)
		}
		ks.keys = append(ks.keys, signingKey{kid: r.KID, key: rk, created: r.CreatedAt})
	}
	sort.Slice(ks.keys, func(i, j int) bool { return ks.keys[i].created.After(ks.keys[j].created) })
	s.mu.Lock()
	s.signing = ks
	s.mu.Unlock()
	if len(ks.keys) == 0 || s.clock.Now().Sub(ks.keys[0].created) > s.cfg.SigningKeyMaxAge {
		return s.RotateSigningKey(ctx)
	}
	return nil
}

// RotateSigningKey makes a new token-signing key active. Tokens signed with
// the previous keys stay valid until they expire.
func (s *Service) RotateSigningKey(ctx context.Context) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("identity: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:15])
	now := s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.signing.keys
	b := &store.Batch{Sync: true}
	if err := s.keys.Put(b, kid, signingKeyRecord{KID: kid, PKCS8: der, CreatedAt: now}); err != nil {
		return err
	}
	keys := append([]signingKey{{kid: kid, key: key, created: now}}, old...)
	for len(keys) > keepSigningKeys {
		s.keys.Delete(b, keys[len(keys)-1].kid)
		keys = keys[:len(keys)-1]
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return fmt.Errorf("identity: store signing key: %w", err)
	}
	s.signing = &keySet{keys: keys}
	if s.log != nil {
		s.log.Info("token signing key rotated", "kid", kid)
	}
	return nil
}

func (s *Service) keySet() *keySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing
}

// JWK is a public signing key as published in the JWKS document.
type JWK struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	Kid string   `json:"kid"`
	Alg string   `json:"alg"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5t string   `json:"x5t,omitempty"`
	X5c []string `json:"x5c,omitempty"`
}

// PublicKeys returns the published token-signing keys.
func (s *Service) PublicKeys() []JWK {
	ks := s.keySet()
	out := make([]JWK, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, JWK{
			Kty: "RSA", Use: "sig", Kid: k.kid, Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		})
	}
	return out
}

// Issuer returns the token issuer of tenant.
func (s *Service) Issuer(tenantID string) string {
	return s.cfg.IssuerBase + "/" + strings.ToLower(tenantID) + "/v2.0"
}

// Token is an issued access token.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	ExpiresIn   int // seconds
	Resource    string
	ClientID    string
}

// accessClaims are the claims of keyward access tokens.
type accessClaims struct {
	jwt.RegisteredClaims
	TenantID string   `json:"tid"`
	ObjectID string   `json:"oid"`
	AppID    string   `json:"appid"`
	AZP      string   `json:"azp"`
	IDType   string   `json:"idtyp"`
	Ver      string   `json:"ver"`
	MIRID    string   `json:"xms_mirid,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

// IssueToken signs an access token for principal p and resource (the
// audience). Callers authenticate the principal first.
func (s *Service) IssueToken(ctx context.Context, p Principal, resource string) (Token, error) {
	if !p.Enabled {
		return Token{}, &OAuthError{Status: 400, Code: "unauthorized_client", AADSTS: 7000112, Description: fmt.Sprintf("Application '%s' is disabled.", p.AppID)}
	}
	ks := s.keySet()
	if len(ks.keys) == 0 {
		return Token{}, errors.New("identity: no signing key")
	}
	now := s.clock.Now().UTC().Truncate(time.Second)
	exp := now.Add(s.cfg.TokenLifetime)
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.Issuer(p.TenantID),
			Subject:   p.ObjectID,
			Audience:  jwt.ClaimStrings{resource},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		TenantID: p.TenantID, ObjectID: p.ObjectID, AppID: p.AppID, AZP: p.AppID,
		IDType: "app", Ver: "2.0", MIRID: p.ResourceID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = ks.keys[0].kid
	signed, err := t.SignedString(ks.keys[0].key)
	if err != nil {
		return Token{}, fmt.Errorf("identity: sign token: %w", err)
	}
	return Token{AccessToken: signed, ExpiresOn: exp, ExpiresIn: int(exp.Sub(now).Seconds()), Resource: resource, ClientID: p.AppID}, nil
}

// Claims are the verified claims of an access token.
type Claims struct {
	TenantID   string
	ObjectID   string
	AppID      string
	Audience   string
	Issuer     string
	ResourceID string // managed identities: xms_mirid
	IssuedAt   time.Time
	ExpiresAt  time.Time
	TokenID    string
}

// ErrInvalidToken is the error of every token that fails validation; its
// message says why.
var ErrInvalidToken = errors.New("invalid token")

// ValidateToken verifies an access token's signature, issuer, tenant, expiry
// and audience. The audience must equal one of audiences (compared without a
// trailing slash, case-insensitively).
func (s *Service) ValidateToken(raw string, audiences ...string) (*Claims, error) {
	ks := s.keySet()
	var c accessClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if pub, ok := ks.byKID(kid); ok {
			return pub, nil
		}
		return nil, errors.New("unknown signing key")
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(s.clock.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if _, err := uuid.Parse(c.TenantID); err != nil || c.Issuer != s.Issuer(c.TenantID) {
		return nil, fmt.Errorf("%w: issuer %q is not trusted", ErrInvalidToken, c.Issuer)
	}
	if len(c.Audience) != 1 {
		return nil, fmt.Errorf("%w: token has %d audiences", ErrInvalidToken, len(c.Audience))
	}
	aud := c.Audience[0]
	ok := false
	for _, want := range audiences {
		if SameResource(aud, want) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: audience %q is not valid for this service", ErrInvalidToken, aud)
	}
	out := &Claims{
		TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: c.AppID, Audience: aud, Issuer: c.Issuer,
		ResourceID: c.MIRID, TokenID: c.ID,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	return out, nil
}

// SameResource compares two resource URIs (audiences) ignoring case and a
// trailing slash.
func SameResource(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// ResourceFromScope turns an OAuth2 v2 scope list into the resource it asks
// for: "https://vault.azure.net/.default openid" -> "https://vault.azure.net".
func ResourceFromScope(scope string) (string, error) {
	var res string
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		r, ok := strings.CutSuffix(s, "/.default")
		if !ok {
			return "", &OAuthError{Status: 400, Code: "invalid_scope", AADSTS: 1002012, Description: fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", s)}
		}
		if res != "" {
			return "", &OAuthError{Status: 400, Code: "invalid_scope", AADSTS: 70011, Description: "The provided value for the input parameter 'scope' is not valid. Scopes for more than one resource were requested."}
		}
		res = r
	}
	if res == "" {
		return "", &OAuthError{Status: 400, Code: "invalid_request", AADSTS: 900144, Description: "The request body must contain the following parameter: 'scope'."}
	}
	return res, nil
}
