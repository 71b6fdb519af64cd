// Package vaulthttp serves the Azure Key Vault keys API (the data plane)
// of keyward's vaults at https://<vault>.vault.<domain>:<port>/, for the
// api-versions the SDKs send (2025-07-01 and the 7.x line). It is thin:
// authenticate (with Azure's challenge), decode, call vault.Service,
// encode.
package vaulthttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/vault"
)

// Options configure a Handler.
type Options struct {
	// LoginBase is the token issuer's base URL, e.g.
	// "https://login.keyward.localhost:8443"; challenges name
	// LoginBase + "/" + <vault tenant>. Required.
	LoginBase string
	// Resource is the challenge's resource. Default
	// "https://<vault DNS suffix>[:<port>]" from the service's Config, so
	// that azkeys' challenge-resource verification passes with its default
	// options (the vault host, port included, ends with "." + the
	// resource's host).
	Resource string
	// Log receives internal errors (default: discard).
	Log *slog.Logger
	// Now is the clock used to expire cached token validations (default
	// time.Now); pass the identity service's clock.
	Now func() time.Time
	// MaxBodyBytes bounds request bodies (default 4 MiB).
	MaxBodyBytes int64
}

// Handler serves the data plane of every vault.
type Handler struct {
	svc       *vault.Service
	validate  func(raw string, audiences ...string) (*identity.Claims, error)
	audiences func(vaultName string) []string
	opts      Options
	suffix    string // "." + DNS suffix, lower case

	tmu    sync.Mutex
	tokens map[tokenKey]*identity.Claims
}

type tokenKey struct{ vault, raw string }

// Token cache bounds: validated tokens are reused for at most tokenCacheTTL
// (and never past their expiry).
const (
	maxCachedTokens = 4096
	tokenCacheTTL   = 5 * time.Minute
)

// New returns the data-plane handler. validate checks a bearer token for
// the given audiences (identity.Service.ValidateToken); audiences returns
// the audiences a vault accepts.
func New(svc *vault.Service, validate func(raw string, audiences ...string) (*identity.Claims, error), audiences func(vaultName string) []string, opts Options) *Handler {
	cfg := svc.Config()
	if opts.Resource == "" {
		opts.Resource = "https://" + cfg.DNSSuffix
		if cfg.Port != "" && cfg.Port != "443" {
			opts.Resource += ":" + cfg.Port
		}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	return &Handler{
		svc: svc, validate: validate, audiences: audiences, opts: opts,
		suffix: "." + strings.ToLower(cfg.DNSSuffix), tokens: map[tokenKey]*identity.Claims{},
	}
}

// Handler returns the handler of one vault host (for a router that knows
// the vault name, such as httpx.HostRouter.HandleWildcard).
func (h *Handler) Handler(vaultName string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(vaultName, w, r) })
}

// ServeHTTP serves a request for any vault, taking the vault name from the
// Host header (<vault>.<DNS suffix>).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(httpx.HostName(r.Host), h.suffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		writeError(w, &vault.Error{Status: http.StatusNotFound, Code: "VaultNotFound", Message: "No vault is served at host " + r.Host + "."})
		return
	}
	h.serve(name, w, r)
}

// request is one decoded data-plane call.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	vault  string
	caller vault.Caller
	segs   []string
	api    string
}

