package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/consultbot/consultbot/flows"
)

// Runner messages that do not belong to any consultation.
const (
	msgByInvitation = "This bot runs consultations by invitation. If you have an invite link, open it, or ask the team for one."
	msgBadInvite    = "Sorry, that invite code is not valid. Check the link, or ask the team for a new one."
	msgPickOne      = "Which consultation would you like to take part in?"
	msgGone         = "Sorry, that consultation is not available any more."
	msgClosed       = "Sorry, that consultation has closed."
	msgCarryOn      = "OK, carrying on where you were."
	msgUntraceable  = "Your answers to this consultation were anonymous: once finished they can no longer be traced to you, so there is nothing of yours to delete."
)

// Button data of the runner's own buttons (Choice.Data, at most 32 bytes).
const (
	dataJoin      = "j:" // + consultation id: join it
	dataSwitchYes = "sw:y"
	dataSwitchNo  = "sw:n"
)

// maxAttempts bounds the retries of a step that lost a compare-and-set.
const maxAttempts = 8

// RunnerOptions are the runner's settings.
type RunnerOptions struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

// Runner applies participants' input to their sessions: it loads the
// session, lets the engine advance it, stores answers and session with one
// conditional write each, and queues the replies in the outbox. Updates of
// one participant are handled in order (a lock per identity in this process,
// the version check between processes).
type Runner struct {
	s     *Store
	cons  map[string]*flows.Consultation
	order []*flows.Consultation
	now   func() time.Time
	log   *slog.Logger

	beforeWrite func() // tests: runs between a step's read and its session write
}

// NewRunner returns a runner for the given consultations.
func NewRunner(s *Store, consultations []*flows.Consultation, opts RunnerOptions) *Runner {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{s: s, cons: map[string]*flows.Consultation{}, now: opts.Now, log: opts.Logger}
	for _, c := range consultations {
		if _, dup := r.cons[c.ID]; dup {
			continue
		}
		r.cons[c.ID] = c
		r.order = append(r.order, c)
	}
	return r
}

// turn is what one input produces: replies not tied to a session (under
// their own ids), then the step of one session, if any.
type turn struct {
	p     participantDoc
	in    flows.Input
	now   time.Time
	extra []flows.Reply
}

// Handle applies one input. When it returns nil the answers are stored and
// the replies queued; the channel may then mark the input processed. An
// input handled again (a replay after a crash) is not applied twice, and
// its replies are queued again (idempotently).
func (r *Runner) Handle(ctx context.Context, in flows.Input) error {
	if in.Participant == "" || in.ID == "" {
		return fmt.Errorf("storage: runner: an input needs an ID and a Participant")
	}
	unlock := r.s.locks.lock("identity:" + in.Participant)
	defer unlock()

	now := r.now()
	p, err := r.s.person(ctx, in.Participant, now)
	if err != nil {
		return err
	}
	t := &turn{p: p, in: in, now: now}
	if err := r.remember(ctx, t); err != nil {
		return err
	}
	return r.route(ctx, t)
}

// remember records where to reach the participant on this channel and the
// language the platform reports; a message from them also means they can
// be reached again.
func (r *Runner) remember(ctx context.Context, t *turn) error {
	in, next := t.in, t.p.clone()
	var set bson.D
	var pull bool
	if in.ReplyTo != "" && next.Addresses[in.Channel] != in.ReplyTo {
		if next.Addresses == nil {
			next.Addresses = map[string]string{}
		}
		next.Addresses[in.Channel] = in.ReplyTo
		set = append(set, bson.E{Key: "addresses." + in.Channel, Value: in.ReplyTo})
	}
	if in.Language != "" && next.Language != in.Language {
		next.Language = in.Language
		set = append(set, bson.E{Key: "language", Value: in.Language})
	}
	if slices.Contains(next.Unreachable, in.Participant) {
		next.Unreachable = slices.DeleteFunc(next.Unreachable, func(s string) bool { return s == in.Participant })
		pull = true
	}
	if len(set) == 0 && !pull {
		return nil
	}
	var update bson.D
	if len(set) > 0 {
		update = append(update, bson.E{Key: "$set", Value: set})
	}
	if pull {
		update = append(update, bson.E{Key: "$pull", Value: bson.D{{Key: "unreachable", Value: in.Participant}}})
	}
	if err := r.s.updatePerson(ctx, in.Participant, next, update); err != nil {
		return err
	}
	t.p = next
	return nil
}

