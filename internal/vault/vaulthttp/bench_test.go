package vaulthttp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// benchWorkers is the concurrency of both sides of the comparison: enough
// in-flight requests to hide the audit log's fsync latency (the store
// group-commits concurrent syncs), the same for raw crypto/rsa.
const benchWorkers = 64

// benchRounds is how many times the raw and API measurements alternate.
const benchRounds = 4

// runWorkers runs fn n times over benchWorkers goroutines and returns the
// elapsed time.
func runWorkers(b *testing.B, n int, fn func() error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range benchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	return d
}

// BenchmarkUnwrapKeyAPI measures unwrapKey (RSA-2048, RSA-OAEP-256) through
// the HTTPS API with azkeys — token validation, authorization, audit
// entry, TLS and JSON included — right after raw crypto/rsa decryption of
// the same kind, at the same concurrency, and reports the throughput ratio
// api/raw (target: at least 0.8).
func BenchmarkUnwrapKeyAPI(b *testing.B) {
	ctx := context.Background()
	h := newHarness(b)
	owner := h.principal("owner")
	h.vault("kvbench", nil, h.policy(owner, "all"))
	c := h.keys("kvbench", owner)
	if _, err := c.CreateKey(ctx, "cmk", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr(int32(2048))}, nil); err != nil {
		b.Fatal(err)
	}
	dek := make([]byte, 32)
	alg := ptr(azkeys.EncryptionAlgorithmRSAOAEP256)
	wr, err := c.WrapKey(ctx, "cmk", "", azkeys.KeyOperationParameters{Algorithm: alg, Value: dek}, nil)
	if err != nil {
		b.Fatal(err)
	}
	version := wr.KID.Version()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	rawCT, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &raw.PublicKey, dek, nil)
	if err != nil {
		b.Fatal(err)
	}
	unwrapAPI := func() error {
		_, err := c.UnwrapKey(ctx, "cmk", version, azkeys.KeyOperationParameters{Algorithm: alg, Value: wr.Result}, nil)
		return err
	}
	unwrapRaw := func() error {
		_, err := rsa.DecryptOAEP(sha256.New(), nil, raw, rawCT, nil)
		return err
	}
	// The lean client: the same HTTPS request with a plain http.Client, so
	// that the client's own cost (it shares the machine) stays small.
	tok := h.token(owner)
	url := h.vaultURL("kvbench") + "/keys/cmk/" + version + "/unwrapkey?api-version=2025-07-01"
	body := []byte(`{"alg":"RSA-OAEP-256","value":"` + base64.RawURLEncoding.EncodeToString(wr.Result) + `"}`)
	unwrapHTTP := func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	// Warm up connections and caches.
	runWorkers(b, 2*benchWorkers, unwrapAPI)
	runWorkers(b, 2*benchWorkers, unwrapHTTP)
	b.ResetTimer()
	// Interleave the three in rounds so that drifting load on a shared
	// machine affects them alike.
	var rawTime, apiTime, sdkTime time.Duration
	for r := range benchRounds {
		n := b.N / benchRounds
		if r == benchRounds-1 {
			n = b.N - (benchRounds-1)*(b.N/benchRounds)
		}
		rawTime += runWorkers(b, n, unwrapRaw)
		apiTime += runWorkers(b, n, unwrapHTTP)
		sdkTime += runWorkers(b, n, unwrapAPI)
	}
	b.StopTimer()
	rawRate := float64(b.N) / rawTime.Seconds()
	apiRate := float64(b.N) / apiTime.Seconds()
	sdkRate := float64(b.N) / sdkTime.Seconds()
	b.ReportMetric(rawRate, "raw-ops/s")
	b.ReportMetric(apiRate, "api-ops/s")
	b.ReportMetric(sdkRate, "azkeys-ops/s")
	b.ReportMetric(apiRate/rawRate, "api/raw")
	b.ReportMetric(sdkRate/rawRate, "azkeys/raw")
}

// BenchmarkUnwrapRawRSA is the raw side alone: crypto/rsa RSA-OAEP-256
// decryption with RSA-2048 at the same concurrency.
func BenchmarkUnwrapRawRSA(b *testing.B) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &raw.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	d := runWorkers(b, b.N, func() error {
		_, err := rsa.DecryptOAEP(sha256.New(), nil, raw, ct, nil)
		return err
	})
	b.ReportMetric(float64(b.N)/d.Seconds(), "ops/s")
}
