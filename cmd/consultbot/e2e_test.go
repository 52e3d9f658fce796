package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exported is the part of `export --format json` the tests compare.
type exported struct {
	Consultation string `json:"consultation"`
	Responses    []struct {
		Participant *string        `json:"participant"`
		Response    int            `json:"response"`
		Status      string         `json:"status"`
		Version     int            `json:"version"`
		Answers     map[string]any `json:"answers"`
	} `json:"responses"`
}

func exportJSON(t *testing.T, env []string, id string) exported {
	t.Helper()
	out, errOut, err := consultbot(t, env, "", "export", id, "--format", "json")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, errOut)
	}
	var got exported
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("export output is not JSON: %v\n%s", err, out)
	}
	return got
}

// draftQuestionsScript answers examples/draft-questions.yaml by typing, with a
// branch taken (q1 reworded), a branch not taken (q2), a skip, and a yes/no.
var draftQuestionsScript = []string{
	"yes",                   // consent
	"2",                     // role: Peer mentor, by its number
	"2",                     // q1_clarity
	"It is vague",           // q1_reword (asked because q1_clarity <= 3)
	"keep it but change it", // q1_keep, by its label in another case
	"5",                     // q2_clarity (no reword)
	"keep",                  // q2_keep, by its value
	"3",                     // q3_clarity
	"skip",                  // q3_reword is optional
	"3",                     // q3_keep: Drop it
	"What helped you most?", // missing
	"no",                    // upset (upset_which not asked)
}

var draftQuestionsWant = map[string]any{
	"role":       "peer",
	"q1_clarity": 2.0,
	"q1_reword":  "It is vague",
	"q1_keep":    "change",
	"q2_clarity": 5.0,
	"q2_keep":    "keep",
	"q3_clarity": 3.0,
	"q3_keep":    "drop",
	"missing":    "What helped you most?",
	"upset":      "no",
}

func TestTerminalConsultationThenExport(t *testing.T) {
	env := []string{"CONSULTBOT_DATA_DIR=" + t.TempDir()}
	out, errOut, err := consultbot(t, env, strings.Join(draftQuestionsScript, "\n")+"\n", "run", "--consultation", "draft-questions")
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "Thank you — your answers help shape the questions we ask.") {
		t.Errorf("run did not end with the closing message:\n%s", out)
	}
	if !strings.Contains(errOut, "TELEGRAM_BOT_TOKEN") {
		t.Errorf("run did not say how to go live with a token; stderr:\n%s", errOut)
	}
	got := exportJSON(t, env, "draft-questions")
	if len(got.Responses) != 1 {
		t.Fatalf("got %d responses, want 1", len(got.Responses))
	}
	r := got.Responses[0]
	if r.Status != "completed" || r.Response != 1 || r.Version != 1 || r.Participant == nil || !strings.HasPrefix(*r.Participant, "p_") {
		t.Errorf("got response %+v, want completed response 1 of version 1 with a pseudonymous participant", r)
	}
	if !reflect.DeepEqual(r.Answers, draftQuestionsWant) {
		t.Errorf("got answers %v, want %v", r.Answers, draftQuestionsWant)
	}

	csvOut, errOut, err := consultbot(t, env, "", "export", "draft-questions", "--format", "csv")
	if err != nil {
		t.Fatalf("export csv: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(csvOut), "\n")
	wantHeader := "participant,response,status,version,role,q1_clarity,q1_reword,q1_keep,q2_clarity,q2_reword,q2_keep,q3_clarity,q3_reword,q3_keep,missing,upset,upset_which"
	if len(lines) != 2 || lines[0] != wantHeader {
		t.Fatalf("got CSV\n%s\nwant the header %s and one row", csvOut, wantHeader)
	}
	if want := ",1,completed,1,peer,2,It is vague,change,5,,keep,3,,drop,What helped you most?,no,"; !strings.HasSuffix(lines[1], want) {
		t.Errorf("got CSV row %q, want it to end with %q", lines[1], want)
	}
}

func TestRunWithNoInputExitsWithAMessage(t *testing.T) {
	env := []string{"CONSULTBOT_DATA_DIR=" + t.TempDir()}
	_, errOut, err := consultbot(t, env, "", "run", "--consultation", "draft-questions")
	if err == nil {
		t.Fatal("run with empty standard input: got exit 0, want an error")
	}
	if !strings.Contains(errOut, "standard input") {
		t.Errorf("stderr does not explain the closed input:\n%s", errOut)
	}
}

// process is a running consultbot whose output the test reads as it comes.
type process struct {
	t     *testing.T
	stdin io.WriteCloser
	wait  func() error
	kill  func()

	mu   sync.Mutex
	out  bytes.Buffer
	seen int // how much of out earlier waits consumed
	more chan struct{}
}

func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := testCommand(t, t.Context(), env, args...)
	p := &process{t: t, more: make(chan struct{}, 1)}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	var once sync.Once
	var werr error
	p.wait = func() error {
		once.Do(func() {
			<-done
			werr = cmd.Wait()
			if werr != nil {
				t.Logf("stderr:\n%s", errb.String())
			}
		})
		return werr
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
	})
	p.kill = func() { cmd.Process.Signal(syscall.SIGKILL) }
	return p
}