func (h *Handler) serve(vaultName string, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rid := httpx.RequestID(ctx)
	if rid == "" {
		rid = uuid.NewString()
		w.Header().Set("x-ms-request-id", rid)
	}
	tenant, ok := h.svc.VaultTenant(vaultName)
	if !ok {
		writeError(w, &vault.Error{Status: http.StatusNotFound, Code: "VaultNotFound", Message: fmt.Sprintf("The vault '%s' does not exist.", vaultName)})
		return
	}
	raw, ok := httpx.BearerToken(r)
	if !ok {
		h.challenge(w, tenant, "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	claims, err := h.claims(vaultName, raw)
	if err != nil {
		h.challenge(w, tenant, "AKV10022: The access token is not valid for this vault: "+strings.TrimPrefix(err.Error(), "invalid token: "))
		return
	}
	cid := httpx.CorrelationID(ctx)
	if cid == "" {
		cid = r.Header.Get("x-ms-client-request-id")
		if len(cid) > 128 {
			cid = cid[:128]
		}
	}
	req := &request{
		w: w, r: r, vault: vaultName,
		caller: vault.Caller{
			TenantID: claims.TenantID, ObjectID: claims.ObjectID, AppID: claims.AppID, Issuer: claims.Issuer,
			ClientIP: httpx.ClientIP(r), CorrelationID: cid, RequestID: rid,
		},
	}
	for _, s := range strings.Split(r.URL.Path, "/") {
		if s != "" {
			req.segs = append(req.segs, s)
		}
	}
	req.api = r.URL.Query().Get("api-version")
	if !(len(req.segs) == 2 && req.segs[0] == "keyward") {
		if req.api == "" {
			writeError(w, badParameter("The api-version query parameter is required (for example api-version=2025-07-01)."))
			return
		}
		if !validAPIVersion(req.api) {
			writeError(w, badParameter("The specified version (%s) is not recognized. Consider using the latest supported version (2025-07-01).", clip(req.api)))
			return
		}
	}
	err = h.route(req)
	if err != nil {
		if ve, ok := vault.AsError(err); ok && ve.Status == http.StatusUnauthorized {
			h.setChallenge(w, tenant)
		} else if !ok {
			h.opts.Log.Error("vaulthttp: internal error", "vault", vaultName, "path", r.URL.Path, "err", err)
		}
		writeError(w, err)
	}
}

// claims validates a token, reusing recent validations of the same token
// for the same vault.
func (h *Handler) claims(vaultName, raw string) (*identity.Claims, error) {
	k := tokenKey{vaultName, raw}
	now := h.opts.Now()
	h.tmu.Lock()
	c, ok := h.tokens[k]
	h.tmu.Unlock()
	if ok && now.Before(c.ExpiresAt) {
		return c, nil
	}
	c, err := h.validate(raw, h.audiences(vaultName)...)
	if err != nil {
		return nil, err
	}
	exp := c.ExpiresAt
	if limit := now.Add(tokenCacheTTL); exp.IsZero() || exp.After(limit) {
		exp = limit
	}
	cached := *c
	cached.ExpiresAt = exp
	h.tmu.Lock()
	if len(h.tokens) >= maxCachedTokens {
		clear(h.tokens)
	}
	h.tokens[k] = &cached
	h.tmu.Unlock()
	return c, nil
}

func (h *Handler) setChallenge(w http.ResponseWriter, tenant string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, strings.TrimRight(h.opts.LoginBase, "/"), tenant, h.opts.Resource))
}

// challenge answers 401 with Azure's authentication challenge. The body of
// the request is not read.
func (h *Handler) challenge(w http.ResponseWriter, tenant, msg string) {
	h.setChallenge(w, tenant)
	writeError(w, &vault.Error{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: msg})
}

func validAPIVersion(v string) bool {
	base, _, _ := strings.Cut(v, "-preview")
	switch base {
	case "2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01":
		return true
	}
	return false
}

func badParameter(format string, args ...any) *vault.Error {
	return &vault.Error{Status: http.StatusBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, args...)}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// errorBody is Azure's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innerError,omitempty"`
}

type innerError struct {
	Code string `json:"code"`
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := vault.AsError(err)
	if !ok {
		e = &vault.Error{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "An internal error occurred; the request id identifies it in keyward's log."}
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}}
	if e.InnerCode != "" {
		body.Error.InnerError = &innerError{Code: e.InnerCode}
	}
	httpx.WriteJSON(w, e.Status, body)
}

func methodNotAllowed(r *http.Request) error {
	return &vault.Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: fmt.Sprintf("%s is not allowed on %s.", r.Method, r.URL.Path)}
}

func notFound(r *http.Request) error {
	return &vault.Error{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("There is no operation at %s.", r.URL.Path)}
}

