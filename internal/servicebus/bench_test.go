package servicebus

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/store"
)

// realEnv is a broker on the real clock, for benchmarks and stress tests.
func realEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{t: tb, ctx: context.Background(), dir: tb.TempDir(), keys: newFakeKeys(), opts: NamespaceOptions{Tier: Premium}}
	st, err := store.Open(e.dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	e.st = st
	b, err := New(Options{Store: st, Keys: e.keys, Clock: clock.Real{}})
	if err != nil {
		tb.Fatal(err)
	}
	e.b = b
	if e.ns, err = b.OpenNamespace(e.ctx, testNS, e.opts); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.close)
	return e
}

// BenchmarkSend measures durable sends (each returns once synced).
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, senders := range []int{1, 16} {
			b.Run(fmt.Sprintf("%dKiB/senders=%d", size>>10, senders), func(b *testing.B) {
				e := realEnv(b)
				e.queue("q", nil)
				body := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := e.ns.Send(e.ctx, "q", []Message{{Body: body}}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkFsyncBaseline is one write plus fdatasync per 1 KiB message on
// the same disk: the rate durable sends must beat by grouping syncs.
func BenchmarkFsyncBaseline(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReceiveComplete measures peek-lock receive plus durable complete.
func BenchmarkReceiveComplete(b *testing.B) {
	for _, receivers := range []int{1, 8} {
		b.Run(fmt.Sprintf("1KiB/receivers=%d", receivers), func(b *testing.B) {
			e := realEnv(b)
			e.queue("q", nil)
			body := make([]byte, 1024)
			batch := make([]Message, 0, 500)
			for i := 0; i < b.N; i++ {
				batch = append(batch, Message{Body: body})
				if len(batch) == cap(batch) || i == b.N-1 {
					e.must(e.ns.Send(e.ctx, "q", batch))
					batch = batch[:0]
				}
			}
			b.SetBytes(1024)
			b.ResetTimer()
			var done atomic.Int64
			var wg sync.WaitGroup
			for range receivers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for done.Load() < int64(b.N) {
						ms, err := e.ns.Receive(e.ctx, "q", ReceiveOptions{MaxMessages: 16})
						if err != nil {
							b.Error(err)
							return
						}
						for _, m := range ms {
							if err := e.ns.Complete(e.ctx, "q", m.LockToken); err != nil {
								b.Error(err)
								return
							}
							done.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// TestConcurrentSendReceive runs senders and receivers against one queue:
// every message is completed exactly once and the counters end at zero.
func TestConcurrentSendReceive(t *testing.T) {
	e := realEnv(t)
	e.queue("q", func(p *QueueProperties) { p.MaxDeliveryCount = 1000 })
	const senders, perSender, receivers = 4, 150, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				if err := e.ns.Send(e.ctx, "q", []Message{{MessageID: fmt.Sprintf("%d-%d", s, i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	completed := map[string]int{}
	var total atomic.Int64
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	for r := range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for total.Load() < senders*perSender {
				ms, err := e.ns.Receive(ctx, "q", ReceiveOptions{MaxMessages: 8, MaxWait: 50 * time.Millisecond})
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range ms {
					if rng.IntN(4) == 0 {
						if err := e.ns.Abandon(ctx, "q", m.LockToken, nil); err != nil {
							t.Error(err)
						}
						continue
					}
					if err := e.ns.Complete(ctx, "q", m.LockToken); err != nil {
						t.Error(err)
						continue
					}
					mu.Lock()
					completed[m.MessageID]++
					mu.Unlock()
					total.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if len(completed) != senders*perSender {
		t.Fatalf("%d distinct messages completed", len(completed))
	}
	for id, n := range completed {
		if n != 1 {
			t.Fatalf("%s completed %d times", id, n)
		}
	}
	if rt := e.queueRuntime("q"); rt.ActiveMessageCount != 0 || rt.SizeInBytes != 0 || rt.TotalMessageCount != 0 {
		t.Fatalf("runtime %+v", rt)
	}
}

// TestBigBacklogMemory builds a one-million-message backlog (1 KiB each) and
// reports the process's memory. It runs only with KEYWARD_BIG=1.
func TestBigBacklogMemory(t *testing.T) {
	if os.Getenv("KEYWARD_BIG") != "1" {
		t.Skip("set KEYWARD_BIG=1 to build a 1,000,000-message backlog")
	}
	const total, batch = 1_000_000, 1000
	e := realEnv(t)
	e.queue("big", func(p *QueueProperties) { p.MaxSizeInMegabytes = 80 * 1024 })
	body := make([]byte, 1024)
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]Message, batch)
			for i := range msgs {
				msgs[i].Body = body
			}
			for next.Add(batch) <= total {
				if err := e.ns.Send(e.ctx, "big", msgs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	built := time.Since(start)
	rt := e.queueRuntime("big")
	if rt.ActiveMessageCount != total {
		t.Fatalf("active %d", rt.ActiveMessageCount)
	}
	report := func(when string) uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss := vmRSS()
		t.Logf("%s: HeapInuse %.1f MiB, HeapAlloc %.1f MiB, VmRSS %.1f MiB", when, float64(ms.HeapInuse)/(1<<20), float64(ms.HeapAlloc)/(1<<20), float64(rss)/(1<<20))
		return rss
	}
	t.Logf("built %d messages in %v (%.0f msgs/s)", total, built, total/built.Seconds())
	rss := report("after building")
	ms, err := e.ns.Receive(e.ctx, "big", ReceiveOptions{MaxMessages: 100})
	e.must(err)
	for _, m := range ms {
		e.must(e.ns.Complete(e.ctx, "big", m.LockToken))
	}
	start = time.Now()
	e.reopen()
	t.Logf("reopened (index rebuilt) in %v", time.Since(start))
	if rt := e.queueRuntime("big"); rt.ActiveMessageCount != total-100 {
		t.Fatalf("active after reopen %d", rt.ActiveMessageCount)
	}
	rss2 := report("after reopen")
	if max(rss, rss2) > 256<<20 {
		t.Errorf("resident memory above 256 MiB")
	}
}

// vmRSS reads the resident set size from /proc/self/status (0 if unknown).
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// TestConcurrentSessions has several receivers take sessions in turn: each
// message is completed once and every session's messages arrive in order.
func TestConcurrentSessions(t *testing.T) {
	e := realEnv(t)
	e.queue("sq", func(p *QueueProperties) { p.RequiresSession = true })
	const sessions, per = 6, 40
	for i := range per {
		var batch []Message
		for s := range sessions {
			batch = append(batch, Message{SessionID: fmt.Sprint("s", s), Body: []byte(fmt.Sprint(i))})
		}
		e.send("sq", batch...)
	}
	var mu sync.Mutex
	next := map[string]int{}
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for total.Load() < sessions*per {
				s, err := e.ns.AcceptNextSession(e.ctx, "sq", AcceptSessionOptions{MaxWait: 20 * time.Millisecond})
				if CodeOf(err) == CodeTimeout {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for range 3 {
					ms, err := s.Receive(e.ctx, ReceiveOptions{MaxMessages: 7})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := s.RenewLock(e.ctx); err != nil {
						t.Error(err)
					}
					for _, m := range ms {
						if err := e.ns.Complete(e.ctx, "sq", m.LockToken); err != nil {
							t.Error(err)
							continue
						}
						mu.Lock()
						if want := fmt.Sprint(next[m.SessionID]); string(m.Body) != want {
							t.Errorf("session %s: got %s, want %s", m.SessionID, m.Body, want)
						}
						next[m.SessionID]++
						mu.Unlock()
						total.Add(1)
					}
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	if rt := e.queueRuntime("sq"); rt.ActiveMessageCount != 0 {
		t.Fatalf("runtime %+v", rt)
	}
}
