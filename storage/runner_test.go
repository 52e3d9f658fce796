package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/consultbot/consultbot/flows"
)

func TestRunnerCompletesAConsultation(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		steps := []struct {
			in   flows.Input
			want string // in the replies
		}{
			{flows.Input{Command: flows.CmdStart}, "Do you agree to take part?"},
			{flows.Input{Text: "yes"}, "How clear is the first question?"},
			{flows.Input{Text: "2"}, "How would you word it instead?"},
			{flows.Input{Text: "Say what support means"}, "Which best describes you?"},
			{flows.Input{Text: "Peer mentor"}, "Thank you."},
		}
		for _, st := range steps {
			got := texts(h.send("console:ana", st.in))
			if !strings.Contains(got, st.want) {
				t.Fatalf("after %+v: got replies %q, want %q in them", st.in, got, st.want)
			}
		}
		p, err := s.Participant(context.Background(), "console:ana")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ID, "p_") || len(p.ID) != 18 || p.Active != "draft" || p.Addresses["console"] != "console:ana" {
			t.Errorf("participant: got %+v", p)
		}
		if byID, err := s.Participant(context.Background(), p.ID); err != nil || byID.ID != p.ID {
			t.Errorf("Participant(by id): got %+v, %v", byID, err)
		}
		rs, err := s.Responses(context.Background(), "draft")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 {
			t.Fatalf("responses: got %d, want 1", len(rs))
		}
		r := rs[0]
		if r.Participant != p.ID || r.Status != ResponseCompleted || r.Version == "" || !r.Started.Equal(t0) {
			t.Errorf("response: got %+v", r)
		}
		want := map[string]any{"q1": 2.0, "q1_reword": "Say what support means", "role": "Peer mentor"}
		if len(r.Answers) != len(want) {
			t.Errorf("answers: got %v, want %v", r.Answers, want)
		}
		for q, v := range want {
			if got := r.Answers[q].Value(); got != v {
				t.Errorf("answer %s: got %v, want %v", q, got, v)
			}
		}
	})
}

func TestRunnerStartRouting(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		all := loadTestConsultations(t)
		codes, err := s.CreateInvites(ctx, "panel", 1, t0)
		if err != nil {
			t.Fatal(err)
		}

		// Invitation only: no open consultation.
		h := newHarness(t, s, only(all, "panel"))
		if got := texts(h.send("console:a", flows.Input{Command: flows.CmdStart})); !strings.Contains(got, msgByInvitation) {
			t.Errorf("start with nothing open: got %q, want the invitation message", got)
		}
		if got := texts(h.send("console:a", flows.Input{Text: "hello"})); !strings.Contains(got, msgByInvitation) {
			t.Errorf("text with nothing open: got %q, want the invitation message", got)
		}
		if got := texts(h.send("console:a", flows.Input{Command: flows.CmdStart, Arg: "wrongcode1"})); !strings.Contains(got, msgBadInvite) {
			t.Errorf("start with a bad code: got %q, want the bad invite message", got)
		}
		if got := texts(h.send("console:a", flows.Input{Command: flows.CmdStart, Arg: codes[0]})); !strings.Contains(got, "Thank you for joining the panel.") {
			t.Errorf("start with an invite: got %q, want the panel's consent", got)
		}

		// Several open: a list of buttons; pressing one joins it.
		h = newHarness(t, s, only(all, "draft", "pulse", "panel"))
		got := h.send("console:b", flows.Input{Command: flows.CmdStart})
		if len(got) != 1 {
			t.Fatalf("start with two open: got %d replies, want 1", len(got))
		}
		var data []string
		for _, c := range got[0].Reply.Choices {
			data = append(data, c.Data)
		}
		if !slices.Equal(data, []string{"j:draft", "j:pulse"}) {
			t.Fatalf("offered: got %v, want [j:draft j:pulse]", data)
		}
		// A join button naming the invitation-only panel (forged, or from an
		// old list) does not let anyone in.
		if got := texts(h.send("console:c", flows.Input{Choice: "j:panel"})); !strings.Contains(got, msgGone) {
			t.Errorf("pressing a forged j:panel: got %q, want %q", got, msgGone)
		}
		if p, err := s.Participant(ctx, "console:c"); err == nil && p.Active != "" {
			t.Errorf("after a forged join button: got active %q, want none", p.Active)
		}
		if got := texts(h.send("console:b", flows.Input{Choice: "j:pulse"})); !strings.Contains(got, "Your answers are anonymous.") {
			t.Errorf("pressing j:pulse: got %q, want pulse's consent", got)
		}
		h.send("console:b", flows.Input{Text: "yes"})

		// Starting another while one is in progress is asked first.
		got = h.send("console:b", flows.Input{Command: flows.CmdStart, Arg: "draft"})
		if !strings.Contains(texts(got), "Leave it for now") || len(got[0].Reply.Choices) != 2 {
			t.Fatalf("start another: got %q, want a yes/no question", texts(got))
		}
		if got := texts(h.send("console:b", flows.Input{Choice: dataSwitchNo})); !strings.Contains(got, "How are you feeling about the group?") {
			t.Errorf("no: got %q, want pulse's question again", got)
		}
		h.send("console:b", flows.Input{Command: flows.CmdStart, Arg: "draft"})
		if got := texts(h.send("console:b", flows.Input{Choice: dataSwitchYes})); !strings.Contains(got, "We would like your views") {
			t.Errorf("yes: got %q, want draft's consent", got)
		}
		p, _ := s.Participant(ctx, "console:b")
		if p.Active != "draft" || !slices.Contains(p.Consultations, "pulse") || !slices.Contains(p.Consultations, "draft") {
			t.Errorf("participant after switching: got active %q, consultations %v", p.Active, p.Consultations)
		}
	})
}

func TestRunnerIdempotentAnswerWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id := "console:idem"
		h.send(id, flows.Input{Command: flows.CmdStart})
		h.send(id, flows.Input{Text: "yes"})

		in := h.input(id, flows.Input{Text: "2"})
		if err := h.r.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
		before := h.session(id, "draft")
		// The same input again (a replay after a crash before InboxDone):
		// not applied twice, its replies not queued twice.
		for range 2 {
			if err := h.r.Handle(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		after := h.session(id, "draft")
		if after.Version != before.Version || after.State.Turn != before.State.Turn {
			t.Errorf("replayed input applied again: version %d→%d, turn %d→%d", before.Version, after.Version, before.State.Turn, after.State.Turn)
		}
		counts, _ := s.OutboxCounts(ctx, "console")
		if counts[OutPending] != 1 {
			t.Errorf("pending after replays: got %d, want 1", counts[OutPending])
		}

		// A crash between the session write and queueing the replies: the
		// replay queues them.
		if _, err := s.c(colOutbox).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
		if err := h.r.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
		if got := texts(h.deliver(id)); !strings.Contains(got, "How would you word it instead?") {
			t.Errorf("replay after lost replies: got %q, want the next question", got)
		}
		// Once sent, a replay does not send them again.
		if err := h.r.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
		if got := h.deliver(id); len(got) != 0 {
			t.Errorf("replay after sent: got %q, want nothing", texts(got))
		}

		// Writing the same answers twice leaves one document per answer.
		doc := h.session(id, "draft")
		c := only(loadTestConsultations(t), "draft")[0]
		models := answerWrites(doc, c, nil, doc.State.Answers, doc.State.Hash, doc.Response, nil)
		for range 2 {
			if err := s.writeAnswers(ctx, models); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.c(colAnswers).CountDocuments(ctx, bson.D{{Key: "response", Value: doc.Response}})
		if err != nil || n != 1 {
			t.Errorf("answers stored: got %d, %v, want 1", n, err)
		}
	})
}

