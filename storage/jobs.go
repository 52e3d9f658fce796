package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/consultbot/consultbot/scheduler"
)

// The scheduler's collections. Hot jobs (pending, claimed) live in jobs;
// finished ones (sent, skipped, unknown) move to jobs_done, so claiming
// looks at what is still to be done. job_caps holds one document per person
// and local day: the reminders counted against the daily cap.
const (
	colJobs     = "jobs"
	colJobsDone = "jobs_done"
	colJobCaps  = "job_caps"
)

// capsKept is how long a day's cap document is kept after the day (in
// UTC): long enough for that day to be over in every time zone.
const capsKept = 2 * 24 * time.Hour

func jobIndexes() []index {
	return []index{
		{colJobs, bson.D{{Key: "state", Value: 1}, {Key: "send_at", Value: 1}}},
		{colJobs, bson.D{{Key: "state", Value: 1}, {Key: "lease_until", Value: 1}}},
		{colJobs, bson.D{{Key: "consultation", Value: 1}}},
		{colJobs, bson.D{{Key: "recipient", Value: 1}}},
		{colJobsDone, bson.D{{Key: "consultation", Value: 1}}},
		{colJobsDone, bson.D{{Key: "recipient", Value: 1}}},
		{colJobsDone, bson.D{{Key: "finished", Value: 1}}},
		{colJobCaps, bson.D{{Key: "recipient", Value: 1}}},
		{colJobCaps, bson.D{{Key: "day", Value: 1}}},
	}
}

// Jobs is the scheduler's job store (scheduler.Jobs) on the Store: one
// document per occurrence, with the scheduler's own Job as its layout.
//
// On MongoDB every change is a conditional single-document update (a claim
// of a batch is one conditional updateMany, atomic per document), so
// instances sharing the database each win a job once. The embedded store
// is held by one process, which is then the only writer: it keeps the hot
// jobs' states and every job's tally in memory (read once from the store,
// then kept in step with each write), decides conditions there, and writes
// by _id alone, the one filter FerretDB's SQLite backend answers from an
// index. A claim then costs the same with 100 or 100,000 jobs waiting.
//
// Errors are wrapped so that errors.Is matches both this package's
// ErrNotFound and ErrConflict and the scheduler's.
type Jobs struct {
	s *Store
}

var _ scheduler.Jobs = (*Jobs)(nil)

// Jobs returns the store's job store. Every call shares the same state.
func (s *Store) Jobs() *Jobs { return &Jobs{s: s} }

// jobDoc is a jobs or jobs_done document.
type jobDoc struct {
	scheduler.Job `bson:",inline"`
	Hold          string    `bson:"hold,omitempty"`    // being inserted: not claimable (MongoDB only)
	HeldAt        time.Time `bson:"held_at,omitempty"` // when the hold was taken
	Claim         string    `bson:"claim,omitempty"`   // the token of the claim that took it (MongoDB only)
	Pruned        bool      `bson:"pruned,omitempty"`  // jobs_done: text dropped after the retention period
}

// sentinel is an error of this package that is also the scheduler's.
type sentinel struct{ ours, theirs error }

func (e sentinel) Error() string   { return e.ours.Error() }
func (e sentinel) Unwrap() []error { return []error{e.ours, e.theirs} }

func errJobConflict() error { return sentinel{ErrConflict, scheduler.ErrConflict} }
func errJobNotFound() error { return sentinel{ErrNotFound, scheduler.ErrNotFound} }

// final reports whether a job in state st is finished: it belongs in jobs_done.
func final(st scheduler.State) bool {
	return st == scheduler.StateSent || st == scheduler.StateSkipped || st == scheduler.StateUnknown
}

func finalStates() bson.A {
	return bson.A{scheduler.StateSent, scheduler.StateSkipped, scheduler.StateUnknown}
}