// route decides which consultation the input goes to.
func (r *Runner) route(ctx context.Context, t *turn) error {
	in := t.in
	switch {
	case in.Choice == dataSwitchYes || in.Choice == dataSwitchNo:
		target := t.p.Pending
		if err := r.setPending(ctx, t, ""); err != nil {
			return err
		}
		if in.Choice == dataSwitchYes && target != "" {
			return r.join(ctx, t, target, true)
		}
		if t.p.Active == "" || r.cons[t.p.Active] == nil {
			return r.startAny(ctx, t)
		}
		t.extra = append(t.extra, flows.Reply{Text: msgCarryOn})
		return r.step(ctx, t, t.p.Active, true)
	case strings.HasPrefix(in.Choice, dataJoin):
		// Only open consultations are offered as buttons: a button naming
		// another (forged, or from a list made before a file changed) is
		// not a way in without an invite.
		cid := strings.TrimPrefix(in.Choice, dataJoin)
		if c, ok := r.cons[cid]; !ok || (!c.Open && cid != t.p.Active) {
			return r.say(ctx, t, flows.Reply{Text: msgGone})
		}
		return r.join(ctx, t, cid, false)
	case in.Command == flows.CmdStart && strings.TrimSpace(in.Arg) != "":
		arg := strings.TrimSpace(in.Arg)
		if c, ok := r.cons[arg]; ok && c.Open {
			return r.join(ctx, t, arg, false)
		}
		cid, err := r.s.Invite(ctx, arg)
		if errors.Is(err, ErrNotFound) {
			return r.say(ctx, t, flows.Reply{Text: msgBadInvite})
		}
		if err != nil {
			return err
		}
		return r.join(ctx, t, cid, false)
	case t.p.Active == "" || r.cons[t.p.Active] == nil:
		// No consultation yet, or the one they were in is no longer loaded.
		return r.startAny(ctx, t)
	case in.Command == flows.CmdStart:
		doc, ok, err := r.s.loadSession(ctx, sessionID(t.p.ID, t.p.Active))
		if err != nil {
			return err
		}
		if ok && !doc.State.Status.Ended() {
			return r.step(ctx, t, t.p.Active, false)
		}
		return r.startAny(ctx, t)
	}
	return r.step(ctx, t, t.p.Active, false)
}

// open lists the consultations anyone may start now.
func (r *Runner) open(now time.Time) []*flows.Consultation {
	var out []*flows.Consultation
	for _, c := range r.order {
		if c.Open && r.running(c, now) {
			out = append(out, c)
		}
	}
	return out
}

// running reports whether c takes part at now: opened and not closed.
func (r *Runner) running(c *flows.Consultation, now time.Time) bool {
	return (c.OpensAt.IsZero() || !now.Before(c.OpensAt)) && (c.ClosesAt.IsZero() || now.Before(c.ClosesAt))
}

// startAny starts the only open consultation, or offers the open ones, or
// explains that invitations are needed.
func (r *Runner) startAny(ctx context.Context, t *turn) error {
	open := r.open(t.now)
	switch len(open) {
	case 0:
		return r.say(ctx, t, flows.Reply{Text: msgByInvitation})
	case 1:
		return r.join(ctx, t, open[0].ID, false)
	}
	reply := flows.Reply{Text: msgPickOne}
	for _, c := range open {
		reply.Choices = append(reply.Choices, flows.Choice{Label: c.Title.In(t.p.Language, c.Language), Data: dataJoin + c.ID})
	}
	return r.say(ctx, t, reply)
}

