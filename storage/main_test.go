package storage

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The suite runs every test against the embedded FerretDB, started once for
// the test binary, and against MONGODB_URI when it is set: a fresh database
// per test, dropped in t.Cleanup.

// shared is the embedded FerretDB the tests share.
type shared struct {
	emb *embedded
	dir string
}

// envChild makes the test binary a second process holding or probing a data
// directory (see TestSecondProcessRefused).
const envChild = "CONSULTBOT_STORAGE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(childMain())
	}
	os.Exit(runTests(m))
}

// sharedFerret is set by runTests for the duration of the tests. It is a
// test-only handle, not package state of the store.
var sharedFerret shared

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "consultbot-storage-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	emb, err := startEmbedded(context.Background(), dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer emb.close()
	sharedFerret = shared{emb: emb, dir: dir}
	return m.Run()
}

// backend is one store implementation the suite runs against.
type backend struct {
	name string
	open func(t testing.TB, cfg Config) *Store
}

func backends() []backend {
	bs := []backend{{"embedded", openShared}}
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		bs = append(bs, backend{"mongodb", func(t testing.TB, cfg Config) *Store {
			cfg.URI = uri
			return openDB(t, cfg, nil)
		}})
	}
	return bs
}

// openShared opens a fresh database on the shared embedded FerretDB.
func openShared(t testing.TB, cfg Config) *Store {
	return openDB(t, cfg, sharedFerret.emb)
}

// dbName makes a database name from the test name: at most 63 bytes, unique
// enough per run.
func dbName(t testing.TB) string {
	n := regexp.MustCompile(`[^A-Za-z0-9_]+`).ReplaceAllString(t.Name(), "_")
	n = strings.Trim(n, "_")
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return fmt.Sprintf("t_%s_%x", n, time.Now().UnixNano()&0xffffff)
}

func openDB(t testing.TB, cfg Config, emb *embedded) *Store {
	t.Helper()
	ctx := context.Background()
	cfg.Database = dbName(t)
	s, err := connect(ctx, cfg, emb, false)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.db.Drop(ctx); err != nil {
			t.Errorf("dropping %s: %v", cfg.Database, err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return s
}

// eachBackend runs f as a subtest against every backend.
func eachBackend(t *testing.T, f func(t *testing.T, open func(cfg Config) *Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			f(t, func(cfg Config) *Store { return b.open(t, cfg) })
		})
	}
}

// forEachStore runs f against a fresh store of every backend.
func forEachStore(t *testing.T, f func(t *testing.T, s *Store)) {
	eachBackend(t, func(t *testing.T, open func(Config) *Store) {
		f(t, open(Config{}))
	})
}
