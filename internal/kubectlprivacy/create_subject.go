package kubectlprivacy

// The subject of kubectl privacy create: read from the desk's terminal or
// standard input, checked, and kept in a labelled Secret that its request
// owns.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/privacyctl"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

const (
	// correctPrefix marks a line that gives a corrected field's new value
	// (correct.email=...), not an identity: an identity type never holds
	// a dot, so the two cannot be confused.
	correctPrefix = "correct."
	// nameAlphabet is what Kubernetes' generateName draws from: without
	// vowels, a generated name spells no word, nor a person's name.
	nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"
)

// read reads the person's identities and the corrected fields' values
// from standard input (--identity-stdin) or from prompts on the terminal.
func (f *createFlags) read(o *options) ([]receipt.Identity, error) {
	if f.stdin {
		return privacyctl.ReadIdentities(o.streams.In)
	}
	if in, ok := o.streams.In.(*os.File); !f.prompt && (!ok || !term.IsTerminal(int(in.Fd()))) {
		return nil, errors.New("standard input is not a terminal to ask on: pipe the identities as type=value lines with --identity-stdin")
	}
	r := bufio.NewReader(o.streams.In)
	var read []receipt.Identity
	ask := func(prompt, typ string) error {
		fmt.Fprintf(o.streams.ErrOut, "%s: ", prompt)
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the answer to %s: %w", prompt, err)
		}
		if v := strings.TrimSpace(line); v != "" {
			read = append(read, receipt.Identity{Type: typ, Value: v})
		}
		return nil
	}
	for _, t := range f.identityTypes {
		if err := ask(t, t); err != nil {
			return nil, err
		}
	}
	for _, field := range f.fields {
		if err := ask("new "+field, correctPrefix+field); err != nil {
			return nil, err
		}
	}
	return read, nil
}

// split sorts what was read into identities and the corrections of
// fields, and checks them as the API and the operator do. An error names
// an identity's type or a field, never a value.
func split(read []receipt.Identity, fields []string) (map[string]string, []privacyv1alpha1.Correction, error) {
	ids, values := map[string]string{}, map[string]string{}
	for i, id := range read {
		v := strings.TrimSpace(id.Value)
		if field, ok := strings.CutPrefix(id.Type, correctPrefix); ok {
			switch {
			case !slices.Contains(fields, field):
				return nil, nil, fmt.Errorf("identity number %d is the new value of a field no --correct names", i+1)
			case values[field] != "":
				return nil, nil, fmt.Errorf("the new value of %s is given twice", field)
			case len(v) > 4096:
				return nil, nil, fmt.Errorf("the new value of %s is %d bytes; at most 4096", field, len(v))
			}
			values[field] = v
			continue
		}
		switch {
		case !identityTypePattern.MatchString(id.Type):
			return nil, nil, fmt.Errorf("identity number %d: its type is not a camelCase name such as email or userId (not shown)", i+1)
		case ids[id.Type] != "":
			return nil, nil, fmt.Errorf("identity %s is given twice: a subject has one value of each type", id.Type)
		case len(v) > 1024:
			return nil, nil, fmt.Errorf("identity %s is %d bytes; at most 1024", id.Type, len(v))
		case protocol.NormalizeIdentity(id.Type, v) == "":
			return nil, nil, fmt.Errorf("identity %s is empty once white space is removed", id.Type)
		}
		ids[id.Type] = v
	}
	switch {
	case len(ids) == 0:
		return nil, nil, errors.New("no identity was given: a subject needs at least one, such as email=ada@example.com")
	case len(ids) > identity.MaxIdentities:
		return nil, nil, fmt.Errorf("%d identities were given; a subject has at most %d", len(ids), identity.MaxIdentities)
	}
	corrections := make([]privacyv1alpha1.Correction, 0, len(fields))
	for _, field := range fields {
		if values[field] == "" {
			return nil, nil, fmt.Errorf("no new value of %s was given: a line %s%s=VALUE (or an answer to its prompt)", field, correctPrefix, field)
		}
		corrections = append(corrections, privacyv1alpha1.Correction{Field: field, Value: values[field]})
	}
	if len(corrections) == 0 {
		corrections = nil
	}
	return ids, corrections, nil
}

// errNameTaken: the generated name is in use; another one is drawn.
var errNameTaken = errors.New("the generated name is taken")

