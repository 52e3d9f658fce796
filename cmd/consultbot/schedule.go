package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/consultbot/consultbot/flows"
	"github.com/consultbot/consultbot/scheduler"
	"github.com/consultbot/consultbot/storage"
)

// pruneEvery is how often housekeeping prunes the store.
const pruneEvery = 24 * time.Hour

// newScheduler returns the scheduler of a running consultbot: it plans the
// consultations' reminders, scheduled messages and closes into the store's
// jobs, and hands the due ones to the outbox. Files without a timezone are
// timed in the deployment's zone (the TZ environment variable, else the
// system's). Its owner name on claims is the host, process id and a random
// suffix, so instances sharing a database tell their claims apart. Start it
// with sch.Run(ctx).
func newScheduler(st *storage.Store, consultations []*flows.Consultation, logger *slog.Logger) *scheduler.Scheduler {
	return schedulerAt(st, consultations, logger, time.Now)
}

// schedulerAt is newScheduler on the clock now.
func schedulerAt(st *storage.Store, consultations []*flows.Consultation, logger *slog.Logger, now func() time.Time) *scheduler.Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sc := st.Scheduling(consultations)
	return scheduler.New(st.Jobs(), sc, sc, scheduler.Options{
		Now:    now,
		Logger: logger.With("part", "scheduler"),
		Policy: scheduler.Policy{Location: time.Local},
	})
}

// housekeeping prunes the store at start and then daily, until ctx ends:
// the text of messages and reminders gone out longer than the retention
// period, processed inbox ids as old, and past days' reminder counts.
// Errors are logged; the next round tries again.
func housekeeping(ctx context.Context, st *storage.Store, logger *slog.Logger) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if err := prune(ctx, st, time.Now()); err != nil && ctx.Err() == nil {
			logger.Error("pruning the store", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// prune does one round of housekeeping at now.
func prune(ctx context.Context, st *storage.Store, now time.Time) error {
	if _, err := st.Prune(ctx, now); err != nil {
		return err
	}
	_, err := st.Jobs().Prune(ctx, now)
	return err
}
