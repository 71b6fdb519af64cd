package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestPebbleBasics(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	b := &Batch{Sync: true}
	for i := 0; i < 10; i++ {
		b.Set([]byte(fmt.Sprintf("k/%02d", i)), []byte{byte(i)})
	}
	b.Set([]byte("z"), []byte("last"))
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := ForEach(ctx, s, []byte("k/"), func(k, v []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 10 || keys[0] != "k/00" || keys[9] != "k/09" {
		t.Fatalf("scan: %v", keys)
	}
	it, err := s.Scan(ctx, ScanOptions{Lower: []byte("k/"), Upper: PrefixEnd([]byte("k/")), Reverse: true})
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() || string(it.Key()) != "k/09" {
		t.Fatalf("reverse first = %q", it.Key())
	}
	it.Close()
	d := &Batch{}
	d.DeleteRange([]byte("k/03"), []byte("k/08"))
	d.Delete([]byte("k/00"))
	if err := s.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	n := 0
	ForEach(ctx, s, []byte("k/"), func(k, v []byte) error { n++; return nil })
	if n != 4 {
		t.Fatalf("after deletes %d keys, want 4", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, []byte("z")); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	s, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Get(ctx, []byte("z"))
	if err != nil || !bytes.Equal(v, []byte("last")) {
		t.Fatalf("reopen get = %q, %v", v, err)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte("a"), []byte("b")},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := PrefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}

// BenchmarkDurableApply measures durable single-key batches from 16
// concurrent writers: Pebble groups their syncs.
func BenchmarkDurableApply(b *testing.B) {
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := bytes.Repeat([]byte{7}, 1024)
	var mu sync.Mutex
	n := 0
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			k := []byte(fmt.Sprintf("m/%012d", n))
			mu.Unlock()
			bt := &Batch{Sync: true}
			bt.Set(k, val)
			if err := s.Apply(ctx, bt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