// ms is t as BSON stores it: UTC, to the millisecond.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func normalize(j scheduler.Job) scheduler.Job {
	j.Due, j.SendAt, j.LeaseUntil, j.Created, j.Finished = ms(j.Due), ms(j.SendAt), ms(j.LeaseUntil), ms(j.Created), ms(j.Finished)
	return j
}

// Insert stores jobs in the state they carry: pending and claimed ones in
// jobs, finished ones in jobs_done. A job whose ID is stored already, in
// either, is left as it is.
func (j *Jobs) Insert(ctx context.Context, jobs []scheduler.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(jobs))
	var hot, done []jobDoc
	for _, job := range jobs {
		if job.ID == "" {
			return fmt.Errorf("storage: insert jobs: a job needs an id")
		}
		if seen[job.ID] {
			continue
		}
		seen[job.ID] = true
		d := jobDoc{Job: normalize(job)}
		if final(job.State) {
			done = append(done, d)
		} else {
			hot = append(hot, d)
		}
	}
	if j.s.embedded != nil {
		return j.insertEmbedded(ctx, hot, done)
	}
	return j.insertShared(ctx, hot, done)
}

// insertEmbedded leaves out what memory or jobs_done knows, then inserts.
func (j *Jobs) insertEmbedded(ctx context.Context, hot, done []jobDoc) error {
	m := &j.s.jobs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := j.load(ctx); err != nil {
		return err
	}
	fresh := func(docs []jobDoc) ([]jobDoc, error) {
		var out []jobDoc
		for _, d := range docs {
			if _, ok := m.hot[d.ID]; ok {
				continue
			}
			there, err := j.s.exists(ctx, colJobsDone, d.ID)
			if err != nil {
				return nil, fmt.Errorf("storage: insert job %s: %w", d.ID, err)
			}
			if !there {
				out = append(out, d)
			}
		}
		return out, nil
	}
	hot, err := fresh(hot)
	if err != nil {
		return err
	}
	done, err = fresh(done)
	if err != nil {
		return err
	}
	inserted, err := insertIgnoringDuplicates(ctx, j.s.c(colJobs), hot)
	if err != nil {
		return err
	}
	for _, d := range inserted {
		m.add(d.Job)
		m.count(d.Job)
	}
	inserted, err = insertIgnoringDuplicates(ctx, j.s.c(colJobsDone), done)
	if err != nil {
		return err
	}
	for _, d := range inserted {
		m.count(d.Job)
	}
	return nil
}

// insertShared inserts every job held (not claimable), drops those that
// are in jobs_done already, moves the finished ones there and releases the
// rest. Inserting before looking mirrors Finish, which writes jobs_done
// before deleting from jobs: one of the two sees the other, so an
// occurrence is never stored twice.
func (j *Jobs) insertShared(ctx context.Context, hot, done []jobDoc) error {
	hold, now := randomHex(8), ms(j.s.now())
	docs := make([]jobDoc, 0, len(hot)+len(done))
	for _, d := range append(hot, done...) {
		d.Hold, d.HeldAt = hold, now
		docs = append(docs, d)
	}
	inserted, err := insertIgnoringDuplicates(ctx, j.s.c(colJobs), docs)
	if err != nil {
		return err
	}
	if len(inserted) == 0 {
		return nil
	}
	ids := make([]string, len(inserted))
	for i, d := range inserted {
		ids[i] = d.ID
	}
	there, err := j.idsIn(ctx, colJobsDone, ids)
	if err != nil {
		return err
	}
	var dropped, release []string
	for _, d := range inserted {
		switch {
		case there[d.ID]:
			dropped = append(dropped, d.ID)
		case final(d.State):
			d.Hold, d.HeldAt = "", time.Time{}
			fields, err := withoutID(d)
			if err != nil {
				return fmt.Errorf("storage: insert job %s: %w", d.ID, err)
			}
			_, err = j.s.c(colJobsDone).UpdateOne(ctx, byID(d.ID), bson.D{{Key: "$setOnInsert", Value: fields}}, options.UpdateOne().SetUpsert(true))
			if err != nil && !mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("storage: insert job %s: %w", d.ID, err)
			}
			dropped = append(dropped, d.ID)
		default:
			release = append(release, d.ID)
		}
	}
	if len(dropped) > 0 {
		_, err := j.s.c(colJobs).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: dropped}}}, {Key: "hold", Value: hold}})
		if err != nil {
			return fmt.Errorf("storage: insert jobs: %w", err)
		}
	}
	if len(release) > 0 {
		_, err := j.s.c(colJobs).UpdateMany(ctx,
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: release}}}, {Key: "hold", Value: hold}},
			bson.D{{Key: "$unset", Value: bson.D{{Key: "hold", Value: ""}, {Key: "held_at", Value: ""}}}})
		if err != nil {
			return fmt.Errorf("storage: insert jobs: %w", err)
		}
	}
	return nil
}

