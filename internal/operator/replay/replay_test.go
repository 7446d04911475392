package replay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	code := 1
	if k8s, err = client.New(env.Config, client.Options{Scheme: scheme}); err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "replay-keys"}})
	}
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

func ada(at time.Time) replay.Record {
	return replay.Record{Namespace: "shop", Name: "orders", JobID: "pr-1234", Type: privacyv1alpha1.RequestTypeDelete,
		Identities: map[string]string{"email": "ada@example.com"}, FinishedAt: at}
}

// TestSealedRecords: a record opens with its period's key, under its own
// name only; changed, moved or opened with another period's key it does
// not; nothing of the person is readable in the sealed bytes.
func TestSealedRecords(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	key, other := make([]byte, 32), make([]byte, 32)
	other[0] = 1
	sealed, err := replay.Seal(key, "replay/2026-12-07/a", ada(at))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "ada@example.com") || strings.Contains(string(sealed), "pr-1234") {
		t.Fatal("the sealed record shows what it holds")
	}
	got, err := replay.Open(key, "2026-12-07", "replay/2026-12-07/a", sealed)
	if err != nil || got.Identities["email"] != "ada@example.com" || !got.FinishedAt.Equal(at) {
		t.Fatalf("open: %+v, %v", got, err)
	}
	changed := append([]byte(nil), sealed...)
	changed[len(changed)-1] ^= 1
	for name, c := range map[string]struct {
		key          []byte
		period, name string
		blob         []byte
	}{
		"changed":                {key, "2026-12-07", "replay/2026-12-07/a", changed},
		"moved to another name":  {key, "2026-12-07", "replay/2026-12-07/b", sealed},
		"another period":         {key, "2026-12-06", "replay/2026-12-07/a", sealed},
		"another period's key":   {other, "2026-12-07", "replay/2026-12-07/a", sealed},
		"shorter than its nonce": {key, "2026-12-07", "replay/2026-12-07/a", sealed[:5]},
	} {
		if _, err := replay.Open(c.key, c.period, c.name, c.blob); !errors.Is(err, replay.ErrSealBroken) {
			t.Errorf("%s: %v, want ErrSealBroken", name, err)
		}
	}
}

// TestCryptoErasure: a period's key is made with its first record, found
// again, never made for a past period; Erase deletes the keys of the
// periods before the cutoff, so that their records open with no key the
// operator has, and keeps the others.
func TestCryptoErasure(t *testing.T) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	keys := &replay.Keys{Client: k8s, Namespace: "replay-keys", Clock: clock}
	if _, err := keys.Key(ctx, "2026-12-01", false); !errors.Is(err, replay.ErrErased) {
		t.Fatalf("no Secret yet: %v, want ErrErased", err)
	}
	first, err := keys.Key(ctx, "2026-12-01", true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := replay.Seal(first, "replay/2026-12-01/a", ada(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := keys.Key(ctx, "2026-12-01", true); err != nil || string(again) != string(first) {
		t.Fatal("the period's key changed on a second call")
	}
	clock.SetTime(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	second, err := keys.Key(ctx, "2026-12-03", true)
	if err != nil {
		t.Fatal(err)
	}
	// A record handed over again days later (the store was down) still
	// gets its day's key; a day to come gets none.
	if _, err := keys.Key(ctx, "2026-11-20", true); err != nil {
		t.Fatalf("a key for a past day not erased yet: %v", err)
	}
	if _, err := keys.Key(ctx, "2026-12-04", true); err == nil {
		t.Fatal("a key for a day to come was made")
	}

	// Backups are kept 1 day: the 1st can no longer be restored on the 3rd.
	erased, err := keys.Erase(ctx, clock.Now().Add(-24*time.Hour))
	if err != nil || !slices.Equal(erased, []string{"2026-11-20", "2026-12-01"}) {
		t.Fatalf("erase: %v, %v, want [2026-11-20 2026-12-01]", erased, err)
	}
	if _, err := keys.Key(ctx, "2026-11-25", true); !errors.Is(err, replay.ErrErased) {
		t.Fatalf("a key for a day before the erased ones: %v, want ErrErased", err)
	}
	if _, err := keys.Key(ctx, "2026-12-01", false); !errors.Is(err, replay.ErrErased) {
		t.Fatalf("the erased period's key: %v, want ErrErased", err)
	}
	if _, err := keys.Key(ctx, "2026-12-01", true); !errors.Is(err, replay.ErrErased) {
		t.Fatalf("an erased period given a new key: %v", err)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "replay-keys", Name: replay.SecretName}, secret); err != nil {
		t.Fatal(err)
	}
	for period, key := range secret.Data {
		if _, err := replay.Open(key, "2026-12-01", "replay/2026-12-01/a", sealed); err == nil {
			t.Fatalf("the erased period's record opens with the key of %s", period)
		}
	}
	if kept, err := keys.Key(ctx, "2026-12-03", false); err != nil || string(kept) != string(second) {
		t.Fatalf("the 3rd's key after the erasure: %v", err)
	}
	if again, err := keys.Erase(ctx, clock.Now().Add(-24*time.Hour)); err != nil || len(again) != 0 {
		t.Fatalf("erasing again: %v, %v, want nothing", again, err)
	}
}
