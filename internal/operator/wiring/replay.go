package wiring

import (
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/controllers"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// replayParts are what keeps and replays the jobs of sources that declare
// backups (docs/backups.md); both nil without a receipt store.
type replayParts struct {
	recorder *replay.Recorder
	runner   *controllers.RestoreRunner
}

// addReplay keeps replay records in the receipt store, under the keys of
// the operator namespace's Secret, and adds, on the leader, the Recorder
// that stores them, the sweep that erases them once no backup can need
// them, and the runner that replays them for Restores. Without a receipt
// store nothing is kept, and every Restore is refused (ReplayNotKept).
func addReplay(mgr manager.Manager, o Options, shared controllers.Shared, exchanger dispatch.Exchanger) (replayParts, error) {
	if o.Receipts == nil || shared.Receipts == nil {
		return replayParts{}, nil
	}
	store, ok := o.Receipts.Store.(replay.Store)
	if !ok {
		ctrl.Log.WithName("setup").Info("the receipt store cannot list directories: no replay records are kept, Restores are refused")
		return replayParts{}, nil
	}
	// The keys' Secret is read uncached: no Secret informer runs.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return replayParts{}, err
	}
	archive := &replay.Archive{Store: store, Keys: &replay.Keys{Client: direct, Namespace: o.OperatorNamespace, Clock: o.Clock}}
	recorder := &replay.Recorder{Archive: archive, Log: ctrl.Log.WithName("replay")}
	sweeper := &controllers.ReplaySweeper{Reader: mgr.GetClient(), Archive: archive, Receipts: shared.Receipts, Clock: o.Clock,
		Interval: o.Receipts.ReplaySweepInterval, Log: ctrl.Log.WithName("replay-sweep")}
	wakeups := shared.Wakeups
	runner := &controllers.RestoreRunner{
		Client: mgr.GetClient(), Archive: archive, Exchanger: exchanger, Dispatcher: shared.Dispatcher, Keys: shared.Keys,
		Receipts: shared.Receipts, Store: o.Receipts.Store, Clock: o.Clock, PollInterval: o.PollInterval,
		Wake: func(key types.NamespacedName) {
			wakeups.Notify(dispatch.Owner{Kind: controllers.KindRestore, NamespacedName: key})
		},
		Log: ctrl.Log.WithName("restore"),
	}
	for _, r := range []manager.Runnable{recorder, sweeper, runner} {
		if err := mgr.Add(r); err != nil {
			return replayParts{}, err
		}
	}
	return replayParts{recorder: recorder, runner: runner}, nil
}
