package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// maxSocketPath is the longest unix socket path used; longer data directory
// paths listen on loopback TCP instead (sun_path holds 104-108 bytes).
const maxSocketPath = 100

// embedded is a FerretDB running in this process over SQLite files in dir,
// which this process holds locked.
type embedded struct {
	dir    string
	uri    string
	lock   *dirLock
	cancel context.CancelFunc
	done   chan struct{}
}

// startEmbedded locks dir, starts FerretDB on its SQLite files and returns
// the URI to reach it. A second process on dir gets ErrLocked.
func startEmbedded(ctx context.Context, dir string, logger *slog.Logger) (*embedded, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: data directory %s: %w", dir, err)
	}
	sqliteDir := filepath.Join(abs, "sqlite")
	if err := os.MkdirAll(sqliteDir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: creating the data directory: %w", err)
	}
	lock, err := lockDir(abs)
	if err != nil {
		return nil, err
	}

	var listener ferretdb.ListenerConfig
	socket := filepath.Join(abs, "ferretdb.sock")
	if len(socket) <= maxSocketPath {
		// A socket left by a process that died: we hold the lock, so it is stale.
		if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			lock.release()
			return nil, fmt.Errorf("storage: removing a stale socket: %w", err)
		}
		listener.Unix = socket
	} else {
		listener.TCP = "127.0.0.1:0"
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Logger:    slog.New(levelHandler{min: slog.LevelError, h: logger.Handler()}),
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(sqliteDir) + "/"}).String(),
	})
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("storage: starting the embedded store in %s: %w", abs, err)
	}
	uri := f.MongoDBURI()
	if listener.Unix != "" {
		uri = "mongodb://" + url.PathEscape(socket) + "/"
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(runCtx)
	}()
	return &embedded{dir: abs, uri: uri, lock: lock, cancel: cancel, done: done}, nil
}

// close stops FerretDB, waits for it to close its files and releases the
// data directory.
func (e *embedded) close() {
	e.cancel()
	<-e.done
	e.lock.release()
}

// lockedError tells which process holds dir.
func lockedError(dir string, pidFile []byte) error {
	pid := strings.TrimSpace(string(pidFile))
	if _, err := strconv.Atoi(pid); err != nil || pid == "" {
		return fmt.Errorf("%w: %s is held by another consultbot process; stop it, or send the command to it", ErrLocked, dir)
	}
	return fmt.Errorf("%w: %s is held by consultbot process %s; stop it, or send the command to it", ErrLocked, dir, pid)
}

// levelHandler passes on records at min level or above: FerretDB is chatty.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (l levelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= l.min && l.h.Enabled(ctx, level)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelHandler{min: l.min, h: l.h.WithAttrs(attrs)}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{min: l.min, h: l.h.WithGroup(name)}
}
