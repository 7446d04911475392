package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// taskDesk is how a job pass reaches the people behind manual sources: a
// job at a manual DataSource becomes a PrivacyTask in its namespace, named
// by the job id (so a pass from a stale view cannot make a second one), and
// the task's outcome comes back through the job ledger as a source's answer
// does.
type taskDesk struct {
	client client.Client
	// reader confirms, uncached, that a task missing from the cache is gone
	// (the cache may not have seen a task created a moment ago).
	reader client.Reader
	// owner is the PrivacyRequest or RetentionPolicy the pass is for.
	owner privacyv1alpha1.TaskRequestReference
}

func manual(ds *privacyv1alpha1.DataSource) bool {
	return ds != nil && ds.Spec.Manual != nil
}

// assignTask creates the task of a manual source's job (or finds the one a
// previous pass created) and records it in the entry.
func (j *jobPass) assignTask(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource, job *protocol.Job) {
	task := j.tasks.taskFor(e, ds, job, j.Now())
	err := j.tasks.client.Create(ctx, task)
	if apierrors.IsAlreadyExists(err) {
		existing := &privacyv1alpha1.PrivacyTask{}
		if err = j.tasks.reader.Get(ctx, client.ObjectKeyFromObject(task), existing); err == nil {
			if why := j.tasks.foreign(existing, e); why != "" {
				j.note(e, j.Hold(e, privacyv1alpha1.ReasonTaskError, why))
				return
			}
			task = existing
		}
	}
	if err != nil {
		// The API server's message may quote the task's fields (identities):
		// status carries its reason and the fields it names only.
		log.FromContext(ctx).Info("create PrivacyTask failed", "datasource", ds.Namespace+"/"+ds.Name, "task", task.Name,
			"reason", apierrors.ReasonForError(err), "fields", invalidFields(err))
		j.note(e, j.Hold(e, privacyv1alpha1.ReasonTaskError, fmt.Sprintf("Creating PrivacyTask %s failed (%s%s); retrying.",
			task.Name, apierrors.ReasonForError(err), invalidFields(err))))
		return
	}
	sla := task.CreationTimestamp.Time
	if task.Spec.SLADueAt != nil {
		sla = task.Spec.SLADueAt.Time
	}
	j.note(e, j.Assign(e, task.Name, sla))
}

// invalidFields names the fields an Invalid error is about (never their
// values, which may be a person's identities).
func invalidFields(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return ""
	}
	var fields []string
	for _, c := range status.Status().Details.Causes {
		if c.Field != "" {
			fields = append(fields, c.Field)
		}
	}
	if len(fields) == 0 {
		return ""
	}
	return ": " + strings.Join(fields, ", ")
}

// foreign says why a PrivacyTask found under a job's name is not the one
// the operator made for it (someone created it, or it serves another
// request or source), or "" when it is.
func (d *taskDesk) foreign(t *privacyv1alpha1.PrivacyTask, e *jobs.Entry) string {
	if t.Spec.Request == d.owner && t.Spec.JobID == e.JobID && t.Spec.DataSource == e.Name {
		return ""
	}
	return fmt.Sprintf("PrivacyTask %s/%s exists but was not made for this job (it names %s %s, job %s, source %s): "+
		"its outcome is not taken; delete it so that the operator creates the job's own task.",
		t.Namespace, t.Name, t.Spec.Request.Kind, t.Spec.Request.Name, t.Spec.JobID, t.Spec.DataSource)
}

// taskFor is the PrivacyTask of job at the manual source ds.
func (d *taskDesk) taskFor(e *jobs.Entry, ds *privacyv1alpha1.DataSource, job *protocol.Job, now time.Time) *privacyv1alpha1.PrivacyTask {
	// The SLA runs from the job's first assignment (a task created again
	// keeps it) and never past the request's due date.
	start := now
	if e.FirstAttemptAt != nil {
		start = e.FirstAttemptAt.Time
	}
	slaAt := start.Add(time.Duration(max(ds.Spec.Manual.SLADays, 1)) * 24 * time.Hour)
	if job.Deadline != nil && job.Type != protocol.JobPurge && job.Deadline.Before(slaAt) {
		slaAt = *job.Deadline
	}
	sla := metav1.NewTime(slaAt.Truncate(time.Second))
	t := &privacyv1alpha1.PrivacyTask{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ds.Namespace,
			Name:      e.JobID,
			Labels:    taskLabels(d.owner, ds.Name),
			// Kubernetes' garbage collector deletes the task with the
			// (cluster-scoped) request; the task controller does so too,
			// for clusters where it does not run.
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: privacyv1alpha1.GroupVersion.String(), Kind: d.owner.Kind,
				Name: d.owner.Name, UID: types.UID(d.owner.UID),
			}},
		},
		Spec: privacyv1alpha1.PrivacyTaskSpec{
			Request:       d.owner,
			DataSource:    ds.Name,
			JobID:         e.JobID,
			Type:          privacyv1alpha1.RequestType(job.Type),
			SLADueAt:      &sla,
			Instructions:  ds.Spec.Manual.Instructions,
			AssigneeGroup: ds.Spec.Manual.AssigneeGroup,
		},
	}
	// A request's legal due date; a purge has none (its run ends at the
	// policy's next slot, which the task does not count down to).
	if job.Deadline != nil && job.Type != protocol.JobPurge {
		due := metav1.NewTime(job.Deadline.Truncate(time.Second))
		t.Spec.DueAt = &due
	}
	if job.Subject != nil {
		t.Spec.Identities = job.Subject.Identities
	}
	for _, c := range job.Corrections {
		t.Spec.Corrections = append(t.Spec.Corrections, privacyv1alpha1.Correction{Field: c.Field, Value: c.Value})
	}
	if job.OptOut != nil {
		t.Spec.OptOutScopes = job.OptOut.Scopes
	}
	if p := job.Purge; p != nil {
		purge := &privacyv1alpha1.TaskPurge{Before: metav1.NewTime(p.Before), Action: string(p.Action)}
		for _, c := range p.Categories {
			purge.Categories = append(purge.Categories, privacyv1alpha1.DataCategory(c))
		}
		t.Spec.Purge = purge
	}
	return t
}

