// Package storagetest opens real stores for tests in other packages: the
// embedded FerretDB in a temporary directory, or, when MONGODB_URI is set, a
// fresh database on that server, dropped when the test ends. No mocked
// database.
package storagetest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/storage"
)

// Open opens a fresh store for the test, closed (and on MONGODB_URI
// dropped) when it ends. cfg's URI, Database and DataDir are chosen here;
// its other fields (Now, Logger, ...) are kept.
func Open(t testing.TB, cfg storage.Config) *storage.Store {
	t.Helper()
	ctx := context.Background()
	uri := os.Getenv("MONGODB_URI")
	if uri != "" {
		cfg.URI, cfg.Database = uri, Database(t)
	} else {
		cfg.URI, cfg.Database, cfg.DataDir = "", "", t.TempDir()
	}
	st, err := storage.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(ctx); err != nil {
			t.Errorf("closing the store: %v", err)
		}
		if uri != "" {
			Drop(t, uri, cfg.Database)
		}
	})
	return st
}

// Database makes a database name from the test's name: at most 63 bytes,
// unique enough per run.
func Database(t testing.TB) string {
	n := regexp.MustCompile(`[^A-Za-z0-9_]+`).ReplaceAllString(t.Name(), "_")
	if n = strings.Trim(n, "_"); len(n) > 40 {
		n = n[len(n)-40:]
	}
	return fmt.Sprintf("t_%s_%x", n, time.Now().UnixNano()&0xffffff)
}

// Drop removes a test's database from the server at uri.
func Drop(t testing.TB, uri, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Errorf("dropping %s: %v", name, err)
		return
	}
	defer client.Disconnect(ctx)
	if err := client.Database(name).Drop(ctx); err != nil {
		t.Errorf("dropping %s: %v", name, err)
	}
}
