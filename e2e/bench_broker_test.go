package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"

	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/testenv"
	"github.com/keyward/keyward/internal/vault"
)

// BenchmarkDurableSendCMK measures durable sends and receive+complete
// through the broker of a real keyward, for a namespace with customer-managed
// keys and one without, side by side in one run, with the rate of one
// write+fsync per message on the same disk. It reports messages per second
// and the CMK on/off ratio (target ≥ 0.97, no vault call per message) and
// the 16-sender rate over the fsync rate (target ≥ 10, group commit).
//
//	go test ./e2e -run '^$' -bench DurableSendCMK -benchtime 1x
func BenchmarkDurableSendCMK(b *testing.B) {
	env := testenv.Start(b, nil)
	f := newSBFixture(b, env)
	ctx := context.Background()
	f.createKey(b, "bench-key")
	on, err := f.putNamespace(b, "bench-cmk-on", premium(true))
	if err != nil {
		b.Fatal(err)
	}
	f.grant(b, "sb-keys", *on.Identity.PrincipalID)
	n := premium(true)
	n.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("bench-key")}
	if _, err := f.putNamespace(b, "bench-cmk-on", n); err != nil {
		b.Fatal(err)
	}
	if _, err := f.putNamespace(b, "bench-cmk-off", premium(true)); err != nil {
		b.Fatal(err)
	}
	nss := map[string]*servicebus.Namespace{}
	for _, name := range []string{"bench-cmk-on", "bench-cmk-off"} {
		ns, err := env.App.Broker.Namespace(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ns.CreateQueue(ctx, "q", servicebus.DefaultQueueProperties(servicebus.Premium)); err != nil {
			b.Fatal(err)
		}
		nss[name] = ns
	}
	dur := 2 * time.Second
	if s := os.Getenv("KEYWARD_BENCH_SECONDS"); s != "" {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 {
			dur = time.Duration(n) * time.Second
		}
	}
	fsync := fsyncRate(b, env.DataDir, dur)
	b.ReportMetric(fsync, "fsync/s")
	// Every vault operation is audited: count those on the customer key
	// while messages flow, to show there is no vault call per message.
	vaultCalls := func() int {
		entries, err := env.App.Vault.Audit(ctx, vault.AuditQuery{Vault: "sb-keys", Key: "bench-key", Limit: 10000})
		if err != nil {
			b.Fatal(err)
		}
		return len(entries)
	}
	callsBefore := vaultCalls()
	var sent float64
	b.ResetTimer()
	// Alternate short rounds of each namespace so that machine noise hits both alike.
	const rounds = 3
	round := dur / rounds
	for i := 0; i < b.N; i++ {
		for _, size := range []int{1024, 64 * 1024} {
			body := make([]byte, size)
			send := map[string]float64{}
			recv := map[string]float64{}
			for r := 0; r < rounds; r++ {
				for _, name := range []string{"bench-cmk-off", "bench-cmk-on"} {
					rate := sendRate(ctx, b, nss[name], 16, body, round)
					send[name] += rate / rounds
					if name == "bench-cmk-on" {
						sent += rate * round.Seconds()
					}
				}
				for _, name := range []string{"bench-cmk-off", "bench-cmk-on"} {
					recv[name] += receiveRate(ctx, b, nss[name], 8, round) / rounds
				}
			}
			for _, name := range []string{"bench-cmk-off", "bench-cmk-on"} {
				b.Logf("%-14s %3d KiB: send %8.0f msg/s (16 senders), receive+complete %8.0f msg/s (8 receivers)", name, size/1024, send[name], recv[name])
			}
			ratio := send["bench-cmk-on"] / send["bench-cmk-off"]
			b.Logf("%d KiB: CMK on/off send ratio %.2f, receive ratio %.2f; 16 senders / one-fsync-per-message = %.1fx (fsync %.0f/s)",
				size/1024, ratio, recv["bench-cmk-on"]/recv["bench-cmk-off"], send["bench-cmk-off"]/fsync, fsync)
			b.ReportMetric(ratio, fmt.Sprintf("onoff-%dKiB", size/1024))
			b.ReportMetric(send["bench-cmk-on"], fmt.Sprintf("cmk-msg/s-%dKiB", size/1024))
			b.ReportMetric(send["bench-cmk-off"]/fsync, fmt.Sprintf("x-fsync-%dKiB", size/1024))
		}
	}
	b.StopTimer()
	calls := vaultCalls() - callsBefore
	b.Logf("vault operations on the customer key while %.0f messages went through the CMK namespace: %d (%d before, while setting it up)", sent, calls, callsBefore)
	b.ReportMetric(float64(calls), "vault-calls")
}

func sendRate(ctx context.Context, b *testing.B, ns *servicebus.Namespace, senders int, body []byte, dur time.Duration) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := ns.Send(ctx, "q", []servicebus.Message{{Body: body}}); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / dur.Seconds()
}

func receiveRate(ctx context.Context, b *testing.B, ns *servicebus.Namespace, receivers int, dur time.Duration) float64 {
	var n atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < receivers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				msgs, err := ns.Receive(ctx, "q", servicebus.ReceiveOptions{Mode: servicebus.PeekLock, MaxMessages: 16, MaxWait: 100 * time.Millisecond})
				if err != nil {
					b.Error(err)
					return
				}
				if len(msgs) == 0 {
					return // drained
				}
				for _, m := range msgs {
					if err := ns.Complete(ctx, "q", m.LockToken); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Receivers stop when the queue is empty: the rate is over the time it took.
	elapsed := time.Since(start)
	if elapsed > dur {
		elapsed = dur
	}
	return float64(n.Load()) / elapsed.Seconds()
}

// fsyncRate measures one 1 KiB write + fsync per message on the data disk.
func fsyncRate(b *testing.B, dir string, dur time.Duration) float64 {
	f, err := os.Create(filepath.Join(dir, "fsync-bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1024)
	n := 0
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / dur.Seconds()
}