// route dispatches by method and path segments. Empty segments are
// dropped, so /keys/{n}/ (azkeys' "latest version" form) is /keys/{n}.
func (h *Handler) route(q *request) error {
	s, m := q.segs, q.r.Method
	if len(s) == 0 {
		return notFound(q.r)
	}
	switch strings.ToLower(s[0]) {
	case "keys":
		switch len(s) {
		case 1:
			if m == http.MethodGet {
				return h.listKeys(q)
			}
		case 2:
			if strings.EqualFold(s[1], "restore") && m == http.MethodPost {
				return h.restoreKey(q)
			}
			switch m {
			case http.MethodGet:
				return h.getKey(q, s[1], "")
			case http.MethodPut:
				return h.importKey(q, s[1])
			case http.MethodDelete:
				return h.deleteKey(q, s[1])
			case http.MethodPatch:
				return h.updateKey(q, s[1], "")
			}
		case 3:
			name, third := s[1], strings.ToLower(s[2])
			switch {
			case m == http.MethodPost && third == "create":
				return h.createKey(q, name)
			case m == http.MethodPost && third == "backup":
				return h.backupKey(q, name)
			case m == http.MethodPost && third == "rotate":
				return h.rotateKey(q, name)
			case third == "rotationpolicy" && m == http.MethodGet:
				return h.getPolicy(q, name)
			case third == "rotationpolicy" && m == http.MethodPut:
				return h.setPolicy(q, name)
			case third == "versions" && m == http.MethodGet:
				return h.listVersions(q, name)
			case m == http.MethodPost:
				return h.keyOperation(q, name, "", third)
			case m == http.MethodGet:
				return h.getKey(q, name, s[2])
			case m == http.MethodPatch:
				return h.updateKey(q, name, s[2])
			}
		case 4:
			if m == http.MethodPost {
				return h.keyOperation(q, s[1], s[2], strings.ToLower(s[3]))
			}
			if m == http.MethodGet && strings.EqualFold(s[3], "attestation") {
				return badParameter("Key attestation is not supported by keyward (software keys).")
			}
		default:
			return notFound(q.r)
		}
		return methodNotAllowed(q.r)
	case "deletedkeys":
		switch {
		case len(s) == 1 && m == http.MethodGet:
			return h.listDeleted(q)
		case len(s) == 2 && m == http.MethodGet:
			return h.getDeleted(q, s[1])
		case len(s) == 2 && m == http.MethodDelete:
			return h.purgeDeleted(q, s[1])
		case len(s) == 3 && strings.EqualFold(s[2], "recover") && m == http.MethodPost:
			return h.recoverDeleted(q, s[1])
		case len(s) <= 3:
			return methodNotAllowed(q.r)
		}
	case "rng":
		if len(s) == 1 {
			if m == http.MethodPost {
				return h.random(q)
			}
			return methodNotAllowed(q.r)
		}
	case "keyward":
		if len(s) == 2 && strings.EqualFold(s[1], "audit") {
			if m == http.MethodGet {
				return h.audit(q)
			}
			return methodNotAllowed(q.r)
		}
	}
	return notFound(q.r)
}

// decode reads a JSON body into v, mapping every problem to BadParameter.
func (h *Handler) decode(q *request, v any) error {
	body := http.MaxBytesReader(q.w, q.r.Body, h.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return badParameter("The request body is larger than %d bytes.", h.opts.MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return badParameter("The request body is empty; a JSON object is required.")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badParameter("The request body is not valid: field %q has the wrong type (%s).", te.Field, te.Value)
		}
		return badParameter("The request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "keycrypto: "))
	}
	if dec.More() {
		return badParameter("The request body has data after the JSON object.")
	}
	return nil
}

// b64 decodes a required (or optional) base64url field.
func b64(field string, v *string, required bool) ([]byte, error) {
	if v == nil {
		if required {
			return nil, badParameter("The field %q is required.", field)
		}
		return nil, nil
	}
	b, err := keycrypto.DecodeBase64URL(*v)
	if err != nil {
		return nil, badParameter("The field %q is not valid: %s.", field, strings.TrimPrefix(err.Error(), "keycrypto: "))
	}
	return b, nil
}

// maxUnixSeconds is the end of year 9999.
const maxUnixSeconds = 253402300799

func checkAttributes(a *wireAttributes) error {
	if a == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"attributes.nbf", a.NotBefore}, {"attributes.exp", a.Expires}} {
		if f.v != nil && (*f.v < 0 || *f.v > maxUnixSeconds) {
			return badParameter("The field %q must be Unix seconds between 0 and %d.", f.name, maxUnixSeconds)
		}
	}
	return nil
}

