package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

// admin is what the export, invite and forget commands do. It runs either
// on a store this process opened, or, when a running consultbot holds the
// embedded store, inside that process through its admin socket: so a team can
// export while a consultation is live without a second writer.
type admin interface {
	Export(ctx context.Context, req exportRequest, w, progress io.Writer) error
	Invite(ctx context.Context, req inviteRequest) (inviteResult, error)
	Forget(ctx context.Context, who string) (storage.Forgotten, error)
}

// localAdmin does the work on an open store.
type localAdmin struct {
	st            *storage.Store
	consultations map[string]*flows.Consultation
	invite        func(ctx context.Context, req inviteRequest, codes []string) (inviteResult, error) // channel extras
	now           func() time.Time
}

func (a *localAdmin) consultation(id string) (*flows.Consultation, error) {
	c, ok := a.consultations[id]
	if !ok {
		ids := make([]string, 0, len(a.consultations))
		for id := range a.consultations {
			ids = append(ids, id)
		}
		return nil, fmt.Errorf("no consultation %q in the consultation files (have: %s)", id, strings.Join(sortedStrings(ids), ", "))
	}
	return c, nil
}

func (a *localAdmin) Export(ctx context.Context, req exportRequest, w, progress io.Writer) error {
	c, err := a.consultation(req.Consultation)
	if err != nil {
		return err
	}
	return writeExport(ctx, a.st, c, req, w, progress)
}

func (a *localAdmin) Invite(ctx context.Context, req inviteRequest) (inviteResult, error) {
	if _, err := a.consultation(req.Consultation); err != nil {
		return inviteResult{}, err
	}
	codes, err := a.st.CreateInvites(ctx, req.Consultation, req.Count, a.now())
	if err != nil {
		return inviteResult{}, err
	}
	if a.invite != nil {
		return a.invite(ctx, req, codes)
	}
	return inviteResult{Codes: codes}, nil
}

func (a *localAdmin) Forget(ctx context.Context, who string) (storage.Forgotten, error) {
	return a.st.Forget(ctx, who, a.now())
}

// withStore runs fn with an admin: on the store directly when this process
// can open it, or through the running instance that holds it.
func withStore(ctx context.Context, cfg config, std streams, fn func(admin) error) error {
	consultations, err := loadFlows(cfg.Flows, std.err)
	if err != nil {
		return err
	}
	st, err := storage.Open(ctx, storage.Config{URI: cfg.MongoURI, Database: cfg.MongoDatabase, DataDir: cfg.DataDir, Logger: quietLogger(std.err)})
	if errors.Is(err, storage.ErrLocked) {
		remote, rerr := dialAdmin(cfg.DataDir)
		if rerr != nil {
			return fmt.Errorf("%w; and its admin socket did not answer: %v", err, rerr)
		}
		return fn(remote)
	}
	if err != nil {
		return err
	}
	defer st.Close(context.WithoutCancel(ctx))
	if err := saveConsultations(ctx, st, consultations); err != nil {
		return err
	}
	logger := quietLogger(std.err)
	ch, err := newChannels(cfg, storage.NewRunner(st, consultations, storage.RunnerOptions{Logger: logger}), st, logger)
	if err != nil {
		return err
	}
	return fn(&localAdmin{st: st, consultations: byID(consultations), invite: ch.invite, now: time.Now})
}

// adminFile is where a running instance says how to reach its admin socket.
const adminFile = "admin.addr"

// serveAdmin serves a on a unix socket in dataDir (or on loopback TCP when
// the socket path would be too long), and writes adminFile with the address
// and a random token. It returns when ctx ends.
func serveAdmin(ctx context.Context, dataDir string, a admin, logger *slog.Logger) error {
	token := make([]byte, 16)
	rand.Read(token)
	tok := hex.EncodeToString(token)

	network, address := "unix", filepath.Join(dataDir, "admin.sock")
	if abs, err := filepath.Abs(address); err == nil {
		address = abs
	}
	if len(address) > 100 {
		network, address = "tcp", "127.0.0.1:0"
	} else {
		os.Remove(address) // left by a process that died; the store lock says none runs now
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if network == "unix" {
		os.Chmod(address, 0o600)
	}
	file := filepath.Join(dataDir, adminFile)
	if err := os.WriteFile(file, []byte(network+" "+l.Addr().String()+" "+tok+"\n"), 0o600); err != nil {
		l.Close()
		return fmt.Errorf("admin socket: %w", err)
	}
	defer os.Remove(file)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /export", func(w http.ResponseWriter, r *http.Request) {
		var req exportRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		if err := a.Export(r.Context(), req, &buf, nil); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("POST /invite", func(w http.ResponseWriter, r *http.Request) {
		var req inviteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := a.Invite(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("POST /forget", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Who string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := a.Forget(r.Context(), req.Who)
		if errors.Is(err, storage.ErrNotFound) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+tok)) != 1 {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	logger.Debug("admin socket", "address", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin socket: %w", err)
	}
	return nil
}

// remoteAdmin sends commands to the running instance.
type remoteAdmin struct {
	client *http.Client
	token  string
}

func dialAdmin(dataDir string) (*remoteAdmin, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, adminFile))
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return nil, fmt.Errorf("%s: unexpected content", adminFile)
	}
	network, address := f[0], f[1]
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}}
	return &remoteAdmin{client: &http.Client{Transport: tr}, token: f[2]}, nil
}

func (a *remoteAdmin) call(ctx context.Context, path string, req any) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://consultbot"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(r)
	if err != nil {
		return nil, fmt.Errorf("running consultbot: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := errors.New(strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %v", storage.ErrNotFound, err)
		}
		return nil, err
	}
	return resp, nil
}

func (a *remoteAdmin) Export(ctx context.Context, req exportRequest, w, _ io.Writer) error {
	resp, err := a.call(ctx, "/export", req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, bufio.NewReader(resp.Body))
	return err
}

func (a *remoteAdmin) Invite(ctx context.Context, req inviteRequest) (inviteResult, error) {
	var res inviteResult
	resp, err := a.call(ctx, "/invite", req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&res)
	return res, err
}

func (a *remoteAdmin) Forget(ctx context.Context, who string) (storage.Forgotten, error) {
	var res storage.Forgotten
	resp, err := a.call(ctx, "/forget", struct{ Who string }{who})
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&res)
	return res, err
}

var (
	_ admin = (*localAdmin)(nil)
	_ admin = (*remoteAdmin)(nil)
)
