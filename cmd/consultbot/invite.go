package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// inviteRequest asks for invite codes to a consultation.
type inviteRequest struct {
	Consultation string   `json:"consultation"`
	Count        int      `json:"count"`
	Slack        []string `json:"slack,omitempty"` // Slack user ids to start the consultation with by DM
}

// inviteResult is what an invite made.
type inviteResult struct {
	Codes    []string `json:"codes"`
	Links    []string `json:"links,omitempty"`    // Telegram deep links, one per code
	Slack    []string `json:"slack,omitempty"`    // Slack users the consultation was started with
	Warnings []string `json:"warnings,omitempty"` // what could not be done, in words
}

func cmdInvite(ctx context.Context, args []string, getenv func(string) string, std streams) error {
	fs := newFlagSet("invite", "invite CONSULTATION [--count N] [--slack U123,U456] [flags]", std.err)
	get := configFlags(fs, getenv)
	count := fs.Int("count", 1, "how many invite codes to make (1-10000)")
	slackUsers := fs.String("slack", "", "Slack user ids to start the consultation with by direct message, comma-separated")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("invite needs one consultation id")
	}
	if *count < 1 || *count > 10000 {
		return fmt.Errorf("--count %d: want 1 to 10000", *count)
	}
	cfg, err := get()
	if err != nil {
		return err
	}
	req := inviteRequest{Consultation: pos[0], Count: *count}
	for _, u := range strings.Split(*slackUsers, ",") {
		if u = strings.TrimSpace(u); u != "" {
			req.Slack = append(req.Slack, u)
		}
	}
	if len(req.Slack) > 0 && cfg.SlackBotToken == "" {
		return errors.New("--slack needs SLACK_BOT_TOKEN")
	}
	return withStore(ctx, cfg, std, func(a admin) error {
		res, err := a.Invite(ctx, req)
		if err != nil {
			return err
		}
		for i, code := range res.Codes {
			line := code
			if i < len(res.Links) {
				line += "  " + res.Links[i]
			}
			fmt.Fprintln(std.out, line)
		}
		for _, u := range res.Slack {
			fmt.Fprintf(std.err, "started %s with Slack user %s\n", req.Consultation, u)
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(std.err, "note:", w)
		}
		fmt.Fprintf(std.err, "%s invite code(s) for %s\n", strconv.Itoa(len(res.Codes)), req.Consultation)
		return nil
	})
}
