package arm

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clock"
)

// TestAsyncPanic checks that an operation whose function panics fails with
// InternalServerError instead of taking the process down.
func TestAsyncPanic(t *testing.T) {
	m := &Manager{clock: clock.Real{}, log: slog.New(slog.DiscardHandler), ops: map[string]*Operation{}, ctx: context.Background()}
	tgt, err := ParseTarget("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Resources/deployments/d")
	if err != nil {
		t.Fatal(err)
	}
	op := m.Async(&Request{Target: tgt, APIVersion: "2024-03-01"}, "", func(context.Context) error {
		var p *Request
		_ = p.Method // a bug: nil dereference
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = m.Wait(ctx, op)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Code != "InternalServerError" {
		t.Fatalf("operation ended with %v, want a 500 InternalServerError", err)
	}
	if op.Status() != OpFailed {
		t.Fatalf("status %v", op.Status())
	}
}
