package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/consultbot/consultbot/storage"
)

func cmdForget(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	fs := newFlagSet("forget", "forget PARTICIPANT [flags]   (a pseudonymous id p_..., or tg:123, slack:T1:U2)", std.err)
	get := configFlags(fs, getenv)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("forget needs one participant: a pseudonymous id or a channel identity such as tg:123")
	}
	cfg, err := get()
	if err != nil {
		return err
	}
	return withStore(ctx, cfg, std, func(a admin) error {
		f, err := a.Forget(ctx, pos[0])
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no participant %q: nothing to delete", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "Deleted participant %s: %d identities, %d sessions, %d answers, %d queued messages, %d reminders.\n",
			f.Participant, f.Identities, f.Sessions, f.Answers, f.Outbox, f.Jobs)
		if f.Untraceable > 0 {
			fmt.Fprintf(std.out, "%d finished anonymous response(s) stay: they carry no link to the person, so they cannot be found to delete.\n", f.Untraceable)
		}
		return nil
	})
}