// join moves the participant to consultation cid and starts (or resumes)
// it there. Leaving a consultation in progress is asked first, unless
// confirmed already.
func (r *Runner) join(ctx context.Context, t *turn, cid string, confirmed bool) error {
	c, ok := r.cons[cid]
	if !ok {
		return r.say(ctx, t, flows.Reply{Text: msgGone})
	}
	if !r.running(c, t.now) {
		return r.say(ctx, t, flows.Reply{Text: msgClosed})
	}
	start := t.in
	start.Command, start.Arg, start.Text, start.Choice = flows.CmdStart, "", "", ""
	t.in = start
	if t.p.Active == cid {
		return r.step(ctx, t, cid, false)
	}
	if t.p.Active != "" && !confirmed {
		doc, ok, err := r.s.loadSession(ctx, sessionID(t.p.ID, t.p.Active))
		if err != nil {
			return err
		}
		if ok && !doc.State.Status.Ended() {
			if err := r.setPending(ctx, t, cid); err != nil {
				return err
			}
			cur := t.p.Active
			curTitle, nextTitle := cur, cid
			if cc := r.cons[cur]; cc != nil {
				curTitle = cc.Title.In(t.p.Language, cc.Language)
			}
			nextTitle = c.Title.In(t.p.Language, c.Language)
			return r.say(ctx, t, flows.Reply{
				Text: fmt.Sprintf("You are in the middle of %q. Leave it for now and start %q? Your answers so far are kept.", curTitle, nextTitle),
				Choices: []flows.Choice{
					{Label: "Yes", Data: dataSwitchYes},
					{Label: "No", Data: dataSwitchNo},
				},
			})
		}
	}
	next := t.p.clone()
	next.Active, next.Pending = cid, ""
	set := bson.D{{Key: "active", Value: cid}}
	update := bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "pending", Value: ""}}}}
	if !slices.Contains(next.Consultations, cid) {
		next.Consultations = append(next.Consultations, cid)
		update = append(update, bson.E{Key: "$addToSet", Value: bson.D{{Key: "consultations", Value: cid}}})
	}
	if err := r.s.updatePerson(ctx, t.in.Participant, next, update); err != nil {
		return err
	}
	t.p = next
	return r.step(ctx, t, cid, false)
}

// setPending records (or clears, with "") the consultation waiting for the
// participant's yes to leave the active one.
func (r *Runner) setPending(ctx context.Context, t *turn, cid string) error {
	if t.p.Pending == cid {
		return nil
	}
	next := t.p.clone()
	next.Pending = cid
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: cid}}}}
	if cid == "" {
		update = bson.D{{Key: "$unset", Value: bson.D{{Key: "pending", Value: ""}}}}
	}
	if err := r.s.updatePerson(ctx, t.in.Participant, next, update); err != nil {
		return err
	}
	t.p = next
	return nil
}

// say queues replies that belong to no session step.
func (r *Runner) say(ctx context.Context, t *turn, replies ...flows.Reply) error {
	t.extra = append(t.extra, replies...)
	return r.flushExtra(ctx, t, "")
}

// flushExtra queues the replies of t not tied to a session step, under ids
// in.ID + ":p" + index (checked: an input replayed does not send them twice).
func (r *Runner) flushExtra(ctx context.Context, t *turn, session string) error {
	if len(t.extra) == 0 {
		return nil
	}
	msgs := make([]flows.Outgoing, len(t.extra))
	for i, rp := range t.extra {
		msgs[i] = r.outgoing(t, fmt.Sprintf("%s:p%d", t.in.ID, i), rp, session)
	}
	t.extra = nil
	return r.s.Enqueue(ctx, msgs...)
}

func (r *Runner) outgoing(t *turn, id string, rp flows.Reply, session string) flows.Outgoing {
	to := t.in.ReplyTo
	if to == "" {
		to = t.p.Addresses[t.in.Channel]
	}
	o := flows.Outgoing{
		ID: id, Channel: t.in.Channel, Participant: t.in.Participant, To: to,
		Reply: rp, Session: session, Created: t.now,
	}
	if rp.Edit {
		o.EditRef = t.in.Ref
	}
	return o
}

// step applies the input to the participant's session in consultation cid.
// reask asks the current question again instead of applying the input.
func (r *Runner) step(ctx context.Context, t *turn, cid string, reask bool) error {
	c, ok := r.cons[cid]
	if !ok {
		return r.say(ctx, t, flows.Reply{Text: msgGone})
	}
	sid := sessionID(t.p.ID, cid)
	st := &attempts{answers: map[string]bool{}, responses: map[string]bool{}}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		doc, exists, err := r.s.loadSession(ctx, sid)
		if err != nil {
			return err
		}
		if exists && slices.Contains(doc.Applied, t.in.ID) {
			// Handled before: what routing said this time (it may differ,
			// having seen the effects of the first time) is not sent.
			t.extra = nil
			return r.replay(ctx, doc, t.in.ID)
		}
		if err := r.flushExtra(ctx, t, sid); err != nil {
			return err
		}
		if !exists {
			doc = sessionDoc{
				ID: sid, Participant: t.p.ID, Consultation: cid, Anonymous: c.Anonymous,
				State: flows.Session{Participant: t.p.ID, Consultation: cid, Channel: t.in.Channel, Language: t.p.Language},
			}
		}
		err = r.apply(ctx, t, c, doc, exists, reask, st)
		if errors.Is(err, ErrConflict) {
			r.log.DebugContext(ctx, "session changed meanwhile; trying again", "session", sid, "attempt", attempt+1)
			continue
		}
		return err
	}
	return fmt.Errorf("storage: session %s: gave up after %d conflicting writes: %w", sid, maxAttempts, ErrConflict)
}

