package deadline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func TestDueAt(t *testing.T) {
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	gdpr := privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationGDPR}
	explicit := metav1.NewTime(at(2027, 3, 1, 0))
	tests := []struct {
		name     string
		spec     privacyv1alpha1.PrivacyRequestSpec
		received time.Time
		want     time.Time
	}{
		{"GDPR in a 30-day month is one month", gdpr, at(2026, 11, 29, 10), at(2026, 12, 29, 10)},
		{"GDPR in a 31-day month is 30 days, before the calendar month ends", gdpr, at(2026, 12, 15, 8), at(2027, 1, 14, 8)},
		{"GDPR from 31 January ends on the last day of February", gdpr, at(2027, 1, 31, 9), at(2027, 2, 28, 9)},
		{"GDPR in a leap year", gdpr, at(2028, 1, 30, 9), at(2028, 2, 29, 9)},
		{"unset regulation is GDPR", privacyv1alpha1.PrivacyRequestSpec{}, at(2027, 1, 31, 9), at(2027, 2, 28, 9)},
		{"Other is 30 days", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationOther}, at(2027, 1, 31, 0), at(2027, 3, 2, 0)},
		{"CCPA is 45 days", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA}, at(2026, 11, 29, 10), at(2027, 1, 13, 10)},
		{"extension adds days", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Extension: &privacyv1alpha1.Extension{Days: 45}}, at(2026, 11, 29, 10), at(2027, 2, 27, 10)},
		{"explicit deadline wins", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Deadline: &explicit}, at(2026, 11, 29, 10), at(2027, 3, 1, 0)},
		{"extension moves an explicit deadline", privacyv1alpha1.PrivacyRequestSpec{Deadline: &explicit, Extension: &privacyv1alpha1.Extension{Days: 10}}, at(2026, 11, 29, 10), at(2027, 3, 11, 0)},
		// 15 business days: Wednesday 2 December 2026 -> Wednesday 23 December.
		{"CCPA opt-out is 15 business days", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Type: privacyv1alpha1.RequestTypeOptOut}, at(2026, 12, 2, 10), at(2026, 12, 23, 10)},
		// Received on Saturday 5 December: counted from Monday 7 December 00:00.
		{"CCPA opt-out received on a weekend counts from Monday", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Type: privacyv1alpha1.RequestTypeOptOut}, at(2026, 12, 5, 10), at(2026, 12, 28, 0)},
		{"CCPA access is 45 days", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Type: privacyv1alpha1.RequestTypeAccess}, at(2026, 11, 29, 10), at(2027, 1, 13, 10)},
		{"GDPR opt-out is one month", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationGDPR, Type: privacyv1alpha1.RequestTypeOptOut}, at(2026, 11, 29, 10), at(2026, 12, 29, 10)},
		{"a child's data is deleted within 7 days whatever the regulation", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, Type: privacyv1alpha1.RequestTypeDelete, Child: true}, at(2026, 12, 2, 10), at(2026, 12, 9, 10)},
		{"receivedAt starts the clock", privacyv1alpha1.PrivacyRequestSpec{Regulation: privacyv1alpha1.RegulationCCPA, ReceivedAt: ptr(metav1.NewTime(at(2026, 11, 20, 10)))}, at(2026, 11, 29, 10), at(2027, 1, 4, 10)},
		// 31 Jan 23:30 at UTC-5 is 1 Feb 04:30 UTC: months are counted in UTC.
		{"counted in UTC", gdpr, time.Date(2027, 1, 31, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600)), at(2027, 3, 1, 4).Add(30 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DueAt(tt.spec, tt.received)
			if !got.Equal(tt.want) {
				t.Errorf("DueAt = %s, want %s", got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("DueAt location = %s, want UTC", got.Location())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCheckReceived(t *testing.T) {
	created := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	spec := func(r time.Time) privacyv1alpha1.PrivacyRequestSpec {
		return privacyv1alpha1.PrivacyRequestSpec{ReceivedAt: ptr(metav1.NewTime(r))}
	}
	for _, ok := range []privacyv1alpha1.PrivacyRequestSpec{{}, spec(created), spec(created.Add(-30 * day)), spec(created.Add(ReceivedAtSkew))} {
		if err := CheckReceived(ok, created); err != nil {
			t.Errorf("CheckReceived(%v): %v", ok.ReceivedAt, err)
		}
	}
	for _, bad := range []time.Time{created.Add(ReceivedAtSkew + time.Second), created.Add(-ReceivedAtMaxAge - time.Second)} {
		if err := CheckReceived(spec(bad), created); err == nil {
			t.Errorf("CheckReceived(%s) accepted a receivedAt out of bounds", bad)
		}
	}
}

// TestTableInDocs keeps docs/deadlines.md's table what the code does.
func TestTableInDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "deadlines.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Table()) {
		t.Errorf("docs/deadlines.md does not hold the deadline table; put this in it:\n%s", Table())
	}
}
