package ops

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/projections"
)

// Job is a rebuild or verify running in this instance.
type Job struct {
	ID         string                    `json:"id"`
	Kind       string                    `json:"kind"` // rebuild | verify
	Projection string                    `json:"projection"`
	State      string                    `json:"state"` // running | done | failed
	Progress   projections.Progress      `json:"progress"`
	Result     *projections.VerifyResult `json:"result,omitempty"`
	Error      string                    `json:"error,omitempty"`
	Started    time.Time                 `json:"started"`
	Finished   time.Time                 `json:"finished,omitzero"`
}

// JobRequest is the body of <prefix>.admin.<instance>.rebuild and .verify.
type JobRequest struct {
	Projection string `json:"projection"` // detail | users | outbox | wallets | all
}

// JobsReply is the reply of rebuild and verify: the jobs started.
type JobsReply struct {
	Instance string `json:"instance"`
	Jobs     []Job  `json:"jobs"`
}

func (o *Ops) snapshot() []Job {
	o.jobsMu.Lock()
	defer o.jobsMu.Unlock()
	out := make([]Job, len(o.jobs))
	for i, j := range o.jobs {
		out[i] = *j
	}
	return out
}

func (o *Ops) update(j *Job, f func(*Job)) {
	o.jobsMu.Lock()
	f(j)
	o.jobsMu.Unlock()
}

// decode decodes an admin request body strictly.
func decode(b []byte, v any) *api.Error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return api.Errorf(api.CodeBadRequest, "admin request: %v", err)
	}
	return nil
}

// errNoViews is the answer of rebuild and verify without read models.
func errNoViews() *api.Error {
	return api.Errorf(api.CodeUnavailable, "service: read models are not running on this instance")
}

func (o *Ops) handleJob(kind string) micro.HandlerFunc {
	return func(req micro.Request) {
		var body JobRequest
		if e := decode(req.Data(), &body); e != nil {
			fail(req, e)
			return
		}
		if o.cfg.Views == nil {
			fail(req, errNoViews())
			return
		}
		names := []string{body.Projection}
		if body.Projection == "all" {
			names = projections.Names
		}
		for _, name := range names {
			if !slices.Contains(projections.Names, name) {
				fail(req, api.Errorf(api.CodeBadRequest, "projection must be one of detail, users, outbox, all"))
				return
			}
		}
		var started []Job
		o.jobsMu.Lock()
		if o.stopped {
			o.jobsMu.Unlock()
			fail(req, errStopping())
			return
		}
		for _, name := range names {
			j := &Job{ID: nuid.Next(), Kind: kind, Projection: name, State: "running", Started: time.Now().UTC()}
			o.jobs = append(o.jobs, j)
			started = append(started, *j)
			o.running.Add(1) // under jobsMu: Stop waits for it
			go o.run(j)
		}
		o.jobsMu.Unlock()
		o.respond(req, JobsReply{Instance: o.id, Jobs: started})
	}
}

// run runs j; the caller has counted it in o.running.
func (o *Ops) run(j *Job) {
	defer o.running.Done()
	progress := func(p projections.Progress) { o.update(j, func(j *Job) { j.Progress = p }) }
	var err error
	var res projections.VerifyResult
	if j.Kind == "rebuild" {
		err = o.cfg.Views.Rebuild(o.ctx, j.Projection, progress)
	} else {
		res, err = o.cfg.Views.Verify(o.ctx, j.Projection, progress)
	}
	o.update(j, func(j *Job) {
		j.Finished = time.Now().UTC()
		switch {
		case err != nil:
			j.State, j.Error = "failed", err.Error()
		default:
			j.State = "done"
			if j.Kind == "verify" {
				j.Result = &res
			}
		}
	})
	if err != nil {
		o.log.Error("admin job failed", "kind", j.Kind, "projection", j.Projection, "err", err)
	}
}
