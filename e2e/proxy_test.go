package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testenv"
)

// startConnectProxy runs an HTTP CONNECT proxy on loopback that tunnels
// every keyward host name (any port) to keyward's HTTPS listener, so that
// clients which honour HTTPS_PROXY reach keyward's names without DNS or a
// hosts file. Other destinations are refused.
func startConnectProxy(t *testing.T, env *testenv.Env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := env.Config.Addr
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Hostname()
		if r.Method != http.MethodConnect || (host != "localhost" && host != "127.0.0.1" && host != env.Config.Domain &&
			!strings.HasSuffix(host, "."+env.Config.Domain)) {
			http.Error(w, "this proxy only tunnels to keyward", http.StatusForbidden)
			return
		}
		up, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		if n := brw.Reader.Buffered(); n > 0 {
			b, _ := brw.Reader.Peek(n)
			_, _ = up.Write(b)
		}
		wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer wg.Done()
			_, _ = io.Copy(dst, src)
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}
		go pipe(up, down)
		go func() { pipe(down, up); up.Close(); down.Close() }()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// proxyEnv points every HTTP client that honours the proxy variables at
// proxy (and nowhere else).
func proxyEnv(proxy string) []string {
	return []string{"HTTPS_PROXY=" + proxy, "https_proxy=" + proxy, "HTTP_PROXY=" + proxy, "http_proxy=" + proxy, "NO_PROXY=", "no_proxy="}
}

// runClientScript runs an SDK conformance script (name args… in dir, env
// added to the environment) and fails the test with its output when it
// exits non-zero or outlives timeout; otherwise it logs the output.
func runClientScript(t *testing.T, what string, timeout time.Duration, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxT(t), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	t.Logf("%s", out)
}