func noReleasePolicy(raw json.RawMessage) error {
	if len(raw) > 0 && string(raw) != "null" {
		return badParameter("release_policy: secure key release is not supported by keyward.")
	}
	return nil
}

func writeJSON(q *request, v any) error {
	httpx.WriteJSON(q.w, http.StatusOK, v)
	return nil
}

func (h *Handler) createKey(q *request, name string) error {
	var in wireCreateKey
	if err := h.decode(q, &in); err != nil {
		return err
	}
	if err := checkAttributes(in.Attributes); err != nil {
		return err
	}
	if err := noReleasePolicy(in.ReleasePolicy); err != nil {
		return err
	}
	p := vault.CreateKeyParams{Kty: in.Kty, Curve: in.Crv, KeyOps: in.KeyOps, Attributes: fromWireAttributes(in.Attributes), Tags: in.Tags}
	if in.KeySize != nil {
		if *in.KeySize <= 0 {
			return badParameter("The field \"key_size\" must be positive, got %d.", *in.KeySize)
		}
		p.Size = *in.KeySize
	}
	if in.PublicExponent != nil {
		if *in.PublicExponent <= 0 {
			return badParameter("The field \"public_exponent\" must be positive, got %d.", *in.PublicExponent)
		}
		p.PublicExponent = *in.PublicExponent
	}
	kb, err := h.svc.CreateKey(q.r.Context(), q.caller, q.vault, name, p)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) importKey(q *request, name string) error {
	var in wireImportKey
	if err := h.decode(q, &in); err != nil {
		return err
	}
	if in.Key == nil {
		return badParameter("The field \"key\" (a JSON Web Key) is required.")
	}
	if err := checkAttributes(in.Attributes); err != nil {
		return err
	}
	if err := noReleasePolicy(in.ReleasePolicy); err != nil {
		return err
	}
	p := vault.ImportKeyParams{Key: *in.Key, HSM: in.HSM != nil && *in.HSM, Attributes: fromWireAttributes(in.Attributes), Tags: in.Tags}
	kb, err := h.svc.ImportKey(q.r.Context(), q.caller, q.vault, name, p)
	clearJWK(in.Key)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

// clearJWK zeroes the private parts of an imported key once it is stored.
func clearJWK(j *keycrypto.JSONWebKey) {
	for _, b := range [][]byte{j.D, j.DP, j.DQ, j.QI, j.P, j.Q, j.K} {
		clear(b)
	}
}

func (h *Handler) getKey(q *request, name, version string) error {
	kb, err := h.svc.GetKey(q.r.Context(), q.caller, q.vault, name, version)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) updateKey(q *request, name, version string) error {
	var in wireUpdateKey
	if err := h.decode(q, &in); err != nil {
		return err
	}
	if err := checkAttributes(in.Attributes); err != nil {
		return err
	}
	if err := noReleasePolicy(in.ReleasePolicy); err != nil {
		return err
	}
	kb, err := h.svc.UpdateKey(q.r.Context(), q.caller, q.vault, name, version, vault.KeyUpdate{
		KeyOps: in.KeyOps, Attributes: fromWireAttributes(in.Attributes), Tags: in.Tags,
	})
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) deleteKey(q *request, name string) error {
	dk, err := h.svc.DeleteKey(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireDeleted(dk))
}

// page reads maxresults and $skiptoken.
func page(q *request) (vault.Page, error) {
	var p vault.Page
	qs := q.r.URL.Query()
	if v := qs.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 25 {
			return p, badParameter("maxresults must be an integer between 1 and 25, got '%s'.", clip(v))
		}
		p.MaxResults = n
	}
	p.Skip = qs.Get("$skiptoken")
	return p, nil
}

