package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// childMain runs when the test binary is started as a second process:
// it tries to open the data directory in CONSULTBOT_STORAGE_TEST_DIR and
// exits 3 when refused with ErrLocked (printing the message), 0 when it
// could open it.
func childMain() int {
	dir := os.Getenv("CONSULTBOT_STORAGE_TEST_DIR")
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir})
	if errors.Is(err, ErrLocked) {
		fmt.Println(err)
		return 3
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	n, err := s.c(colInvites).CountDocuments(ctx, map[string]any{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("invites=%d\n", n)
	if err := s.Close(ctx); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// runChild starts the test binary as a second process on dir and returns
// its exit code and output.
func runChild(t *testing.T, dir string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", "CONSULTBOT_STORAGE_TEST_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("running the second process: %v", err)
	}
	return 0, string(out)
}

func TestSecondProcessRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.CreateInvites(ctx, "c1", 2, s.now()); err != nil {
		t.Fatalf("CreateInvites: %v", err)
	}

	code, out := runChild(t, dir)
	if code != 3 {
		t.Fatalf("second process: got exit %d (%s), want 3 (refused with ErrLocked)", code, out)
	}
	for _, want := range []string{dir, strconv.Itoa(os.Getpid())} {
		if !strings.Contains(out, want) {
			t.Errorf("second process message %q: want it to name %q", strings.TrimSpace(out), want)
		}
	}

	// In the same process too: a second Open of the directory is refused.
	if _, err := Open(ctx, Config{DataDir: dir}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open in this process: got %v, want ErrLocked", err)
	}

	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	code, out = runChild(t, dir)
	if code != 0 || !strings.Contains(out, "invites=2") {
		t.Fatalf("second process after Close: got exit %d (%s), want 0 and invites=2", code, out)
	}
}

func TestLongDataDirListensOnLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-long-directory-name-", 5))
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close(ctx)
	if !strings.HasPrefix(s.embedded.uri, "mongodb://127.0.0.1:") {
		t.Errorf("uri: got %q, want loopback TCP for a socket path over %d bytes", s.embedded.uri, maxSocketPath)
	}
	if _, err := s.CreateInvites(ctx, "c", 1, t0); err != nil {
		t.Errorf("using the store: %v", err)
	}
	if !s.Embedded() || s.DataDir() != dir {
		t.Errorf("Embedded, DataDir: got %v, %q, want true, %q", s.Embedded(), s.DataDir(), dir)
	}
}