// taskLabels are the labels kubectl can select a task by. A name longer
// than a label value may be (63 characters) is left out: the operator finds
// tasks by spec.request (an index), not by label.
func taskLabels(owner privacyv1alpha1.TaskRequestReference, source string) map[string]string {
	out := map[string]string{privacyv1alpha1.LabelTaskRequestKind: owner.Kind}
	for k, v := range map[string]string{privacyv1alpha1.LabelTaskRequest: owner.Name, privacyv1alpha1.LabelTaskDataSource: source} {
		if len(validation.IsValidLabelValue(v)) == 0 {
			out[k] = v
		}
	}
	return out
}

// recordTasks brings in what people did: the outcome of each open task, or
// its loss (a task deleted before it was completed is created again).
func (j *jobPass) recordTasks(ctx context.Context, entries []jobs.Entry) error {
	if j.tasks == nil {
		return nil
	}
	for i := range entries {
		e := &entries[i]
		if e.Task == "" || e.Phase != privacyv1alpha1.SourcePhaseDispatched {
			continue
		}
		task, err := j.tasks.read(ctx, types.NamespacedName{Namespace: e.Namespace, Name: e.Task})
		if err != nil {
			return err
		}
		if task == nil {
			j.note(e, j.TaskLost(e, "The PrivacyTask was deleted before it was completed; creating it again."))
			continue
		}
		if why := j.tasks.foreign(task, e); why != "" {
			// Replaced by someone else's object under the job's name.
			j.note(e, j.Hold(e, privacyv1alpha1.ReasonTaskError, why))
			continue
		}
		o := task.Spec.Outcome
		if o == nil {
			continue
		}
		if (o.Result == privacyv1alpha1.TaskResultCompleted || o.Result == privacyv1alpha1.TaskResultNotFound) && j.fileFinal != nil {
			pending, err := j.fileFinal(ctx, e, taskAnswer(task))
			if err != nil {
				return err
			}
			if pending {
				j.markFiling(e.JobID)
				continue
			}
		}
		j.note(e, j.ApplyTask(e, *o))
	}
	return nil
}

// read is the task, or nil when it is gone (from the cache, confirmed by
// the API server: a task just created may not be cached yet).
func (d *taskDesk) read(ctx context.Context, key types.NamespacedName) (*privacyv1alpha1.PrivacyTask, error) {
	task := &privacyv1alpha1.PrivacyTask{}
	err := d.client.Get(ctx, key, task)
	if apierrors.IsNotFound(err) {
		err = d.reader.Get(ctx, key, task)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read PrivacyTask %s: %w", key, err)
	}
	return task, nil
}

// taskRecord is what a manual source's part of an Access export holds: the
// data itself went to the person outside the operator (by the means the
// source's instructions name), so the export says who did it and how many
// records there were.
type taskRecord struct {
	Task        string    `json:"task"`
	Result      string    `json:"result"`
	Records     int64     `json:"records"`
	Note        string    `json:"note,omitempty"`
	CompletedBy string    `json:"completedBy"`
	CompletedAt time.Time `json:"completedAt"`
}

// taskAnswer is a completed task as a source's final answer, for filing.
func taskAnswer(task *privacyv1alpha1.PrivacyTask) dispatch.Outcome {
	o := task.Spec.Outcome
	rec := taskRecord{Task: task.Name, Result: string(o.Result), Note: o.Note, CompletedBy: o.CompletedBy, CompletedAt: o.CompletedAt.UTC()}
	if o.Records != nil {
		rec.Records = *o.Records
	}
	data, _ := json.Marshal(rec)
	status := protocol.StatusCompleted
	if o.Result == privacyv1alpha1.TaskResultNotFound {
		status = protocol.StatusNotFound
	}
	return dispatch.Outcome{Result: dispatch.ResultFinal, Status: &protocol.JobStatus{
		Status: status, Result: &protocol.Result{Records: rec.Records, Data: data},
	}}
}