// nextLink is the absolute URL of the next page.
func nextLink(q *request, p vault.Page, next string) *string {
	if next == "" {
		return nil
	}
	v := url.Values{}
	v.Set("api-version", q.api)
	if p.MaxResults > 0 {
		v.Set("maxresults", strconv.Itoa(p.MaxResults))
	}
	v.Set("$skiptoken", next)
	link := "https://" + q.r.Host + "/" + strings.Join(q.segs, "/") + "?" + v.Encode()
	return &link
}

func (h *Handler) listKeys(q *request) error {
	p, err := page(q)
	if err != nil {
		return err
	}
	l, err := h.svc.ListKeys(q.r.Context(), q.caller, q.vault, p)
	if err != nil {
		return err
	}
	out := wireList[wireKeyItem]{Value: []wireKeyItem{}, NextLink: nextLink(q, p, l.Next)}
	for _, it := range l.Items {
		out.Value = append(out.Value, toWireItem(it))
	}
	return writeJSON(q, out)
}

func (h *Handler) listVersions(q *request, name string) error {
	p, err := page(q)
	if err != nil {
		return err
	}
	l, err := h.svc.ListKeyVersions(q.r.Context(), q.caller, q.vault, name, p)
	if err != nil {
		return err
	}
	out := wireList[wireKeyItem]{Value: []wireKeyItem{}, NextLink: nextLink(q, p, l.Next)}
	for _, it := range l.Items {
		out.Value = append(out.Value, toWireItem(it))
	}
	return writeJSON(q, out)
}

func (h *Handler) listDeleted(q *request) error {
	p, err := page(q)
	if err != nil {
		return err
	}
	l, err := h.svc.ListDeletedKeys(q.r.Context(), q.caller, q.vault, p)
	if err != nil {
		return err
	}
	out := wireList[wireDeletedKeyItem]{Value: []wireDeletedKeyItem{}, NextLink: nextLink(q, p, l.Next)}
	for _, it := range l.Items {
		out.Value = append(out.Value, wireDeletedKeyItem{
			wireKeyItem: toWireItem(it.KeyItem), RecoveryID: it.RecoveryID,
			DeletedDate: it.DeletedDate.Unix(), ScheduledPurgeDate: it.ScheduledPurgeDate.Unix(),
		})
	}
	return writeJSON(q, out)
}

func (h *Handler) getDeleted(q *request, name string) error {
	dk, err := h.svc.GetDeletedKey(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireDeleted(dk))
}

