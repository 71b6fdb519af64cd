// Package client is the HTTPS client the keyward CLI uses to talk to a
// running keyward: it trusts the local CA, reaches every keyward host through
// the listener address in connection.json (no hosts file needed), and gets
// tokens for the bootstrap principal.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/connfile"
)

// Connection is the content of connection.json.
type Connection = connfile.Connection

// Load reads a connection.json file.
func Load(path string) (Connection, error) {
	c, err := connfile.Read(path)
	if err != nil {
		return c, fmt.Errorf("%w (is keyward started with this --data-dir?)", err)
	}
	return c, nil
}

// Client calls keyward's HTTPS APIs.
type Client struct {
	Conn Connection
	HTTP *http.Client

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	tok string
	exp time.Time
}

// New returns a client for conn. Every host is dialled at conn.HTTPSAddr.
func New(conn Connection) (*Client, error) {
	pem, err := os.ReadFile(conn.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", conn.CAFile)
	}
	return &Client{Conn: conn, HTTP: HTTPClient(pool, conn.HTTPSAddr), tokens: map[string]cachedToken{}}, nil
}

// HTTPClient returns an http.Client that trusts pool and dials addr for
// every host name, so "https://kv1.vault.keyward.localhost:8443" works
// without DNS.
func HTTPClient(pool *x509.CertPool, addr string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// Token returns an access token of the bootstrap principal for resource.
func (c *Client) Token(ctx context.Context, resource string) (string, error) {
	c.mu.Lock()
	if t, ok := c.tokens[resource]; ok && time.Until(t.exp) > time.Minute {
		c.mu.Unlock()
		return t.tok, nil
	}
	c.mu.Unlock()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.Conn.ClientID},
		"client_secret": {c.Conn.ClientSecret},
		"scope":         {strings.TrimRight(resource, "/") + "/.default"},
	}
	if strings.HasSuffix(resource, "/") {
		form.Set("scope", resource+"/.default")
	}
	u := strings.TrimRight(c.Conn.AuthorityHost, "/") + "/" + c.Conn.TenantID + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token request refused: %s: %s", body.Error, body.Description)
	}
	c.mu.Lock()
	c.tokens[resource] = cachedToken{tok: body.AccessToken, exp: time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)}
	c.mu.Unlock()
	return body.AccessToken, nil
}

// APIError is an error response from keyward.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Do sends a JSON request with a token for resource and decodes the JSON
// response into out (if not nil). Non-2xx responses become *APIError.
func (c *Client) Do(ctx context.Context, method, rawURL, resource string, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if resource != "" {
		tok, err := c.Token(ctx, resource)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode >= 300 {
		return resp, parseError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("decode response: %w", err)
		}
	}
	return resp, nil
}

func parseError(status int, data []byte) error {
	var e struct {
		Error json.RawMessage `json:"error"`
		Desc  string          `json:"error_description"`
	}
	if json.Unmarshal(data, &e) == nil && len(e.Error) > 0 {
		var inner struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &inner) == nil && inner.Code != "" {
			return &APIError{Status: status, Code: inner.Code, Message: inner.Message}
		}
		var code string
		if json.Unmarshal(e.Error, &code) == nil {
			return &APIError{Status: status, Code: code, Message: e.Desc}
		}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return &APIError{Status: status, Message: msg}
}

// IsNotFound reports whether err is a 404 from keyward.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// GraphURL returns the URL of a graph path.
func (c *Client) GraphURL(path string) string {
	return strings.TrimRight(c.Conn.GraphEndpoint, "/") + path
}

// GraphResource is the audience of graph tokens.
const GraphResource = "https://graph.microsoft.com"
