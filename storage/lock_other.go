//go:build !unix

package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// dirLock is DIR/LOCK created exclusively, holding the owner's pid. Without
// flock a crash leaves it behind: the message says to remove it then.
type dirLock struct{ name string }

func lockDir(dir string) (*dirLock, error) {
	name := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		pid, _ := os.ReadFile(name)
		return nil, fmt.Errorf("%w (if no consultbot is running, remove %s)", lockedError(dir, pid), name)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: locking %s: %w", name, err)
	}
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return nil, fmt.Errorf("storage: writing %s: %w", name, err)
	}
	return &dirLock{name: name}, nil
}

func (l *dirLock) release() { os.Remove(l.name) }