func TestAnswerHistoryAndBranches(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id := "console:hist"
		h.send(id, flows.Input{Command: flows.CmdStart})
		h.send(id, flows.Input{Text: "yes"})
		h.send(id, flows.Input{Text: "2"})
		h.send(id, flows.Input{Text: "Plainer words"})
		h.advance(time.Hour)
		h.send(id, flows.Input{Command: flows.CmdBack}) // to q1_reword
		h.send(id, flows.Input{Command: flows.CmdBack}) // to q1
		// 5 leaves the rewording branch behind.
		if got := texts(h.send(id, flows.Input{Text: "5"})); !strings.Contains(got, "Which best describes you?") {
			t.Fatalf("after changing q1: got %q, want the role question", got)
		}
		doc := h.session(id, "draft")
		var a answerDoc
		if err := s.c(colAnswers).FindOne(ctx, byID(answerID(doc.Response, "q1"))).Decode(&a); err != nil {
			t.Fatal(err)
		}
		if a.Value.Number != 5 || len(a.History) != 1 || a.History[0].Number != 2 || !a.History[0].At.Equal(t0) {
			t.Errorf("q1 answer: got value %v history %+v, want 5 with history [2 at %v]", a.Value.Number, a.History, t0)
		}
		if n, _ := s.c(colAnswers).CountDocuments(ctx, byID(answerID(doc.Response, "q1_reword"))); n != 0 {
			t.Errorf("the rewording left behind: got %d documents, want 0", n)
		}
		h.send(id, flows.Input{Text: "Volunteer"})
		rs, _ := s.Responses(ctx, "draft")
		if len(rs) != 1 || len(rs[0].Answers) != 2 || rs[0].Answers["q1_reword"].Type != "" {
			t.Errorf("exported: got %+v, want q1 and role only", rs)
		}
	})
}

func TestCompareAndSet(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		doc := sessionDoc{ID: "p_x:c", Participant: "p_x", Consultation: "c", Version: 100, State: flows.Session{Turn: 1}}
		if err := s.writeSession(ctx, doc, 0, false); err != nil {
			t.Fatal(err)
		}
		if err := s.writeSession(ctx, doc, 0, false); !errors.Is(err, ErrConflict) {
			t.Errorf("creating it twice: got %v, want ErrConflict", err)
		}
		stale, _, err := s.loadSession(ctx, doc.ID)
		if err != nil {
			t.Fatal(err)
		}
		next := stale
		next.Version, next.State.Turn = stale.Version+1, 2
		if err := s.writeSession(ctx, next, stale.Version, true); err != nil {
			t.Fatal(err)
		}
		lost := stale
		lost.Version, lost.State.Turn = stale.Version+1, 99
		if err := s.writeSession(ctx, lost, stale.Version, true); !errors.Is(err, ErrConflict) {
			t.Errorf("write from a stale read: got %v, want ErrConflict", err)
		}
		got, _, _ := s.loadSession(ctx, doc.ID)
		if got.State.Turn != 2 || got.Version != 101 {
			t.Errorf("stored: got turn %d version %d, want 2 and 101", got.State.Turn, got.Version)
		}
		// A session deleted meanwhile is a conflict too.
		if _, err := s.deleteSession(ctx, doc.ID); err != nil {
			t.Fatal(err)
		}
		next = got
		next.Version++
		if err := s.writeSession(ctx, next, got.Version, true); !errors.Is(err, ErrConflict) {
			t.Errorf("write to a deleted session: got %v, want ErrConflict", err)
		}

		// Many writers, each retrying from the fresh state: no update lost.
		base := sessionDoc{ID: "p_y:c", Participant: "p_y", Consultation: "c", Version: 1}
		if err := s.writeSession(ctx, base, 0, false); err != nil {
			t.Fatal(err)
		}
		const writers, each = 8, 5
		var wg sync.WaitGroup
		conflicts := make(chan int, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 0
				for done := 0; done < each; {
					cur, _, err := s.loadSession(ctx, base.ID)
					if err != nil {
						t.Error(err)
						return
					}
					nd := cur
					nd.Version++
					nd.State.Turn++
					err = s.writeSession(ctx, nd, cur.Version, true)
					if errors.Is(err, ErrConflict) {
						n++
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					done++
				}
				conflicts <- n
			}()
		}
		wg.Wait()
		close(conflicts)
		total := 0
		for n := range conflicts {
			total += n
		}
		final, _, _ := s.loadSession(ctx, base.ID)
		if final.State.Turn != writers*each {
			t.Errorf("turns: got %d, want %d (an update was lost)", final.State.Turn, writers*each)
		}
		t.Logf("%d conflicts retried", total)
	})
}

func TestRunnerRetriesAfterConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id := "console:race"
		h.send(id, flows.Input{Command: flows.CmdStart})
		h.send(id, flows.Input{Text: "yes"})
		// Another writer changes the session between this step's read and
		// its write, once: the step must start again from the fresh state.
		sid := h.session(id, "draft").ID
		fired := false
		h.r.beforeWrite = func() {
			if fired {
				return
			}
			fired = true
			cur, _, err := s.loadSession(ctx, sid)
			if err != nil {
				t.Error(err)
				return
			}
			nd := cur
			nd.Version++
			nd.Unknown = cur.Unknown // untouched
			nd.Applied = append(slices.Clone(cur.Applied), "elsewhere")
			if err := s.writeSession(ctx, nd, cur.Version, true); err != nil {
				t.Error(err)
			}
		}
		if got := texts(h.send(id, flows.Input{Text: "4"})); !strings.Contains(got, "Which best describes you?") {
			t.Errorf("after a conflict: got %q, want the next question", got)
		}
		if !fired {
			t.Fatal("the conflicting write did not happen")
		}
		doc := h.session(id, "draft")
		if !slices.Contains(doc.Applied, "elsewhere") || doc.State.Answers["q1"].Number != 4 {
			t.Errorf("session: got applied %v, answers %v: want both writes", doc.Applied, doc.State.Answers)
		}
	})
}

func TestUnknownReasks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id := "console:lost"
		h.send(id, flows.Input{Command: flows.CmdStart})
		in := h.input(id, flows.Input{Text: "yes"})
		if err := h.r.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
		// The question's request left, no answer came.
		msgs, _ := s.Claim(ctx, "console", "w", 10, time.Minute, t0)
		if len(msgs) != 1 {
			t.Fatalf("claimed %d, want 1", len(msgs))
		}
		if err := s.Sending(ctx, msgs[0].ID, "w", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Unknown(ctx, msgs[0].ID, "timeout", t0); err != nil {
			t.Fatal(err)
		}
		if got := h.deliver(id); len(got) != 0 {
			t.Fatalf("an unknown message was claimed again: %q", texts(got))
		}
		// The participant writes something: the question is asked again,
		// and the text is not taken as its answer.
		before := h.session(id, "draft")
		got := texts(h.send(id, flows.Input{Text: "hello?"}))
		if !strings.Contains(got, "How clear is the first question?") {
			t.Errorf("after unknown: got %q, want the question asked again", got)
		}
		after := h.session(id, "draft")
		if after.State.Question != before.State.Question || len(after.State.Answers) != 0 {
			t.Errorf("re-ask changed the session: question %q→%q, answers %v", before.State.Question, after.State.Question, after.State.Answers)
		}
		// The flag is cleared: the next text is an answer.
		if got := texts(h.send(id, flows.Input{Text: "4"})); !strings.Contains(got, "Which best describes you?") {
			t.Errorf("after the re-ask: got %q, want the next question", got)
		}
	})
}

func TestWithdrawDeletesAnswers(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		id := "console:wd"
		h.completeDraft(id)
		h.send(id, flows.Input{Command: flows.CmdWithdraw})
		got := texts(h.send(id, flows.Input{Text: "yes"}))
		if !strings.Contains(got, "Deleted 3 answers.") {
			t.Errorf("withdraw: got %q, want it to say 3 answers were deleted", got)
		}
		if n, _ := s.c(colAnswers).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Errorf("answers left: got %d, want 0", n)
		}
		rs, _ := s.Responses(ctx, "draft")
		if len(rs) != 0 {
			t.Errorf("responses after withdrawal: got %+v, want none", rs)
		}
		doc := h.session(id, "draft")
		if doc.State.Status != flows.StatusWithdrawn || len(doc.State.Answers) != 0 || doc.Response != "" {
			t.Errorf("session after withdrawal: got %+v", doc)
		}
	})
}