// idsIn returns which of ids collection holds.
func (j *Jobs) idsIn(ctx context.Context, collection string, ids []string) (map[string]bool, error) {
	cur, err := j.s.c(collection).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: looking up jobs: %w", err)
	}
	var got []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &got); err != nil {
		return nil, fmt.Errorf("storage: looking up jobs: %w", err)
	}
	there := make(map[string]bool, len(got))
	for _, g := range got {
		there[g.ID] = true
	}
	return there, nil
}

// tallyFields is what a tally needs of a job.
func tallyFields() bson.D {
	return bson.D{{Key: "_id", Value: 1}, {Key: "rule", Value: 1}, {Key: "recipient", Value: 1}, {Key: "due", Value: 1}, {Key: "consultation", Value: 1}}
}

// Tally sums up the stored jobs of a consultation, hot and finished, per
// rule and recipient. (Grouped here rather than by $group, which FerretDB
// answers wrongly with two accumulators.)
func (j *Jobs) Tally(ctx context.Context, consultation string) ([]scheduler.Tally, error) {
	if j.s.embedded != nil {
		m := &j.s.jobs
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := j.load(ctx); err != nil {
			return nil, err
		}
		out := make([]scheduler.Tally, 0, len(m.tallies[consultation]))
		for _, t := range m.tallies[consultation] {
			out = append(out, *t)
		}
		sortTallies(out)
		return out, nil
	}
	sums := map[tallyKey]*scheduler.Tally{}
	seen := map[string]bool{}
	for _, col := range []string{colJobs, colJobsDone} {
		cur, err := j.s.c(col).Find(ctx, bson.D{{Key: "consultation", Value: consultation}},
			options.Find().SetProjection(tallyFields()))
		if err != nil {
			return nil, fmt.Errorf("storage: tally of %s: %w", consultation, err)
		}
		var docs []scheduler.Job
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("storage: tally of %s: %w", consultation, err)
		}
		for _, d := range docs {
			if seen[d.ID] { // between a move's two writes it is in both
				continue
			}
			seen[d.ID] = true
			addTally(sums, d)
		}
	}
	out := make([]scheduler.Tally, 0, len(sums))
	for _, t := range sums {
		out = append(out, *t)
	}
	sortTallies(out)
	return out, nil
}

type tallyKey struct{ rule, recipient string }

func addTally(sums map[tallyKey]*scheduler.Tally, d scheduler.Job) {
	k := tallyKey{d.Rule, d.Recipient}
	t := sums[k]
	if t == nil {
		t = &scheduler.Tally{Rule: d.Rule, Recipient: d.Recipient}
		sums[k] = t
	}
	t.Count++
	if d.Due.After(t.Last) {
		t.Last = d.Due
	}
}

func sortTallies(ts []scheduler.Tally) {
	slices.SortFunc(ts, func(a, b scheduler.Tally) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Recipient, b.Recipient))
	})
}

