package deadline

import (
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
