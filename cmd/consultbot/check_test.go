package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runCheck runs "consultbot check" with args and returns its output.
func runCheck(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err = run(t.Context(), append([]string{"check"}, args...), getenv, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), err
}

func TestCheckExamples(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"folder", nil, []string{examples}},
		{"files", nil, []string{filepath.Join(examples, "draft-questions.yaml"), filepath.Join(examples, "draft-findings.yaml"), filepath.Join(examples, "action-group-checkin.yaml")}},
		{"flows folder from the environment", map[string]string{"CONSULTBOT_FLOWS": examples}, nil},
		{"flows folder from the flag", nil, []string{"--flows", examples}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCheck(t, tt.env, tt.args...)
			if err != nil || stderr != "" {
				t.Fatalf("check: got %v, stderr %q; want no error", err, stderr)
			}
			for _, id := range []string{"draft-questions", "draft-findings", "action-group-checkin"} {
				if !strings.Contains(stdout, "ok ("+id+",") {
					t.Errorf("output does not say %s is ok:\n%s", id, stdout)
				}
			}
			if !strings.HasSuffix(stdout, "3 files checked: all valid\n") {
				t.Errorf("summary: got %q, want it to end with %q", stdout, "3 files checked: all valid\n")
			}
		})
	}
}

// TestCheckBroken checks every file of the broken folder: each error of
// flows/testdata/broken/expected.txt is printed with the path given.
func TestCheckBroken(t *testing.T) {
	dir := filepath.Join("..", "..", "flows", "testdata", "broken")
	expected, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	files := map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(string(expected), "\n"), "\n") {
		want = append(want, filepath.Join(dir, line))
		name, _, _ := strings.Cut(line, ":")
		files[name] = true
	}
	stdout, stderr, err := runCheck(t, nil, dir)
	if !errors.Is(err, errReported) {
		t.Errorf("check: got error %v, want errReported (exit 1)", err)
	}
	if stdout != "" {
		t.Errorf("stdout: got %q, want nothing", stdout)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) == 0 {
		t.Fatal("no output")
	}
	got, summary := lines[:len(lines)-1], lines[len(lines)-1]
	if !slices.Equal(got, want) {
		t.Errorf("errors:\ngot\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	wantSummary := strconv.Itoa(len(paths)) + " files checked: " + strconv.Itoa(len(files)) + " with problems (" + strconv.Itoa(len(want)) + " errors)"
	if summary != wantSummary {
		t.Errorf("summary: got %q, want %q", summary, wantSummary)
	}
}

func TestCheckMixed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	missing := filepath.Join(dir, "missing.yaml")
	empty := filepath.Join(dir, "empty")
	for path, text := range map[string]string{
		good: "id: good\ntitle: Good\nconsent: {version: 1, text: Thanks.}\nquestions:\n  - {id: q1, type: text, text: Anything to add}\n",
		bad:  "id: good\ntitle: Bad\nconsent: {version: 1, text: Thanks.}\nquestions:\n  - {id: q1, type: scale, text: How clear, min: 5, max: 1}\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantStderr []string
		wantStdout string
	}{
		{"one good file", []string{good}, false, nil, good + ": ok (good, 1 question)\n1 file checked: all valid\n"},
		{"good, bad and missing", []string{good, bad, missing}, true, []string{
			bad + `:5:57: question "q1": the scale's max (1) must be greater than its min (5), like min: 1 and max: 5`,
			missing + ": cannot read the file: no such file or directory",
			"3 files checked: 2 with problems (2 errors)",
		}, ""},
		{"the same id twice", []string{good, good}, true, []string{
			good + `:1:5: consultation id "good" is also used by ` + good + "; each consultation needs its own id",
			"2 files checked: 1 with problems (1 error)",
		}, ""},
		{"an empty folder", []string{empty, good}, true, []string{
			empty + ": no consultation files (*.yaml or *.yml) in this folder",
			"1 file checked: all valid, but 1 folder was empty or unreadable",
		}, good + ": ok (good, 1 question)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCheck(t, nil, tt.args...)
			if tt.wantErr != errors.Is(err, errReported) || (!tt.wantErr && err != nil) {
				t.Errorf("check: got error %v, want errReported %v", err, tt.wantErr)
			}
			var got []string
			if stderr != "" {
				got = strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			}
			if !slices.Equal(got, tt.wantStderr) {
				t.Errorf("stderr:\ngot  %q\nwant %q", got, tt.wantStderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout: got %q, want %q", stdout, tt.wantStdout)
			}
		})
	}
}

func TestCheckHelp(t *testing.T) {
	_, stderr, err := runCheck(t, nil, "--help")
	if err != nil {
		t.Errorf("check --help: got %v, want nil", err)
	}
	if !strings.Contains(stderr, "Usage: consultbot check") || !strings.Contains(stderr, "-flows") {
		t.Errorf("check --help printed %q, want the usage with --flows", stderr)
	}
	if _, _, err := runCheck(t, nil, "--frobnicate"); !errors.Is(err, errReported) {
		t.Errorf("check --frobnicate: got %v, want errReported", err)
	}
}
