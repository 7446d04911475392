package wiring

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/controllers"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// ReceiptOptions say where receipts go and how long they are kept.
type ReceiptOptions struct {
	// Store is the receipt directory or bucket.
	Store receipt.Store
	// Retention is how long receipts are kept (the sweep removes older
	// ones); zero keeps them forever.
	Retention time.Duration
	// SweepInterval is how often the sweep runs (default one hour).
	SweepInterval time.Duration
	// ReplaySweepInterval is how often the replay records no backup can
	// need are erased (default one hour).
	ReplaySweepInterval time.Duration
	// MinBackoff and MaxBackoff bound the retries of a failed write
	// (defaults 1 s and 5 min; tests shorten them).
	MinBackoff, MaxBackoff time.Duration
}

// keysTimeout bounds reading (or creating) the receipt keys at start.
const keysTimeout = 30 * time.Second

// signerReread is how long the Notary signs with the key it read: a
// rotated signing key is used (and published first) within it.
const signerReread = time.Minute

// addNotary reads the receipt keys (creating them on first start, in the
// operator's namespace) and adds the Notary, which writes receipts on the
// leader. The keys are read uncached: no Secret informer runs.
func addNotary(mgr manager.Manager, o Options, wakeups *controllers.Wakeups) (*controllers.Receipts, error) {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	if err := ensureNamespace(ctx, direct, o.OperatorNamespace); err != nil {
		return nil, err
	}
	keys, err := receipt.EnsureKeys(ctx, direct, o.OperatorNamespace)
	if err != nil {
		return nil, fmt.Errorf("receipt keys in namespace %s: %w", o.OperatorNamespace, err)
	}
	onWrite, onSweep, onPending := controllers.ReceiptMetrics()
	now := o.Clock.Now
	// The key Secrets and the ConfigMap are read at most every
	// signerReread, not for every receipt (four API reads each).
	store, signer := o.Receipts.Store, receipt.CachedSigner(receipt.KeySigner(direct, o.OperatorNamespace), signerReread, time.Now)
	notary := receipt.NewNotary(func(ctx context.Context) (*receipt.Log, error) {
		return receipt.OpenLog(ctx, store, signer, now)
	}, controllers.WakeReceiptOwner(wakeups), receipt.NotaryOptions{
		MinBackoff: o.Receipts.MinBackoff, MaxBackoff: o.Receipts.MaxBackoff,
		Clock: now, SweepInterval: o.Receipts.SweepInterval, Retention: o.Receipts.Retention,
		Log: ctrl.Log.WithName("receipts"), OnWrite: onWrite, OnSweep: onSweep, OnPending: onPending,
	})
	if err := mgr.Add(notary); err != nil {
		return nil, err
	}
	return &controllers.Receipts{Notary: notary, FingerprintKey: keys.FingerprintKey}, nil
}

// ensureNamespace creates the operator's namespace when it does not exist:
// in a cluster it always does (the operator runs there); outside one (make
// run, the local stack) it may not yet, and the receipt keys live there.
func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
	if !apierrors.IsNotFound(err) {
		return err
	}
	ctrl.Log.WithName("setup").Info("creating the operator's namespace for the receipt keys", "namespace", name)
	err = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the operator's namespace %s does not exist and cannot be created: %w", name, err)
	}
	return nil
}
