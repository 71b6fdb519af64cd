package namespaces

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/servicebus"
)

// ValidRights reports whether rights is a valid set: any of Listen, Send,
// Manage, where Manage requires Listen and Send.
func ValidRights(rights []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, r := range rights {
		var c string
		switch strings.ToLower(r) {
		case "listen":
			c = "Listen"
		case "send":
			c = "Send"
		case "manage":
			c = "Manage"
		default:
			return nil, arm.BadRequest("InvalidRights", "The right '%s' is not valid: use Listen, Send or Manage.", r)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, arm.BadRequest("InvalidRights", "An authorization rule needs at least one right (Listen, Send or Manage).")
	}
	if seen["Manage"] && (!seen["Listen"] || !seen["Send"]) {
		return nil, arm.BadRequest("InvalidRights", "The Manage right requires the Listen and Send rights too.")
	}
	return out, nil
}

// AuthRules returns a namespace's authorization rules.
func (s *Service) AuthRules(name string) ([]AuthRule, error) {
	n, ok := s.lookup(name)
	if !ok {
		return nil, errNamespace(name)
	}
	return n.AuthRules, nil
}

func errNamespace(name string) error {
	return arm.Errorf(404, "ResourceNotFound", "The namespace '%s' was not found.", name)
}

func errRule(name string) error {
	return arm.Errorf(404, "AuthorizationRuleNotFound", "The authorization rule '%s' was not found.", name)
}

// SetAuthRule creates or updates a namespace-level rule (keys are kept on update).
func (s *Service) SetAuthRule(ctx context.Context, name, rule string, rights []string) (AuthRule, bool, error) {
	rights, err := ValidRights(rights)
	if err != nil {
		return AuthRule{}, false, err
	}
	if rule == "" || len(rule) > 256 {
		return AuthRule{}, false, arm.BadRequest("InvalidName", "An authorization rule name must be 1 to 256 characters.")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.lookup(name)
	if !ok {
		return AuthRule{}, false, errNamespace(name)
	}
	now := s.clock.Now().UTC()
	for i, r := range n.AuthRules {
		if strings.EqualFold(r.Name, rule) {
			n.AuthRules[i].Rights, n.AuthRules[i].ModifiedAt = rights, now
			return n.AuthRules[i], false, s.put(ctx, n)
		}
	}
	if len(n.AuthRules) >= 12 {
		return AuthRule{}, false, arm.BadRequest("QuotaExceeded", "A namespace holds at most 12 shared access authorization rules.")
	}
	r, err := NewAuthRule(rule, rights, now)
	if err != nil {
		return AuthRule{}, false, err
	}
	n.AuthRules = append(n.AuthRules, r)
	return r, true, s.put(ctx, n)
}

// DeleteAuthRule deletes a namespace-level rule.
func (s *Service) DeleteAuthRule(ctx context.Context, name, rule string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.lookup(name)
	if !ok {
		return errNamespace(name)
	}
	kept := n.AuthRules[:0]
	for _, r := range n.AuthRules {
		if !strings.EqualFold(r.Name, rule) {
			kept = append(kept, r)
		}
	}
	n.AuthRules = kept
	return s.put(ctx, n)
}

// RegenerateKey replaces a rule's primary or secondary key (with key, or a
// random one when key is empty).
func (s *Service) RegenerateKey(ctx context.Context, name, rule, keyType, key string) (AuthRule, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.lookup(name)
	if !ok {
		return AuthRule{}, errNamespace(name)
	}
	if key == "" {
		var err error
		if key, err = newKey(); err != nil {
			return AuthRule{}, err
		}
	} else if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) < 32 {
		return AuthRule{}, arm.BadRequest("InvalidKey", "The key must be base64 of at least 32 bytes.")
	}
	for i, r := range n.AuthRules {
		if strings.EqualFold(r.Name, rule) {
			switch strings.ToLower(keyType) {
			case "primarykey":
				n.AuthRules[i].PrimaryKey = key
			case "secondarykey":
				n.AuthRules[i].SecondaryKey = key
			default:
				return AuthRule{}, arm.BadRequest("InvalidKeyType", "keyType must be PrimaryKey or SecondaryKey.")
			}
			n.AuthRules[i].ModifiedAt = s.clock.Now().UTC()
			return n.AuthRules[i], s.put(ctx, n)
		}
	}
	return AuthRule{}, errRule(rule)
}

// Grant is what a verified SAS token allows.
type Grant struct {
	KeyName  string
	Rights   []string
	Resource string // the token's sr, normalized: "<host>/<path>" lower-case
	Expires  time.Time
}

// Allows reports whether the grant covers right on the entity path ("" =
// the namespace).
func (g Grant) Allows(right, host, entity string) bool {
	target := strings.ToLower(host + "/" + strings.Trim(entity, "/"))
	target = strings.TrimRight(target, "/")
	if g.Resource != target && !strings.HasPrefix(target, g.Resource+"/") {
		return false
	}
	for _, r := range g.Rights {
		if strings.EqualFold(r, right) || strings.EqualFold(r, "Manage") {
			return true
		}
	}
	return false
}

// ErrSAS is the error of every SAS token that fails verification.
var ErrSAS = errors.New("the SAS token is not valid")

// normalizeResource turns a token audience ("sb://ns.host/q", "https://…",
// "amqps://…:5671/q/$management") into "host/path" without port, lower-case.
func normalizeResource(sr string) string {
	r := strings.ToLower(sr)
	if i := strings.IndexAny(r, "?#"); i >= 0 {
		r = r[:i]
	}
	if i := strings.Index(r, "://"); i >= 0 {
		r = r[i+3:]
	}
	host, path, _ := strings.Cut(r, "/")
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return strings.TrimRight(host+"/"+path, "/")
}

// VerifySAS verifies a "SharedAccessSignature sr=…&sig=…&se=…&skn=…" token
// for namespace ns: the signature (constant-time, primary or secondary key
// of a namespace rule, or of a rule of the entity the token is scoped to),
// the expiry and the namespace.
func (s *Service) VerifySAS(ctx context.Context, ns, token string) (Grant, error) {
	n, ok := s.lookup(ns)
	if !ok {
		return Grant{}, errNamespace(ns)
	}
	if n.DisableLocalAuth {
		return Grant{}, errors.New("local (SAS) authentication is disabled on this namespace; use Microsoft Entra ID")
	}
	tok := strings.TrimSpace(token)
	rest, ok := strings.CutPrefix(tok, "SharedAccessSignature ")
	if !ok {
		return Grant{}, ErrSAS
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Grant{}, ErrSAS
		}
		fields[strings.ToLower(k)] = v
	}
	srEnc, sigEnc, seStr, skn := fields["sr"], fields["sig"], fields["se"], fields["skn"]
	if srEnc == "" || sigEnc == "" || seStr == "" || skn == "" {
		return Grant{}, ErrSAS
	}
	se, err := strconv.ParseInt(seStr, 10, 64)
	if err != nil {
		return Grant{}, ErrSAS
	}
	exp := time.Unix(se, 0)
	if !s.clock.Now().Before(exp) {
		return Grant{}, errors.New("the SAS token has expired")
	}
	sr, err := url.QueryUnescape(srEnc)
	if err != nil {
		return Grant{}, ErrSAS
	}
	sig, err := url.QueryUnescape(sigEnc)
	if err != nil {
		return Grant{}, ErrSAS
	}
	sigBytes, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Grant{}, ErrSAS
	}
	resource := normalizeResource(sr)
	host := s.Host(n.Name)
	if resource != host && !strings.HasPrefix(resource, host+"/") {
		return Grant{}, errors.New("the SAS token is for another namespace")
	}
	candidates := n.AuthRules
	// An entity-level rule is looked up on the entity the token names.
	if entity := strings.TrimPrefix(resource, host+"/"); entity != resource && entity != "" {
		candidates = append(append([]AuthRule{}, candidates...), s.entityRules(ctx, n.Name, entity)...)
	}
	for _, r := range candidates {
		if r.Name != skn {
			continue
		}
		for _, k := range []string{r.PrimaryKey, r.SecondaryKey} {
			if subtle.ConstantTimeCompare(sasSignature(srEnc, seStr, k), sigBytes) == 1 {
				return Grant{KeyName: skn, Rights: r.Rights, Resource: resource, Expires: exp}, nil
			}
		}
	}
	return Grant{}, ErrSAS
}

