package storage

import (
	"context"
	"testing"
	"time"
)

func TestRestartedFreesWhatADeadProcessHeld(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, msg("a"), msg("b"), msg("c")); err != nil {
		t.Fatal(err)
	}
	// A process claims two, starts sending one, holds a lease, and dies.
	claimed, err := s.Claim(ctx, "telegram", "dead", 2, time.Hour, t0)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("Claim: got %d items, %v; want 2", len(claimed), err)
	}
	if err := s.Sending(ctx, claimed[0].ID, "dead", t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Lease(ctx, "telegram:poll", "dead", time.Hour, t0); !ok || err != nil {
		t.Fatalf("Lease: %v, %v", ok, err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	now := t0.Add(time.Minute) // well inside the dead process's leases
	n, err := s.Restarted(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("Restarted: got %d unknown, %v; want 1", n, err)
	}
	counts, err := s.OutboxCounts(ctx, "telegram")
	if err != nil {
		t.Fatal(err)
	}
	if counts[OutUnknown] != 1 || counts[OutPending] != 2 || counts[OutClaimed] != 0 || counts[OutSending] != 0 {
		t.Errorf("outbox after restart: got %v, want 1 unknown and 2 pending", counts)
	}
	again, err := s.Claim(ctx, "telegram", "alive", 10, time.Hour, now)
	if err != nil || len(again) != 2 || again[0].ID != claimed[1].ID {
		t.Errorf("Claim after restart: got %v, %v; want the claimed-but-unsent item and the pending one", again, err)
	}
	if ok, err := s.Lease(ctx, "telegram:poll", "alive", time.Hour, now); !ok || err != nil {
		t.Errorf("Lease after restart: got %v, %v; want it free", ok, err)
	}
}
