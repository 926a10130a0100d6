package limit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

func TestKeyedRefusesBeyondTheBurstAndSaysHowLong(t *testing.T) {
	k := NewKeyed(2, 3, 100) // 2 per second, 3 at once
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%s, want refused for 500ms", ok, wait)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("refused after waiting the time it said")
	}
	if ok, _ := NewKeyed(0, 1, 1).Allow("x"); !ok {
		t.Fatal("rate 0 must mean no limit")
	}
}

// A flood of distinct keys (spoofed addresses, made-up token ids) cannot
// grow the limiter without bound, and a key that is being limited stays
// limited while the map has room.
func TestKeyedMemoryIsBounded(t *testing.T) {
	k := NewKeyed(1, 1, 1000)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k.now = func() time.Time { return now }
	k.Allow("abuser")
	for i := range 500 {
		k.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if ok, _ := k.Allow("abuser"); ok {
		t.Fatal("a limited key was forgotten while the map had room")
	}
	for i := range 50_000 {
		k.Allow(fmt.Sprintf("flood-%d", i))
		if k.Len() > 1000 {
			t.Fatalf("%d keys held after %d distinct keys; the bound is 1000", k.Len(), i+1)
		}
	}
}

func TestGateBoundsHoldersAndTellsCallersToComeBack(t *testing.T) {
	g := NewGate(2, 20*time.Millisecond)
	ctx := context.Background()
	if g.Acquire(ctx) != nil || g.Acquire(ctx) != nil {
		t.Fatal("could not take the two slots")
	}
	err := g.Acquire(ctx)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, thermowatt.ErrUnavailable) {
		t.Fatalf("third holder: %v, want ErrBusy (an ErrUnavailable)", err)
	}
	g.Release()
	if err := g.Acquire(ctx); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}
