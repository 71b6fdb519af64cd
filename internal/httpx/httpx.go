// Package httpx holds the small HTTP pieces every keyward API shares: routing
// by host, request ids, access logs, metrics, JSON responses and bearer token
// extraction. It knows no API's semantics.
package httpx

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// HostRouter dispatches requests by their Host header (without port).
type HostRouter struct {
	domain   string
	exact    map[string]http.Handler
	suffixes []suffixRoute
	loopback map[string]http.Handler // exact paths served on localhost, 127.0.0.1 and ::1
	fallback http.Handler
}

type suffixRoute struct {
	suffix string // ".vault.<domain>"
	h      func(label string) http.Handler
}

// NewHostRouter returns a router for hosts under domain; fallback serves
// every other host (health, metrics, or a 404).
func NewHostRouter(domain string, fallback http.Handler) *HostRouter {
	return &HostRouter{domain: strings.ToLower(domain), exact: map[string]http.Handler{}, loopback: map[string]http.Handler{}, fallback: fallback}
}

// Handle serves host "<label>.<domain>" with h.
func (r *HostRouter) Handle(label string, h http.Handler) {
	r.exact[strings.ToLower(label)+"."+r.domain] = h
}

// HandleWildcard serves every host "<name>.<label>.<domain>" with the handler
// that mk returns for name (a vault or namespace name, lower-cased).
func (r *HostRouter) HandleWildcard(label string, mk func(name string) http.Handler) {
	r.suffixes = append(r.suffixes, suffixRoute{suffix: "." + strings.ToLower(label) + "." + r.domain, h: mk})
}

// HandleLoopback serves path (exactly) with h on the loopback host names:
// localhost, 127.0.0.1 and ::1.
func (r *HostRouter) HandleLoopback(path string, h http.Handler) { r.loopback[path] = h }

// ServeHTTP implements http.Handler.
func (r *HostRouter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host := HostName(req.Host)
	if h, ok := r.loopback[req.URL.Path]; ok && (host == "localhost" || host == "127.0.0.1" || host == "::1") {
		h.ServeHTTP(w, req)
		return
	}
	if h, ok := r.exact[host]; ok {
		h.ServeHTTP(w, req)
		return
	}
	for _, s := range r.suffixes {
		if name, ok := strings.CutSuffix(host, s.suffix); ok && name != "" && !strings.Contains(name, ".") {
			s.h(name).ServeHTTP(w, req)
			return
		}
	}
	r.fallback.ServeHTTP(w, req)
}

// HostName returns the lower-cased host of a Host header, without port.
func HostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyCorrelationID
)

// RequestID returns the id keyward gave the request (x-ms-request-id).
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// CorrelationID returns the request's correlation id
// (x-ms-correlation-request-id, or client-request-id, or the request id).
func CorrelationID(ctx context.Context) string {
	s, _ := ctx.Value(keyCorrelationID).(string)
	return s
}

// Metrics are the HTTP metrics of one server.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_http_requests_total", Help: "HTTP requests by service and status code.",
		}, []string{"service", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyward_http_request_duration_seconds", Help: "HTTP request latency by service.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Wrap adds request ids, an access log line and metrics to h, labelled with
// service.
func Wrap(service string, h http.Handler, log *slog.Logger, m *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := uuid.NewString()
		cid := r.Header.Get("x-ms-correlation-request-id")
		if cid == "" {
			cid = r.Header.Get("x-ms-client-request-id")
		}
		if _, err := uuid.Parse(cid); err != nil {
			cid = rid
		}
		ctx := context.WithValue(r.Context(), keyRequestID, rid)
		ctx = context.WithValue(ctx, keyCorrelationID, cid)
		w.Header().Set("x-ms-request-id", rid)
		w.Header().Set("x-ms-correlation-request-id", cid)
		if c := r.Header.Get("x-ms-client-request-id"); c != "" && len(c) <= 128 {
			w.Header().Set("x-ms-client-request-id", c)
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		serve(h, sw, r.WithContext(ctx), log)
		d := time.Since(start)
		if m != nil {
			m.requests.WithLabelValues(service, strconv.Itoa(sw.code)).Inc()
			m.duration.WithLabelValues(service).Observe(d.Seconds())
		}
		if log != nil {
			log.LogAttrs(ctx, slog.LevelInfo, "http request",
				slog.String("service", service), slog.String("method", r.Method),
				slog.String("host", r.Host), slog.String("path", r.URL.Path),
				slog.Int("status", sw.code), slog.Duration("duration", d),
				slog.String("request_id", rid), slog.String("remote", r.RemoteAddr))
		}
	})
}

// serve calls h. A panic (a bug: bad input must get an error, never a
// panic) is logged with its stack and answered with a 500 in the Azure
// error shape when nothing was written yet, instead of net/http dropping
// the connection.
func serve(h http.Handler, sw *statusWriter, r *http.Request, log *slog.Logger) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		if log != nil {
			log.Error("http handler panicked", "method", r.Method, "host", r.Host, "path", r.URL.Path,
				"request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		if !sw.wrote {
			WriteJSON(sw, http.StatusInternalServerError, map[string]any{"error": map[string]any{
				"code": "InternalServerError", "message": "An internal error occurred while processing the request.",
			}})
		}
	}()
	h.ServeHTTP(sw, r)
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code = code
		s.wrote = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
	}
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// DecodeJSON decodes a request body of at most limit bytes into v.
func DecodeJSON(r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.UseNumber()
	return dec.Decode(v)
}

// ClientIP returns the remote address of a request without port.
func ClientIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