// createBoth creates the subject Secret and the request under a name
// drawn afresh while it is taken. It returns the request (nil when none
// was created) and what went wrong.
func createBoth(ctx context.Context, c client.Client, f *createFlags, spec privacyv1alpha1.PrivacyRequestSpec,
	ids map[string]string, now time.Time) (*privacyv1alpha1.PrivacyRequest, error) {
	prefix := f.prefix
	if prefix == "" {
		prefix = strings.ToLower(string(spec.Type))
	}
	for attempt := 1; ; attempt++ {
		name, err := requestName(prefix, now)
		if err != nil {
			return nil, &exitError{code: ExitError, err: err}
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.subjectNS, Labels: map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"}},
			Immutable:  ptr(true), // the identities a request was approved for cannot change under it
			Data:       map[string][]byte{},
		}
		for t, v := range ids {
			secret.Data[t] = []byte(v)
		}
		spec.Subject = privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: f.subjectNS, Name: name}}
		pr := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
		created, err := createObjects(ctx, c, secret, pr, f.dryRun)
		switch {
		case errors.Is(err, errNameTaken) && attempt < 3:
			continue
		case errors.Is(err, errNameTaken):
			return nil, &exitError{code: ExitError, err: errors.New("three generated names in a row were taken: run the command again")}
		case !created:
			return nil, err
		}
		return pr, err
	}
}

// createObjects creates the subject Secret, then the request naming it,
// then makes the request the Secret's owner. The Secret comes first so
// that the request never names a Secret that is not there (the operator
// would refuse it with a Warning and look again only a poll interval
// later); a request that cannot be created takes its Secret with it. Once
// the Secret exists an interrupt no longer stops the sequence, which would
// leave personal data behind. created says whether the request was.
func createObjects(ctx context.Context, c client.Client, secret *corev1.Secret, pr *privacyv1alpha1.PrivacyRequest, dryRun bool) (created bool, err error) {
	var opts []client.CreateOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	where := fmt.Sprintf("secret %s/%s", secret.Namespace, secret.Name)
	if err := c.Create(ctx, secret, opts...); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return false, errNameTaken
		}
		return false, &exitError{code: ExitError, err: fmt.Errorf("create the subject %s: %w", where, err)}
	}
	ctx = context.WithoutCancel(ctx)
	if err := c.Create(ctx, pr, opts...); err != nil {
		if dryRun {
			return false, &exitError{code: ExitError, err: requestError(err)}
		}
		if derr := c.Delete(ctx, secret); derr != nil && !apierrors.IsNotFound(derr) {
			return false, &exitError{code: ExitError, err: fmt.Errorf("%w; and its subject %s holds the person's identities but could not be deleted (%v): delete it now (kubectl delete secret %s -n %s)",
				requestError(err), where, derr, secret.Name, secret.Namespace)}
		}
		if apierrors.IsAlreadyExists(err) {
			return false, errNameTaken
		}
		return false, &exitError{code: ExitError, err: fmt.Errorf("%w (its subject %s was deleted again: nothing was left behind)", requestError(err), where)}
	}
	if dryRun {
		return true, nil
	}
	base := secret.DeepCopy()
	secret.OwnerReferences = []metav1.OwnerReference{{APIVersion: privacyv1alpha1.GroupVersion.String(), Kind: "PrivacyRequest", Name: pr.Name, UID: pr.UID}}
	if err := c.Patch(ctx, secret, client.MergeFrom(base)); err != nil {
		return true, &exitError{code: ExitError, err: fmt.Errorf("privacyrequest/%s was created, but its subject %s could not be given it as owner (%v): the Secret is not deleted with "+
			"the request; delete it once the request has finished, and do not create the request again", pr.Name, where, err)}
	}
	return true, nil
}

// requestError words the API server's refusal of the request: the CRD's
// rules as it words them, an admission policy's as it is.
func requestError(err error) error {
	switch {
	case apierrors.IsInvalid(err):
		return fmt.Errorf("the API refused the request: %s", apiCauses(err))
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "requireApproval"):
		return fmt.Errorf("%w (kubectl privacy create --suspend)", err)
	}
	return fmt.Errorf("create the request: %w", err)
}

// requestName is prefix-YYYYMMDD-xxxxx, the suffix drawn with crypto/rand.
func requestName(prefix string, now time.Time) (string, error) {
	suffix := make([]byte, 5)
	for i := range suffix {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(nameAlphabet))))
		if err != nil {
			return "", fmt.Errorf("draw a name: %w", err)
		}
		suffix[i] = nameAlphabet[n.Int64()]
	}
	return fmt.Sprintf("%s-%s-%s", prefix, now.UTC().Format("20060102"), suffix), nil
}