func (h *Handler) recoverDeleted(q *request, name string) error {
	kb, err := h.svc.RecoverDeletedKey(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) purgeDeleted(q *request, name string) error {
	if err := h.svc.PurgeDeletedKey(q.r.Context(), q.caller, q.vault, name); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) backupKey(q *request, name string) error {
	blob, err := h.svc.BackupKey(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, wireValue{Value: blob})
}

func (h *Handler) restoreKey(q *request) error {
	var in wireRestore
	if err := h.decode(q, &in); err != nil {
		return err
	}
	blob, err := b64("value", in.Value, true)
	if err != nil {
		return err
	}
	kb, err := h.svc.RestoreKey(q.r.Context(), q.caller, q.vault, blob)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) rotateKey(q *request, name string) error {
	kb, err := h.svc.RotateKey(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, toWireBundle(kb))
}

func (h *Handler) getPolicy(q *request, name string) error {
	p, err := h.svc.GetRotationPolicy(q.r.Context(), q.caller, q.vault, name)
	if err != nil {
		return err
	}
	return writeJSON(q, toWirePolicy(p))
}

func (h *Handler) setPolicy(q *request, name string) error {
	var in wireRotationPolicy
	if err := h.decode(q, &in); err != nil {
		return err
	}
	p, err := h.svc.UpdateRotationPolicy(q.r.Context(), q.caller, q.vault, name, fromWirePolicy(in))
	if err != nil {
		return err
	}
	return writeJSON(q, toWirePolicy(p))
}

// keyOperation serves encrypt, decrypt, wrapkey, unwrapkey, sign and
// verify on a version ("" = current).
func (h *Handler) keyOperation(q *request, name, version, opName string) error {
	ctx := q.r.Context()
	switch opName {
	case "encrypt", "decrypt", "wrapkey", "unwrapkey":
		var in wireKeyOperation
		if err := h.decode(q, &in); err != nil {
			return err
		}
		// An absent value is empty input (azkeys omits empty byte slices),
		// so an empty ciphertext fails like every other bad ciphertext.
		value, err := b64("value", in.Value, false)
		if err != nil {
			return err
		}
		if in.IV != nil || in.AAD != nil || in.Tag != nil {
			return badParameter("iv, aad and tag are only valid with AES algorithms, which need symmetric (oct) keys; keyward supports RSA and EC keys.")
		}
		alg := keycrypto.EncryptionAlgorithm(in.Alg)
		var res vault.OperationResult
		switch opName {
		case "encrypt":
			res, err = h.svc.Encrypt(ctx, q.caller, q.vault, name, version, alg, value)
		case "decrypt":
			res, err = h.svc.Decrypt(ctx, q.caller, q.vault, name, version, alg, value)
		case "wrapkey":
			res, err = h.svc.WrapKey(ctx, q.caller, q.vault, name, version, alg, value)
		default:
			res, err = h.svc.UnwrapKey(ctx, q.caller, q.vault, name, version, alg, value)
		}
		if err != nil {
			return err
		}
		out := wireOperationResult{KID: res.KID, Value: res.Value}
		err = writeJSON(q, out)
		if opName == "decrypt" || opName == "unwrapkey" {
			clear(res.Value)
		}
		return err
	case "sign":
		var in wireKeyOperation
		if err := h.decode(q, &in); err != nil {
			return err
		}
		digest, err := b64("value", in.Value, true)
		if err != nil {
			return err
		}
		res, err := h.svc.Sign(ctx, q.caller, q.vault, name, version, keycrypto.SignatureAlgorithm(in.Alg), digest)
		if err != nil {
			return err
		}
		return writeJSON(q, wireOperationResult{KID: res.KID, Value: res.Value})
	case "verify":
		var in wireVerify
		if err := h.decode(q, &in); err != nil {
			return err
		}
		digest, err := b64("digest", in.Digest, true)
		if err != nil {
			return err
		}
		sig, err := b64("value", in.Value, true)
		if err != nil {
			return err
		}
		ok, err := h.svc.Verify(ctx, q.caller, q.vault, name, version, keycrypto.SignatureAlgorithm(in.Alg), digest, sig)
		if err != nil {
			return err
		}
		return writeJSON(q, wireVerifyResult{Value: ok})
	case "release":
		return badParameter("Secure key release is not supported by keyward.")
	}
	if version == "" {
		return methodNotAllowed(q.r)
	}
	return notFound(q.r)
}

func (h *Handler) random(q *request) error {
	var in wireRandom
	if err := h.decode(q, &in); err != nil {
		return err
	}
	if in.Count == nil {
		return badParameter("The field \"count\" is required.")
	}
	b, err := h.svc.GetRandomBytes(q.r.Context(), q.caller, q.vault, *in.Count)
	if err != nil {
		return err
	}
	return writeJSON(q, wireValue{Value: b})
}

// parseTime reads RFC 3339 or Unix seconds.
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= maxUnixSeconds {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParameter("%s must be RFC 3339 or Unix seconds, got '%s'.", field, clip(v))
	}
	return t, nil
}

// audit serves GET /keyward/audit?key=&caller=&operation=&since=&until=&limit=.
func (h *Handler) audit(q *request) error {
	qs := q.r.URL.Query()
	aq := vault.AuditQuery{Key: qs.Get("key"), Caller: qs.Get("caller"), Operation: qs.Get("operation")}
	var err error
	if aq.Since, err = parseTime("since", qs.Get("since")); err != nil {
		return err
	}
	if aq.Until, err = parseTime("until", qs.Get("until")); err != nil {
		return err
	}
	if v := qs.Get("limit"); v != "" {
		if aq.Limit, err = strconv.Atoi(v); err != nil || aq.Limit < 1 {
			return badParameter("limit must be a positive integer, got '%s'.", clip(v))
		}
	}
	entries, err := h.svc.QueryAudit(q.r.Context(), q.caller, q.vault, aq)
	if err != nil {
		return err
	}
	return writeJSON(q, struct {
		Value []vault.AuditEntry `json:"value"`
	}{entries})
}