// claimableJobs is the filter of jobs claimable at now: pending and due,
// or claimed by an owner whose lease lapsed.
func claimableJobs(now time.Time) bson.D {
	return bson.D{
		{Key: "hold", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "state", Value: scheduler.StatePending}, {Key: "send_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "state", Value: scheduler.StateClaimed}, {Key: "lease_until", Value: bson.D{{Key: "$lt", Value: now}}}},
		}},
	}
}

func claimUpdate(owner string, until time.Time, token string) bson.D {
	set := bson.D{
		{Key: "state", Value: scheduler.StateClaimed},
		{Key: "owner", Value: owner},
		{Key: "lease_until", Value: ms(until)},
	}
	if token != "" {
		set = append(set, bson.E{Key: "claim", Value: token})
	}
	return bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}}}
}

// Claim takes up to n jobs due at now for owner until until, earliest
// SendAt first. On MongoDB: a find, one conditional updateMany that marks
// what it won with a token, and a find of the token. On the embedded store
// the candidates come from memory and each is taken by _id.
func (j *Jobs) Claim(ctx context.Context, owner string, now, until time.Time, n int) ([]scheduler.Job, error) {
	if n < 1 {
		n = 1
	}
	now = ms(now)
	if j.s.embedded != nil {
		return j.claimEmbedded(ctx, owner, now, until, n)
	}
	order := bson.D{{Key: "send_at", Value: 1}, {Key: "_id", Value: 1}}
	cur, err := j.s.c(colJobs).Find(ctx, claimableJobs(now),
		options.Find().SetSort(order).SetLimit(int64(n)).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("storage: claiming jobs: %w", err)
	}
	var cands []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &cands); err != nil {
		return nil, fmt.Errorf("storage: claiming jobs: %w", err)
	}
	if len(cands) == 0 {
		return nil, nil
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	token := randomHex(8)
	filter := append(claimableJobs(now), bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	if _, err := j.s.c(colJobs).UpdateMany(ctx, filter, claimUpdate(owner, until, token)); err != nil {
		return nil, fmt.Errorf("storage: claiming jobs: %w", err)
	}
	cur, err = j.s.c(colJobs).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "claim", Value: token}},
		options.Find().SetSort(order))
	if err != nil {
		return nil, fmt.Errorf("storage: claiming jobs: %w", err)
	}
	var docs []jobDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("storage: claiming jobs: %w", err)
	}
	out := make([]scheduler.Job, len(docs))
	for i, d := range docs {
		out[i] = d.Job
	}
	return out, nil
}

func (j *Jobs) claimEmbedded(ctx context.Context, owner string, now, until time.Time, n int) ([]scheduler.Job, error) {
	m := &j.s.jobs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := j.load(ctx); err != nil {
		return nil, err
	}
	cands := m.due(now, n)
	var won []scheduler.Job
	for i, id := range cands {
		var d jobDoc
		err := j.s.c(colJobs).FindOneAndUpdate(ctx, byID(id), claimUpdate(owner, until, ""),
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			m.drop(id) // gone from under us: nothing to claim
			continue
		}
		if err != nil {
			for _, rest := range cands[i:] {
				m.requeue(rest)
			}
			return nil, fmt.Errorf("storage: claiming job %s: %w", id, err)
		}
		m.claimed(id, owner, ms(until))
		won = append(won, d.Job)
	}
	slices.SortFunc(won, func(a, b scheduler.Job) int {
		return cmp.Or(a.SendAt.Compare(b.SendAt), cmp.Compare(a.ID, b.ID))
	})
	return won, nil
}

// held checks, in memory, that owner holds job id (embedded store; the
// caller holds the lock).
func (j *Jobs) held(ctx context.Context, id, owner string) error {
	h, ok := j.s.jobs.hot[id]
	if ok && h.state == scheduler.StateClaimed && h.owner == owner {
		return nil
	}
	if ok {
		return fmt.Errorf("storage: job %s is %s by %q, not claimed by %s: %w", id, h.state, h.owner, owner, errJobConflict())
	}
	return j.missing(ctx, id, owner)
}