func TestAnonymousAnswersUnlinkable(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "pulse"))
		id := "console:anon-person"
		h.send(id, flows.Input{Command: flows.CmdStart})
		h.send(id, flows.Input{Text: "yes"})
		h.advance(3 * time.Hour)
		h.send(id, flows.Input{Text: "2"})
		// While in progress the session holds the response id (branching
		// needs the answers).
		mid := h.session(id, "pulse")
		if mid.Response == "" || !strings.HasPrefix(mid.Response, "r_") {
			t.Fatalf("in progress: got response %q, want a random r_ id", mid.Response)
		}
		h.send(id, flows.Input{Text: "More notice of meetings"})
		h.send(id, flows.Input{Command: flows.CmdBack})
		h.send(id, flows.Input{Text: "Longer notice of meetings"}) // an edit: history
		h.advance(5 * time.Minute)
		if got := texts(h.send(id, flows.Input{Text: "yes"})); !strings.Contains(got, "Thanks!") {
			t.Fatalf("finishing: got %q, want the closing", got)
		}
		p, _ := s.Participant(ctx, id)
		response := mid.Response

		all := dump(t, s)
		personal := []string{p.ID, id}
		// 1. The answers and the response record name no one, and keep only
		// the day.
		if len(all[colAnswers]) != 3 {
			t.Fatalf("answers: got %d documents, want 3:\n%s", len(all[colAnswers]), strings.Join(all[colAnswers], "\n"))
		}
		for _, col := range []string{colAnswers, colResponses} {
			for _, js := range all[col] {
				for _, who := range personal {
					if strings.Contains(js, who) {
						t.Errorf("%s document names the person (%s): %s", col, who, js)
					}
				}
				if strings.Contains(js, `"participant"`) {
					t.Errorf("%s document has a participant field: %s", col, js)
				}
			}
		}
		var answers []answerDoc
		cur, _ := s.c(colAnswers).Find(ctx, bson.D{})
		if err := cur.All(ctx, &answers); err != nil {
			t.Fatal(err)
		}
		for _, a := range answers {
			times := []time.Time{a.Value.At}
			for _, old := range a.History {
				times = append(times, old.At)
			}
			for _, at := range times {
				if !at.Equal(day(t0)) {
					t.Errorf("answer %s: time %v, want the day only (%v)", a.ID, at, day(t0))
				}
			}
			if !strings.HasPrefix(a.ID, response+":") {
				t.Errorf("answer _id %q: want it keyed by the random response id", a.ID)
			}
		}
		var rec responseDoc
		if err := s.c(colResponses).FindOne(ctx, byID(response)).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec.Status != ResponseCompleted || !rec.Started.Equal(day(t0)) {
			t.Errorf("response record: got %+v, want completed on %v", rec, day(t0))
		}
		// 2. Nothing about the person points at the answers: no document
		// holding their id or identity holds the response id or an answer.
		secrets := []string{response, "Longer notice of meetings", "More notice of meetings"}
		for col, docs := range all {
			for _, js := range docs {
				mentions := false
				for _, who := range personal {
					mentions = mentions || strings.Contains(js, who)
				}
				if !mentions {
					continue
				}
				for _, sec := range secrets {
					if strings.Contains(js, sec) {
						t.Errorf("%s document links the person to %q: %s", col, sec, js)
					}
				}
			}
		}
		// 3. The session keeps only where it stands.
		doc := h.session(id, "pulse")
		if doc.State.Status != flows.StatusCompleted || doc.Response != "" || doc.State.Answers != nil || doc.Recent != nil {
			t.Errorf("ended session: got %+v, want status only", doc)
		}
		// 4. Exported without a participant.
		rs, _ := s.Responses(ctx, "pulse")
		if len(rs) != 1 || rs[0].Participant != "" || rs[0].Answers["why"].Text != "Longer notice of meetings" {
			t.Errorf("export: got %+v", rs)
		}
		// 5. Withdrawing now cannot find them, and says so.
		h.send(id, flows.Input{Command: flows.CmdWithdraw})
		h.send(id, flows.Input{Text: "yes"})
		if n, _ := s.c(colAnswers).CountDocuments(ctx, bson.D{}); n != 3 {
			t.Errorf("answers after a late withdrawal: got %d, want the 3 untraceable ones", n)
		}
	})
}

func TestForgetRemovesEveryTrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		h := newHarness(t, s, only(loadTestConsultations(t), "draft", "pulse"))
		id, other := "console:forget-me", "console:keep-me"
		h.completeDraft(id)
		h.completeDraft(other)
		// An anonymous consultation in progress, and one message never sent.
		h.send(id, flows.Input{Command: flows.CmdStart, Arg: "pulse"})
		h.send(id, flows.Input{Text: "yes"})
		h.send(id, flows.Input{Text: "1"})
		if err := h.r.Handle(ctx, h.input(id, flows.Input{Command: flows.CmdHelp})); err != nil {
			t.Fatal(err)
		}
		p, _ := s.Participant(ctx, id)

		if _, err := s.Forget(ctx, "console:nobody", t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Forget(unknown): got %v, want ErrNotFound", err)
		}
		f, err := s.Forget(ctx, id, t0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Participant != p.ID || f.Identities != 1 || f.Sessions != 2 || f.Answers != 4 || f.Outbox == 0 {
			t.Errorf("Forget: got %+v, want 1 identity, 2 sessions, 4 answers, some messages", f)
		}
		for col, docs := range dump(t, s) {
			for _, js := range docs {
				for _, who := range []string{p.ID, id} {
					if strings.Contains(js, who) {
						t.Errorf("after Forget, %s still holds %s: %s", col, who, js)
					}
				}
			}
		}
		if _, err := s.Participant(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Participant after Forget: got %v, want ErrNotFound", err)
		}
		// The other participant is untouched.
		rs, _ := s.Responses(ctx, "draft")
		if len(rs) != 1 || len(rs[0].Answers) != 3 {
			t.Errorf("others' responses after Forget: got %+v", rs)
		}
		// Coming back later starts afresh, as a new participant.
		h.send(id, flows.Input{Command: flows.CmdStart, Arg: "draft"})
		again, _ := s.Participant(ctx, id)
		if again.ID == p.ID {
			t.Errorf("after Forget the person got the same id %s back", p.ID)
		}
	})
}

func TestRunnerManyParticipantsConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		h := newHarness(t, s, only(loadTestConsultations(t), "draft"))
		const n = 12
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("console:c%d", i)
				for _, in := range []flows.Input{{Command: flows.CmdStart}, {Text: "yes"}, {Text: "4"}, {Text: "Volunteer"}} {
					if err := h.r.Handle(context.Background(), h.input(id, in)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		rs, err := s.Responses(context.Background(), "draft")
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range rs {
			if r.Status == ResponseCompleted && len(r.Answers) == 2 {
				done++
			}
		}
		if done != n {
			t.Errorf("completed responses: got %d, want %d", done, n)
		}
	})
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cs := only(loadTestConsultations(t), "draft")
	open := func() *Store {
		s, err := Open(ctx, Config{DataDir: dir, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	s := open()
	if err := s.SaveConsultation(ctx, cs[0], []byte("source")); err != nil {
		t.Fatal(err)
	}
	codes, _ := s.CreateInvites(ctx, "draft", 3, t0)
	h := newHarness(t, s, cs)
	id := "console:restart"
	h.send(id, flows.Input{Command: flows.CmdStart})
	h.send(id, flows.Input{Text: "yes"})
	h.send(id, flows.Input{Text: "2"})
	if _, err := s.InboxPut(ctx, flows.Received{ID: "console:pending:1", Channel: "console", Payload: []byte("x"), At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, msg("queued-1")); err != nil {
		t.Fatal(err)
	}
	p1, _ := s.Participant(ctx, id)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close(ctx)
	p2, err := s.Participant(ctx, id)
	if err != nil || p2.ID != p1.ID || p2.Active != "draft" {
		t.Errorf("participant after restart: got %+v, %v, want %+v", p2, err, p1)
	}
	if got, err := s.Invite(ctx, codes[2]); err != nil || got != "draft" {
		t.Errorf("invite after restart: got %q, %v", got, err)
	}
	if vs, _ := s.Versions(ctx, "draft"); len(vs) != 1 {
		t.Errorf("versions after restart: got %v", vs)
	}
	if pend, _ := s.InboxPending(ctx, "console", 10); len(pend) != 1 {
		t.Errorf("inbox after restart: got %v", pend)
	}
	if dup, _ := s.InboxPut(ctx, flows.Received{ID: "console:pending:1", Channel: "console"}); !dup {
		t.Errorf("inbox dedup after restart: got dup=false")
	}
	if counts, _ := s.OutboxCounts(ctx, "telegram"); counts[OutPending] != 1 {
		t.Errorf("outbox after restart: got %v", counts)
	}
	// The session goes on where it was.
	h = newHarness(t, s, cs)
	if got := texts(h.send(id, flows.Input{Text: "Simpler"})); !strings.Contains(got, "Which best describes you?") {
		t.Errorf("after restart: got %q, want the question after the rewording", got)
	}
	h.send(id, flows.Input{Text: "Professional"})
	rs, _ := s.Responses(ctx, "draft")
	if len(rs) != 1 || rs[0].Status != ResponseCompleted || len(rs[0].Answers) != 3 {
		t.Errorf("responses after restart: got %+v", rs)
	}
}

func TestCloseSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		pulse := *only(loadTestConsultations(t), "pulse")[0]
		pulse.ClosesAt = t0.Add(24 * time.Hour)
		h := newHarness(t, s, []*flows.Consultation{&pulse, only(loadTestConsultations(t), "draft")[0]})
		id, stopper, named := "console:left-halfway", "console:stopped", "console:named"
		h.send(id, flows.Input{Command: flows.CmdStart, Arg: "pulse"})
		h.send(id, flows.Input{Text: "yes"})
		h.send(id, flows.Input{Text: "1"})
		h.send(id, flows.Input{Text: "Fewer meetings at night"})
		response := h.session(id, "pulse").Response
		h.send(stopper, flows.Input{Command: flows.CmdStart, Arg: "pulse"})
		h.send(stopper, flows.Input{Text: "yes"})
		h.send(stopper, flows.Input{Text: "4"})
		h.send(stopper, flows.Input{Command: flows.CmdStop})
		h.send(named, flows.Input{Command: flows.CmdStart, Arg: "draft"})
		h.send(named, flows.Input{Text: "yes"})

		views, err := s.Views(ctx, "pulse")
		if err != nil {
			t.Fatal(err)
		}
		if len(views) != 1 || views[0].Identity != id || views[0].To != id || views[0].Channel != "console" || views[0].Answers != nil {
			t.Errorf("Views(pulse): got %+v, want the unfinished anonymous session, without answers", views)
		}
		v, err := s.View(ctx, "draft", named)
		if err != nil || v.Status != flows.StatusActive || v.Identity != named {
			t.Errorf("View(draft, %s): got %+v, %v", named, v, err)
		}
		if _, err := s.View(ctx, "pulse", named); !errors.Is(err, ErrNotFound) {
			t.Errorf("View of no session: got %v, want ErrNotFound", err)
		}

		n, err := s.CloseSessions(ctx, "pulse", pulse.ClosesAt)
		if err != nil || n != 2 {
			t.Fatalf("CloseSessions: got %d, %v, want 2 (one closed and sealed, one stopped and sealed)", n, err)
		}
		doc := h.session(id, "pulse")
		if doc.Response != "" || doc.State.Answers != nil || doc.State.Status != flows.StatusClosed {
			t.Errorf("closed session: got %+v", doc)
		}
		if doc := h.session(stopper, "pulse"); doc.Response != "" || doc.State.Status != flows.StatusStopped {
			t.Errorf("stopped session after the close: got %+v, want it sealed, still stopped", doc)
		}
		p, _ := s.Participant(ctx, id)
		for col, docs := range dump(t, s) {
			for _, js := range docs {
				if (strings.Contains(js, p.ID) || strings.Contains(js, id)) && (strings.Contains(js, response) || strings.Contains(js, "Fewer meetings")) {
					t.Errorf("%s still links the person to the answers: %s", col, js)
				}
			}
		}
		rs, _ := s.Responses(ctx, "pulse")
		if len(rs) != 2 {
			t.Errorf("responses after closing: got %+v, want 2", rs)
		}
		if n, _ := s.CloseSessions(ctx, "pulse", pulse.ClosesAt); n != 0 {
			t.Errorf("CloseSessions again: got %d, want 0", n)
		}
		if views, _ := s.Views(ctx, "pulse"); len(views) != 0 {
			t.Errorf("Views after closing: got %+v, want none", views)
		}
	})
}

func TestEmbeddedLooksUpIDsByIndex(t *testing.T) {
	s := openShared(t, Config{})
	ctx := context.Background()
	if err := s.Enqueue(ctx, msg("m1")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.embedded.dir, "sqlite", s.db.Name()+".sqlite")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, col := range collections() {
		var table string
		if err := db.QueryRow(`SELECT table_name FROM "_ferretdb_collections" WHERE name = ?`, col).Scan(&table); err != nil {
			t.Fatalf("table of %s: %v", col, err)
		}
		// The statement FerretDB runs to update a document by _id.
		rows, err := db.Query(fmt.Sprintf(`EXPLAIN QUERY PLAN UPDATE %q SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?`, table), "{}", `"x"`)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "; "), "USING INDEX") {
			t.Errorf("%s: update by _id plan %q, want it to use an index", col, plan)
		}
	}
}
