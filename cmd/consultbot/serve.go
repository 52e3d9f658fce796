package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"sort"
	"sync"
	"time"

	"github.com/consultbot/consultbot/bots/console"
	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/storage"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	fs := newFlagSet("run [flags]", "run [flags]", std.err)
	get := configFlags(fs, getenv)
	only := fs.String("consultation", "", "terminal: the consultation to offer (its id); default: the only open one, else a list")
	as := fs.String("participant", "", "terminal: who you are, as a name (default: your user name)")
	verbose := fs.Bool("verbose", false, "log at debug level")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		fs.Usage()
		return fmt.Errorf("run takes no arguments, got %q", pos)
	}
	cfg, err := get()
	if err != nil {
		return err
	}
	terminal := cfg.TelegramToken == "" && cfg.SlackBotToken == ""

	level := slog.LevelInfo
	if terminal {
		level = slog.LevelWarn // the terminal is the participant's: keep it for the conversation
	}
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(std.err, &slog.HandlerOptions{Level: level}))

	consultations, err := loadFlows(cfg.Flows, std.err)
	if err != nil {
		return err
	}
	if len(consultations) == 0 {
		return fmt.Errorf("no consultation files (*.yaml) in %s: set CONSULTBOT_FLOWS or --flows", cfg.Flows)
	}

	st, err := storage.Open(ctx, storage.Config{URI: cfg.MongoURI, Database: cfg.MongoDatabase, DataDir: cfg.DataDir, Logger: logger})
	if errors.Is(err, storage.ErrLocked) {
		return fmt.Errorf("%w\nAnother consultbot is running on this data directory: stop it first, or give this one its own --data-dir", err)
	}
	if err != nil {
		return err
	}
	defer st.Close(context.WithoutCancel(ctx))
	if err := saveConsultations(ctx, st, consultations); err != nil {
		return err
	}
	if n, err := st.Restarted(ctx, time.Now()); err != nil {
		return err
	} else if n > 0 {
		logger.Warn("messages cut off mid-send by the last stop: delivery unknown, not resent; the participant's next message brings the question back", "count", n)
	}

	runner := storage.NewRunner(st, consultations, storage.RunnerOptions{Logger: logger})
	ch, err := newChannels(cfg, runner, st, logger)
	if err != nil {
		return err
	}
	local := &localAdmin{st: st, consultations: byID(consultations), invite: ch.invite, now: time.Now}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tasks := taskGroup{cancel: cancel}
	if st.Embedded() {
		tasks.Go(func() error { return serveAdmin(ctx, cfg.DataDir, local, logger) })
	}
	tasks.Go(func() error { return recoverLoop(ctx, st, logger) })
	sch := newScheduler(st, consultations, logger)
	tasks.Go(func() error { return sch.Run(ctx) })
	tasks.Go(func() error { return housekeeping(ctx, st, logger) })

	if cfg.HTTPAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		})
		names := ch.names
		if terminal {
			names = []string{console.Channel}
		}
		mux.Handle("GET /metrics", metricsHandler(st, names))
		ch.mount(mux)
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			if terminal {
				// The terminal does not need the listener; say so and go on.
				logger.Warn("HTTP listener off", "addr", cfg.HTTPAddr, "err", err)
			} else {
				return fmt.Errorf("CONSULTBOT_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
			}
		} else {
			logger.Info("listening", "addr", ln.Addr().String())
			tasks.Go(func() error { return serveHTTP(ctx, ln, mux) })
		}
	}

	if !terminal {
		for _, run := range ch.runs {
			tasks.Go(func() error { return run(ctx) })
		}
		logger.Info("consultbot running", "consultations", idList(consultations), "channels", ch.names)
		<-ctx.Done()
		return tasks.Wait()
	}

	start := ""
	if *only != "" {
		c, ok := local.consultations[*only]
		if !ok {
			return fmt.Errorf("--consultation %q: no such consultation in %s (have: %s)", *only, cfg.Flows, idList(consultations))
		}
		codes, err := st.CreateInvites(ctx, c.ID, 1, time.Now())
		if err != nil {
			return err
		}
		start = codes[0]
	}
	name := *as
	if name == "" {
		name = "local"
		if u, err := user.Current(); err == nil && u.Username != "" {
			name = u.Username
		}
	}
	fmt.Fprintf(std.err, "consultbot: talking in the terminal as console:%s. To go live, set TELEGRAM_BOT_TOKEN or SLACK_BOT_TOKEN (see the README).\n\n", name)
	con := console.New(console.Config{In: std.in, Out: std.out, Identity: "console:" + name, Start: start}, runner, st)
	err = con.Run(ctx)
	cancel()
	if werr := tasks.Wait(); err == nil {
		err = werr
	}
	return err
}

// loadFlows reads and checks every consultation file in dir, reporting each
// problem with its file, line and column.
func loadFlows(dir string, stderr io.Writer) ([]*flows.Consultation, error) {
	cs, err := flows.LoadDir(dir)
	if err != nil {
		var fe flows.Errors
		if errors.As(err, &fe) {
			for _, e := range fe {
				fmt.Fprintln(stderr, e)
			}
			return nil, fmt.Errorf("consultation files in %s have %d problem(s)", dir, len(fe))
		}
		return nil, err
	}
	return cs, nil
}

// saveConsultations records the version of each consultation file, so answers
// can say which version they answered.
func saveConsultations(ctx context.Context, st *storage.Store, cs []*flows.Consultation) error {
	for _, c := range cs {
		src, err := os.ReadFile(c.File)
		if err != nil {
			return err
		}
		if err := st.SaveConsultation(ctx, c, src); err != nil {
			return fmt.Errorf("saving consultation %s: %w", c.ID, err)
		}
	}
	return nil
}

func byID(cs []*flows.Consultation) map[string]*flows.Consultation {
	m := make(map[string]*flows.Consultation, len(cs))
	for _, c := range cs {
		m[c.ID] = c
	}
	return m
}

func idList(cs []*flows.Consultation) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return fmt.Sprint(sortedStrings(ids))
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// quietLogger logs only errors: for the short commands beside the bot.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

// recoverLoop turns messages whose send was cut off mid-request into
// "unknown" ones, now and then.
func recoverLoop(ctx context.Context, st *storage.Store, logger *slog.Logger) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if n, err := st.Recover(ctx, now); err != nil && ctx.Err() == nil {
				logger.Error("outbox recovery", "err", err)
			} else if n > 0 {
				logger.Warn("messages whose delivery is unknown", "count", n)
			}
		}
	}
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// taskGroup runs functions in goroutines, collects their errors, and
// cancels the others when one fails.
type taskGroup struct {
	cancel func()
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func (g *taskGroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
			if g.cancel != nil {
				g.cancel()
			}
		}
	}()
}

func (g *taskGroup) Wait() error {
	g.wg.Wait()
	return errors.Join(g.errs...)
}