// missing tells why owner does not hold job id: finished meanwhile
// (conflict) or not stored at all (not found).
func (j *Jobs) missing(ctx context.Context, id, owner string) error {
	for _, col := range []string{colJobs, colJobsDone} {
		ok, err := j.s.exists(ctx, col, id)
		if err != nil {
			return fmt.Errorf("storage: job %s: %w", id, err)
		}
		if ok {
			return fmt.Errorf("storage: job %s is not claimed by %s: %w", id, owner, errJobConflict())
		}
	}
	return fmt.Errorf("storage: job %s: %w", id, errJobNotFound())
}

// heldBy is the filter of job id claimed by owner: by _id alone on the
// embedded store, which checked in memory.
func (j *Jobs) heldBy(id, owner string) bson.D {
	if j.s.embedded != nil {
		return byID(id)
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "state", Value: scheduler.StateClaimed}, {Key: "owner", Value: owner}}
}

// Release puts a job claimed by owner back to pending, claimable from
// sendAt; ErrConflict when owner no longer holds it.
func (j *Jobs) Release(ctx context.Context, id, owner string, sendAt time.Time) error {
	sendAt = ms(sendAt)
	if j.s.embedded != nil {
		m := &j.s.jobs
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := j.load(ctx); err != nil {
			return err
		}
		if err := j.held(ctx, id, owner); err != nil {
			return err
		}
	}
	res, err := j.s.c(colJobs).UpdateOne(ctx, j.heldBy(id, owner), bson.D{
		{Key: "$set", Value: bson.D{{Key: "state", Value: scheduler.StatePending}, {Key: "send_at", Value: sendAt}}},
		{Key: "$unset", Value: bson.D{{Key: "owner", Value: ""}, {Key: "lease_until", Value: ""}, {Key: "claim", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("storage: releasing job %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		if j.s.embedded != nil {
			j.s.jobs.drop(id)
		}
		return j.missing(ctx, id, owner)
	}
	if j.s.embedded != nil {
		j.s.jobs.pending(id, sendAt)
	}
	return nil
}

// Finish records the outcome of a job claimed by owner and moves it to
// jobs_done; ErrConflict when owner no longer holds it. On MongoDB the
// outcome is written in jobs first, conditionally (no longer claimable),
// then the document is copied to jobs_done and deleted from jobs; a crash
// between leaves it finished in jobs, and Prune completes the move.
func (j *Jobs) Finish(ctx context.Context, id, owner string, state scheduler.State, reason string, at time.Time) error {
	if !final(state) {
		return fmt.Errorf("storage: finishing job %s: %q is not an outcome", id, state)
	}
	if j.s.embedded != nil {
		return j.finishEmbedded(ctx, id, owner, state, reason, at)
	}
	set := bson.D{{Key: "state", Value: state}, {Key: "reason", Value: reason}, {Key: "finished", Value: ms(at)}}
	var d jobDoc
	err := j.s.c(colJobs).FindOneAndUpdate(ctx, j.heldBy(id, owner), bson.D{
		{Key: "$set", Value: set},
		{Key: "$unset", Value: bson.D{{Key: "lease_until", Value: ""}, {Key: "claim", Value: ""}}},
	}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return j.missing(ctx, id, owner)
	}
	if err != nil {
		return fmt.Errorf("storage: finishing job %s: %w", id, err)
	}
	return j.moveDone(ctx, d, nil)
}

// finishEmbedded: memory knows the job is held, so the outcome goes
// straight into the copy in jobs_done, and the hot copy is deleted; two
// writes. A crash between leaves it in both, and load drops the hot copy.
func (j *Jobs) finishEmbedded(ctx context.Context, id, owner string, state scheduler.State, reason string, at time.Time) error {
	m := &j.s.jobs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := j.load(ctx); err != nil {
		return err
	}
	if err := j.held(ctx, id, owner); err != nil {
		return err
	}
	var d jobDoc
	err := j.s.c(colJobs).FindOne(ctx, byID(id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		m.drop(id)
		return j.missing(ctx, id, owner)
	}
	if err != nil {
		return fmt.Errorf("storage: finishing job %s: %w", id, err)
	}
	d.State, d.Reason, d.Finished, d.LeaseUntil = state, reason, ms(at), time.Time{}
	return j.moveDone(ctx, d, func() { m.drop(id) })
}

// moveDone copies a finished job to jobs_done and deletes it from jobs;
// copied, when set, runs once the copy is written.
func (j *Jobs) moveDone(ctx context.Context, d jobDoc, copied func()) error {
	d.Hold, d.HeldAt, d.Claim = "", time.Time{}, ""
	if _, err := j.s.c(colJobsDone).ReplaceOne(ctx, byID(d.ID), d, options.Replace().SetUpsert(true)); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("storage: moving job %s: %w", d.ID, err)
	}
	if copied != nil {
		copied()
	}
	if _, err := j.s.c(colJobs).DeleteOne(ctx, byID(d.ID)); err != nil {
		return fmt.Errorf("storage: moving job %s: %w", d.ID, err)
	}
	return nil
}

// capDoc counts the reminders of one person on one local day.
type capDoc struct {
	ID        string   `bson:"_id"` // recipient|day
	Recipient string   `bson:"recipient"`
	Day       string   `bson:"day"` // local date, YYYY-MM-DD
	IDs       []string `bson:"ids"`
}

// Reserve counts reminder id against recipient's cap on day: true when it
// is counted already or fewer than limit are, false when the day is full.
// On MongoDB one conditional upsert: the filter matches the day's document
// when it holds id or has room, else the upsert collides with it on _id,
// which means full. The embedded store decides from the document it reads.
func (j *Jobs) Reserve(ctx context.Context, recipient, day, id string, limit int) (bool, error) {
	key := recipient + "|" + day
	onInsert := bson.D{{Key: "recipient", Value: recipient}, {Key: "day", Value: day}}
	update := bson.D{{Key: "$addToSet", Value: bson.D{{Key: "ids", Value: id}}}, {Key: "$setOnInsert", Value: onInsert}}
	if j.s.embedded != nil {
		m := &j.s.jobs
		m.mu.Lock()
		defer m.mu.Unlock()
		var d capDoc
		err := j.s.c(colJobCaps).FindOne(ctx, byID(key)).Decode(&d)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return false, fmt.Errorf("storage: daily cap of %s: %w", recipient, err)
		}
		if slices.Contains(d.IDs, id) {
			return true, nil
		}
		if len(d.IDs) >= limit {
			return false, nil
		}
		if _, err := j.s.c(colJobCaps).UpdateOne(ctx, byID(key), update, options.UpdateOne().SetUpsert(true)); err != nil {
			return false, fmt.Errorf("storage: daily cap of %s: %w", recipient, err)
		}
		return true, nil
	}
	if limit < 1 {
		return j.capHolds(ctx, key, id)
	}
	filter := bson.D{{Key: "_id", Value: key}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "ids", Value: id}},
		bson.D{{Key: fmt.Sprintf("ids.%d", limit-1), Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}
	_, err := j.s.c(colJobCaps).UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return false, nil // the day's document is there, full
	}
	if err != nil {
		return false, fmt.Errorf("storage: daily cap of %s: %w", recipient, err)
	}
	return true, nil
}

// capHolds reports whether the cap document key counts id.
func (j *Jobs) capHolds(ctx context.Context, key, id string) (bool, error) {
	var d capDoc
	err := j.s.c(colJobCaps).FindOne(ctx, byID(key)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: daily cap: %w", err)
	}
	return slices.Contains(d.IDs, id), nil
}

// Job returns one stored job, hot or finished; ErrNotFound when there is
// none.
func (j *Jobs) Job(ctx context.Context, id string) (scheduler.Job, error) {
	for _, col := range []string{colJobs, colJobsDone} {
		var d jobDoc
		err := j.s.c(col).FindOne(ctx, byID(id)).Decode(&d)
		if err == nil {
			return d.Job, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return scheduler.Job{}, fmt.Errorf("storage: job %s: %w", id, err)
		}
	}
	return scheduler.Job{}, fmt.Errorf("storage: job %s: %w", id, errJobNotFound())
}

// List returns the stored jobs of a consultation, hot and finished, by due
// time then ID.
func (j *Jobs) List(ctx context.Context, consultation string) ([]scheduler.Job, error) {
	byID := map[string]scheduler.Job{}
	for _, col := range []string{colJobsDone, colJobs} { // a job in both: the hot copy is the newer
		cur, err := j.s.c(col).Find(ctx, bson.D{{Key: "consultation", Value: consultation}})
		if err != nil {
			return nil, fmt.Errorf("storage: jobs of %s: %w", consultation, err)
		}
		var docs []jobDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("storage: jobs of %s: %w", consultation, err)
		}
		for _, d := range docs {
			if d.Hold == "" {
				byID[d.ID] = d.Job
			}
		}
	}
	out := make([]scheduler.Job, 0, len(byID))
	for _, job := range byID {
		out = append(out, job)
	}
	slices.SortFunc(out, func(a, b scheduler.Job) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Prune drops the text of jobs finished more than the retention period ago
// (it may quote answers), forgets daily caps of days long past, and
// completes moves to jobs_done and inserts that a crash cut short. The documents stay,
// so a pruned occurrence is still never planned again. It returns how many
// documents it changed; run it now and then.
func (j *Jobs) Prune(ctx context.Context, now time.Time) (int, error) {
	n := 0
	res, err := j.s.c(colJobsDone).UpdateMany(ctx,
		bson.D{{Key: "finished", Value: bson.D{{Key: "$lt", Value: ms(now.Add(-j.s.retention))}}}, {Key: "pruned", Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pruned", Value: true}, {Key: "text", Value: ""}}}})
	if err != nil {
		return n, fmt.Errorf("storage: pruning jobs: %w", err)
	}
	n += int(res.ModifiedCount)
	before := now.UTC().Add(-capsKept).Format(time.DateOnly) // dates compare as strings
	del, err := j.s.c(colJobCaps).DeleteMany(ctx, bson.D{{Key: "day", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return n, fmt.Errorf("storage: pruning daily caps: %w", err)
	}
	n += int(del.DeletedCount)
	moved, err := j.sweep(ctx, now)
	return n + moved, err
}

// staleHold is how old a hold must be for Prune to take it for the trace
// of an Insert cut short (an Insert holds its jobs for two round trips).
const staleHold = 10 * time.Minute

// sweep completes what a crash cut short: finished jobs left in jobs move
// to jobs_done, and (MongoDB) jobs an Insert held and never released are
// dropped when done already, else released.
func (j *Jobs) sweep(ctx context.Context, now time.Time) (int, error) {
	if j.s.embedded != nil {
		j.s.jobs.mu.Lock()
		defer j.s.jobs.mu.Unlock()
	}
	cur, err := j.s.c(colJobs).Find(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: finalStates()}}}},
		bson.D{{Key: "held_at", Value: bson.D{{Key: "$lt", Value: ms(now.Add(-staleHold))}}}},
	}}})
	if err != nil {
		return 0, fmt.Errorf("storage: sweeping jobs: %w", err)
	}
	var docs []jobDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("storage: sweeping jobs: %w", err)
	}
	for i, d := range docs {
		if d.Hold == "" || final(d.State) {
			if err := j.moveDone(ctx, d, nil); err != nil {
				return i, err
			}
			continue
		}
		done, err := j.s.exists(ctx, colJobsDone, d.ID)
		if err != nil {
			return i, fmt.Errorf("storage: sweeping jobs: %w", err)
		}
		held := bson.D{{Key: "_id", Value: d.ID}, {Key: "hold", Value: d.Hold}}
		if done {
			_, err = j.s.c(colJobs).DeleteOne(ctx, held)
		} else {
			_, err = j.s.c(colJobs).UpdateOne(ctx, held, bson.D{{Key: "$unset", Value: bson.D{{Key: "hold", Value: ""}, {Key: "held_at", Value: ""}}}})
		}
		if err != nil {
			return i, fmt.Errorf("storage: sweeping jobs: %w", err)
		}
	}
	return len(docs), nil
}