// attempts is what the attempts of one step wrote: an attempt that lost a
// conflict may have written answers or a response record the next attempt
// must put right.
type attempts struct {
	answers   map[string]bool // answer ids written
	responses map[string]bool // response ids written
	deleted   int             // answers deleted (withdrawal)
	anonID    string          // the response id a new anonymous response gets
}

// apply is one attempt at a step from the stored session doc.
func (r *Runner) apply(ctx context.Context, t *turn, c *flows.Consultation, doc sessionDoc, exists, reask bool, st *attempts) error {
	in, now := t.in, t.now
	old := doc.State
	flagged := doc.Unknown > doc.Reasked
	var next flows.Session
	var replies []flows.Reply
	if reask || (flagged && in.Command == "" && in.Choice == "") {
		// A message may not have arrived: ask where the session stands
		// instead of taking this text as the answer to it.
		next, replies = old, c.Ask(old, now)
	} else {
		var err error
		next, replies, err = c.Advance(old, in, now)
		if err != nil {
			return fmt.Errorf("storage: session %s: %w", doc.ID, err)
		}
	}

	nd := doc
	nd.State = next
	nd.Reasked = doc.Unknown
	nd.Anonymous = c.Anonymous
	if exists {
		nd.Version = doc.Version + 1
	} else {
		nd.Version = newVersion()
	}

	oldLive := liveAnswers(c, old.Answers)
	nextLive := liveAnswers(c, next.Answers)
	rstatus := responseStatus(next.Status)
	withdrawn := next.Status == flows.StatusWithdrawn && old.Status != flows.StatusWithdrawn
	seal := c.Anonymous && sealing(next.Status)

	switch {
	case withdrawn:
		if doc.Response == "" && c.Anonymous && old.Status.Ended() {
			// Sealed already: nothing links the answers to this person. (The
			// engine says so itself after a completed session.)
			if old.Status != flows.StatusCompleted {
				replies = append(replies, flows.Reply{Text: msgUntraceable})
			}
			break
		}
		questions := make([]string, 0, len(c.Questions)+len(old.Answers))
		for _, q := range c.Questions {
			questions = append(questions, q.ID)
		}
		for q := range old.Answers {
			questions = append(questions, q)
		}
		n, err := r.s.purgeResponse(ctx, doc.Response, questions)
		if err != nil {
			return err
		}
		st.deleted += n
		replies = append(replies, flows.Reply{Text: deletedText(max(st.deleted, len(oldLive)))})
		nd.Response, nd.RStatus = "", ""
		nd.State.Answers, nd.State.Asked, nd.State.Selected = nil, nil, nil
	case rstatus != "" || doc.Response != "":
		if nd.Response == "" {
			if c.Anonymous {
				if st.anonID == "" {
					st.anonID = newResponseID()
				}
				nd.Response = st.anonID
			} else {
				nd.Response = doc.ID
			}
		}
		if err := r.s.undoStale(ctx, st, nd.Response); err != nil {
			return err
		}
		// Answers first: a session never claims answers that are not stored.
		models := answerWrites(nd, c, oldLive, nextLive, next.Hash, nd.Response, st.answers)
		if err := r.s.writeAnswers(ctx, models); err != nil {
			return err
		}
		for q := range nextLive {
			st.answers[answerID(nd.Response, q)] = true
		}
		if rstatus != "" && rstatus != doc.RStatus {
			rec := responseDoc{ID: nd.Response, Consultation: c.ID, Version: next.Hash, Status: rstatus, Started: next.Started.UTC()}
			if c.Anonymous {
				rec.Started = day(next.Started)
			} else {
				rec.Participant = t.p.ID
			}
			st.responses[rec.ID] = true
			if err := r.s.writeResponse(ctx, rec); err != nil {
				return err
			}
			nd.RStatus = rstatus
		}
		if seal {
			// Nothing links the answers to the person any more.
			nd.Response = ""
			nd.State.Answers, nd.State.Asked, nd.State.Selected = nil, nil, nil
			nd.State.Started, nd.State.Updated, nd.State.Finished = day(next.Started), day(next.Updated), day(next.Finished)
		}
	}

	out := make([]flows.Outgoing, len(replies))
	for i, rp := range replies {
		out[i] = r.outgoing(t, fmt.Sprintf("%s:%d", in.ID, i), rp, doc.ID)
	}
	nd.Applied = lastN(append(slices.Clone(doc.Applied), in.ID), keepApplied)
	nd.Recent = lastN(append(slices.Clone(doc.Recent), appliedInput{Input: in.ID, Out: out}), keepReplies)

	if r.beforeWrite != nil {
		r.beforeWrite()
	}
	if err := r.s.writeSession(ctx, nd, doc.Version, exists); err != nil {
		return err
	}

	docs := make([]outDoc, len(out))
	for i, o := range out {
		docs[i] = r.s.newOutDoc(o, OutPending, now)
		docs[i].Anonymous = c.Anonymous
	}
	if len(docs) > 0 {
		// Fresh ids: this write applied the input, so they were never queued.
		if _, err := r.s.insertOut(ctx, docs); err != nil {
			return err
		}
	}
	if seal && len(out) > 0 {
		// The replies may echo answers: keep them only until queued.
		return r.s.dropRecent(ctx, nd)
	}
	return nil
}