// sasSignature is the HMAC-SHA256, under key, of the encoded resource and
// the expiry as a SAS token signs them.
func sasSignature(srEnc, se, key string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(srEnc + "\n" + se))
	return m.Sum(nil)
}

// SignSAS returns a "SharedAccessSignature sr=…&sig=…&se=…&skn=…" token for
// resource (a URI such as "sb://ns.servicebus.keyward.localhost/queue"),
// signed with a rule's key, as the Service Bus SDKs make them.
func SignSAS(resource, keyName, key string, expires time.Time) string {
	sr := strings.ToLower(url.QueryEscape(resource))
	se := strconv.FormatInt(expires.Unix(), 10)
	sig := url.QueryEscape(base64.StdEncoding.EncodeToString(sasSignature(sr, se, key)))
	return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + url.QueryEscape(keyName)
}

// entityRules returns the authorization rules of the queue or topic a
// resource path starts with.
func (s *Service) entityRules(ctx context.Context, ns, path string) []AuthRule {
	nsb, err := s.broker.Namespace(ns)
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(path, "/")
	var rules []servicebus.AuthorizationRule
	if q, err := nsb.GetQueue(ctx, first); err == nil {
		rules = q.Properties.AuthorizationRules
	} else if t, err := nsb.GetTopic(ctx, first); err == nil {
		rules = t.Properties.AuthorizationRules
	}
	var out []AuthRule
	for _, r := range rules {
		out = append(out, AuthRule{Name: r.KeyName, Rights: r.Rights, PrimaryKey: r.PrimaryKey, SecondaryKey: r.SecondaryKey})
	}
	return out
}