// forgetJobs deletes every job and daily cap of participant id; it returns
// how many jobs it deleted.
func (s *Store) forgetJobs(ctx context.Context, id string) (int, error) {
	if s.embedded != nil {
		s.jobs.mu.Lock()
		defer s.jobs.mu.Unlock()
		s.jobs.forget(id)
	}
	n := 0
	for _, col := range []string{colJobs, colJobsDone} {
		res, err := s.c(col).DeleteMany(ctx, bson.D{{Key: "recipient", Value: id}})
		if err != nil {
			return n, fmt.Errorf("storage: forgetting jobs: %w", err)
		}
		n += int(res.DeletedCount)
	}
	if _, err := s.c(colJobCaps).DeleteMany(ctx, bson.D{{Key: "recipient", Value: id}}); err != nil {
		return n, fmt.Errorf("storage: forgetting daily caps: %w", err)
	}
	return n, nil
}

// load reads the hot jobs and the tallies into memory, once (embedded
// store; the caller holds the lock): one scan of each collection. Moves to
// jobs_done that a crash cut short are completed on the way.
func (j *Jobs) load(ctx context.Context) error {
	m := &j.s.jobs
	if m.loaded {
		return nil
	}
	read := func(col string, fields bson.D) ([]scheduler.Job, error) {
		cur, err := j.s.c(col).Find(ctx, bson.D{}, options.Find().SetProjection(fields))
		if err != nil {
			return nil, fmt.Errorf("storage: reading jobs: %w", err)
		}
		var docs []scheduler.Job
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("storage: reading jobs: %w", err)
		}
		return docs, nil
	}
	hot, err := read(colJobs, append(tallyFields(), bson.E{Key: "state", Value: 1}, bson.E{Key: "send_at", Value: 1},
		bson.E{Key: "owner", Value: 1}, bson.E{Key: "lease_until", Value: 1}))
	if err != nil {
		return err
	}
	done, err := read(colJobsDone, tallyFields())
	if err != nil {
		return err
	}
	m.reset()
	finished := make(map[string]bool, len(done))
	for _, d := range done {
		finished[d.ID] = true
		m.count(d)
	}
	for _, d := range hot {
		switch {
		case finished[d.ID]:
			// Finished, and the process stopped before deleting the hot copy.
			if _, err := j.s.c(colJobs).DeleteOne(ctx, byID(d.ID)); err != nil {
				return fmt.Errorf("storage: reading jobs: %w", err)
			}
		case final(d.State):
			// Finished in place (by an older version, or on MongoDB before
			// a move): move it now.
			var full jobDoc
			if err := j.s.c(colJobs).FindOne(ctx, byID(d.ID)).Decode(&full); err != nil {
				return fmt.Errorf("storage: reading job %s: %w", d.ID, err)
			}
			if err := j.moveDone(ctx, full, nil); err != nil {
				return err
			}
			m.count(d)
		default:
			m.add(d)
			m.count(d)
		}
	}
	m.loaded = true
	return nil
}