// replay queues again the replies of an input the session applied before
// (a crash came between the session write and the end of the step).
func (r *Runner) replay(ctx context.Context, doc sessionDoc, inputID string) error {
	for _, ap := range doc.Recent {
		if ap.Input != inputID || len(ap.Out) == 0 {
			continue
		}
		hold := randomHex(8)
		docs := make([]outDoc, len(ap.Out))
		for i, o := range ap.Out {
			docs[i] = r.s.newOutDoc(o, outHeld, o.Created)
			docs[i].Hold = hold
			docs[i].Anonymous = doc.Anonymous
		}
		if err := r.s.enqueueChecked(ctx, docs, hold); err != nil {
			return err
		}
		if doc.Anonymous && sealing(doc.State.Status) {
			return r.s.dropRecent(ctx, doc)
		}
	}
	return nil
}

// dropRecent removes the stored replies from a session: an anonymous
// session that ended keeps nothing that echoes the answers.
func (s *Store) dropRecent(ctx context.Context, doc sessionDoc) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		nd := doc
		nd.Version = doc.Version + 1
		nd.Recent = nil
		err := s.writeSession(ctx, nd, doc.Version, true)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		var ok bool
		if doc, ok, err = s.loadSession(ctx, doc.ID); err != nil || !ok {
			return err
		}
	}
	return fmt.Errorf("storage: session %s: %w", doc.ID, ErrConflict)
}

// undoStale deletes what earlier attempts of a step wrote under a response
// id other than the one this attempt uses (an anonymous response started
// concurrently elsewhere): nothing is left that no session points at.
func (s *Store) undoStale(ctx context.Context, st *attempts, response string) error {
	var models []mongo.WriteModel
	for id := range st.answers {
		if !strings.HasPrefix(id, response+":") {
			models = append(models, mongo.NewDeleteOneModel().SetFilter(byID(id)))
			delete(st.answers, id)
		}
	}
	if err := s.writeAnswers(ctx, models); err != nil {
		return err
	}
	for id := range st.responses {
		if id != response {
			if _, err := s.c(colResponses).DeleteOne(ctx, byID(id)); err != nil {
				return fmt.Errorf("storage: response %s: %w", id, err)
			}
			delete(st.responses, id)
		}
	}
	return nil
}

// sealing reports whether an anonymous session at status is sealed: its
// response id and answers leave the session, so nothing links them to the
// person. That is when it can change no more: completed, or closed with the
// consultation. A stopped session may be resumed, so it keeps them (the
// person can still see or withdraw them) until then.
func sealing(st flows.Status) bool {
	switch st {
	case flows.StatusCompleted, flows.StatusClosed, flows.StatusDeclined, flows.StatusWithdrawn:
		return true
	}
	return false
}

func deletedText(n int) string {
	if n == 1 {
		return "Deleted 1 answer."
	}
	return fmt.Sprintf("Deleted %d answers.", n)
}

func lastN[T any](s []T, n int) []T {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
