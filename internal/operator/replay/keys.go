package replay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SecretName is the Secret, in the operator's namespace, that holds one
// key per period: data[period] is 32 random bytes.
const SecretName = "privacy-operator-replay-keys"

// AnnotationErasedThrough on the keys' Secret is the last period erased:
// records of it and before cannot be replayed.
const AnnotationErasedThrough = "privacyoperator.io/erased-through"

// ErasedThrough is the last period erased ("" when none was).
func (k *Keys) ErasedThrough(ctx context.Context) (string, error) {
	s := &corev1.Secret{}
	if err := k.Client.Get(ctx, k.key(), s); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	return s.Annotations[AnnotationErasedThrough], nil
}

// ErrErased: the period's key is gone (erased, or never made): its
// records cannot be opened by anyone.
var ErrErased = errors.New("the period's replay key is erased")

// Keys are the periods' keys. Only the operator reads or writes the
// Secret; a period's key is made when its first record is sealed, and
// deleted by Erase once no backup can need it.
type Keys struct {
	Client    client.Client
	Namespace string
	// Name is the Secret's name (SecretName when empty).
	Name  string
	Clock clock.PassiveClock
}

func (k *Keys) key() client.ObjectKey {
	name := k.Name
	if name == "" {
		name = SecretName
	}
	return client.ObjectKey{Namespace: k.Namespace, Name: name}
}

func (k *Keys) now() time.Time {
	if k.Clock == nil {
		return time.Now()
	}
	return k.Clock.Now()
}

// Key is period's key. With create, a missing key is made for a day not
// erased yet and not to come (a record handed over again days after its
// job finished, after a store outage, still gets one); an erased period
// is never given a new key (ErrErased).
func (k *Keys) Key(ctx context.Context, period string, create bool) ([]byte, error) {
	if _, ok := periodTime(period); !ok {
		return nil, fmt.Errorf("replay period %q is not a day (YYYY-MM-DD)", period)
	}
	var key []byte
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		s := &corev1.Secret{}
		err := k.Client.Get(ctx, k.key(), s)
		switch {
		case err == nil:
		case apierrors.IsNotFound(err) && create:
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.key().Namespace, Name: k.key().Name,
				Labels: map[string]string{"app.kubernetes.io/part-of": "privacy-operator"}}, Type: corev1.SecretTypeOpaque}
		case apierrors.IsNotFound(err):
			return ErrErased
		default:
			return err
		}
		if key = s.Data[period]; len(key) == 32 {
			return nil
		}
		if !create {
			return ErrErased
		}
		if period <= s.Annotations[AnnotationErasedThrough] {
			return fmt.Errorf("%w: %s was erased", ErrErased, period)
		}
		if period > Period(k.now()) {
			return fmt.Errorf("a replay key is not made for a day to come (%s)", period)
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[period] = key
		if s.ResourceVersion == "" {
			err := k.Client.Create(ctx, s)
			if apierrors.IsAlreadyExists(err) {
				// Another replica made it: read again.
				return apierrors.NewConflict(corev1.Resource("secrets"), s.Name, err)
			}
			return err
		}
		return k.Client.Update(ctx, s)
	})
	return key, err
}

// Erase deletes the key of every period that ended before cutoff (the
// start of the oldest backup any source may still restore) and returns
// the periods erased, oldest first. Records sealed under them can no
// longer be opened, wherever their copies are.
func (k *Keys) Erase(ctx context.Context, cutoff time.Time) ([]string, error) {
	var erased []string
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		erased = nil
		s := &corev1.Secret{}
		if err := k.Client.Get(ctx, k.key(), s); err != nil {
			return client.IgnoreNotFound(err)
		}
		for period := range s.Data {
			start, ok := periodTime(period)
			if !ok || !start.Add(24*time.Hour).After(cutoff) {
				erased = append(erased, period)
			}
		}
		// The last whole day before cutoff is erased, whether it had a key
		// or not: no record of it or before can be replayed any more.
		through := Period(cutoff.Add(-24 * time.Hour))
		if len(erased) == 0 && s.Annotations[AnnotationErasedThrough] >= through {
			return nil
		}
		for _, p := range erased {
			delete(s.Data, p)
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		if s.Annotations[AnnotationErasedThrough] < through {
			s.Annotations[AnnotationErasedThrough] = through
		}
		return k.Client.Update(ctx, s)
	})
	slices.Sort(erased)
	return erased, err
}
