package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary doubles as the consultbot command: with
// CONSULTBOT_TEST_MAIN=1 it runs main with its arguments after "--". Tests use
// it for what needs a real process: a SIGKILL, a second process on the same
// data directory, the command beside a running bot.
func TestMain(m *testing.M) {
	if os.Getenv("CONSULTBOT_TEST_MAIN") == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Args = append([]string{"consultbot"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testCommand returns an exec.Cmd that runs consultbot with args in the
// repository root (so examples/ is found), with only the given environment.
func testCommand(t *testing.T, ctx context.Context, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append([]string{"CONSULTBOT_TEST_MAIN=1", "HOME=" + t.TempDir(), "CONSULTBOT_HTTP_ADDR="}, env...)
	return cmd
}

// consultbot runs the command to completion with stdin and returns its
// standard output and error.
func consultbot(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := testCommand(t, t.Context(), env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(t.Context(), []string{"--help"}, func(string) string { return "" }, streams{in: strings.NewReader(""), out: &out, err: &errb})
	if err != nil {
		t.Fatalf("run --help: %v", err)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("usage does not mention %q:\n%s", c.name, out.String())
		}
	}
	err = run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, streams{in: strings.NewReader(""), out: &out, err: &errb})
	if err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: got %v, want an error naming it", err)
	}
}