// waitFor waits until text appears in output not yet consumed, and consumes
// output up to its end.
func (p *process) waitFor(text string) {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		p.mu.Lock()
		rest := p.out.String()[p.seen:]
		if i := strings.Index(rest, text); i >= 0 {
			p.seen += i + len(text)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline:
			p.t.Fatalf("waited 60s for %q; output so far:\n%s", text, p.out.String())
		}
	}
}

func (p *process) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("writing %q: %v", line, err)
	}
}

// questionText is the first line of each question of draft-questions, in
// the order the script meets them.
var draftQuestionsPrompts = []string{
	"Do you agree to take part?",
	"which of these best describes you?",
	"Draft question 1:",
	"How would you word it instead?",
	"Should we keep, change or drop question 1?",
	"Draft question 2:",
	"Should we keep, change or drop question 2?",
	"Draft question 3:",
	"How would you word it instead?",
	"Should we keep, change or drop question 3?",
	"Is there a question we have not asked",
	"Could any of these questions be upsetting",
}

func TestCrashMidConversationLosesNothing(t *testing.T) {
	dir := t.TempDir()
	env := []string{"CONSULTBOT_DATA_DIR=" + dir}
	args := []string{"run", "--consultation", "draft-questions", "--participant", "sam"}

	const killAfter = 5 // answers given before the crash
	p := start(t, env, args...)
	for i := 0; i < killAfter; i++ {
		p.waitFor(draftQuestionsPrompts[i])
		p.send(draftQuestionsScript[i])
	}
	p.waitFor(draftQuestionsPrompts[killAfter]) // the answer was taken and the next question asked
	p.kill()
	if err := p.wait(); err == nil {
		t.Fatal("the killed process exited cleanly")
	}
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
		t.Logf("no LOCK file left behind: %v", err)
	}

	// The same participant starts again: they are asked the question they
	// were on, and carry on to the end.
	q := start(t, env, args...)
	q.waitFor(draftQuestionsPrompts[killAfter])
	for i := killAfter; i < len(draftQuestionsScript); i++ {
		if i > killAfter {
			q.waitFor(draftQuestionsPrompts[i])
		}
		q.send(draftQuestionsScript[i])
	}
	q.waitFor("Thank you — your answers help shape")
	q.stdin.Close()
	if err := q.wait(); err != nil {
		t.Fatalf("restarted run: %v", err)
	}
	q.mu.Lock()
	after := q.out.String()
	q.mu.Unlock()
	if n := strings.Count(after, draftQuestionsPrompts[killAfter]); n != 1 {
		t.Errorf("after the restart the current question was shown %d times, want once:\n%s", n, after)
	}

	got := exportJSON(t, env, "draft-questions")
	if len(got.Responses) != 1 {
		t.Fatalf("got %d responses, want 1: %+v", len(got.Responses), got.Responses)
	}
	if r := got.Responses[0]; r.Status != "completed" || !reflect.DeepEqual(r.Answers, draftQuestionsWant) {
		t.Errorf("got %s response with answers %v, want completed with %v", r.Status, r.Answers, draftQuestionsWant)
	}
}

func TestCommandsBesideARunningBot(t *testing.T) {
	dir := t.TempDir()
	env := []string{"CONSULTBOT_DATA_DIR=" + dir}
	p := start(t, env, "run", "--consultation", "draft-questions", "--participant", "ari")
	for i := 0; i < 3; i++ {
		p.waitFor(draftQuestionsPrompts[i])
		p.send(draftQuestionsScript[i])
	}
	p.waitFor(draftQuestionsPrompts[3])

	// A second bot on the same data directory is refused with a clear message.
	_, errOut, err := consultbot(t, env, "yes\n", "run", "--consultation", "draft-questions")
	if err == nil || !strings.Contains(errOut, "Another consultbot is running on this data directory") {
		t.Errorf("second run: got err %v, stderr:\n%s\nwant a refusal naming the data directory", err, errOut)
	}

	// Export goes through the running bot and sees the answers so far.
	got := exportJSON(t, env, "draft-questions")
	if len(got.Responses) != 1 || got.Responses[0].Status != "in_progress" {
		t.Fatalf("got responses %+v, want one in progress", got.Responses)
	}
	want := map[string]any{"role": "peer", "q1_clarity": 2.0}
	if a := got.Responses[0].Answers; !reflect.DeepEqual(a, want) {
		t.Errorf("got answers %v, want %v", a, want)
	}

	// Invite codes too.
	out, errOut, err := consultbot(t, env, "", "invite", "draft-findings", "--count", "3")
	if err != nil {
		t.Fatalf("invite: %v\n%s", err, errOut)
	}
	if codes := strings.Fields(out); len(codes) != 3 {
		t.Errorf("invite printed %q, want 3 codes", out)
	}

	// And forget: the participant's data goes, while the bot runs.
	out, errOut, err = consultbot(t, env, "", "forget", "console:ari")
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "2 answers") {
		t.Errorf("forget said %q, want it to count 2 answers", out)
	}
	if got := exportJSON(t, env, "draft-questions"); len(got.Responses) != 0 {
		t.Errorf("after forget, export has %d responses, want 0", len(got.Responses))
	}
	p.stdin.Close()
	if err := p.wait(); err != nil {
		t.Fatalf("bot: %v", err)
	}
}
