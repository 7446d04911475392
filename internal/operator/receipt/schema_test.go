package receipt

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFile is the published schema of the stored object.
var schemaFile = filepath.Join("..", "..", "..", "docs", "receipts.schema.json")

// fullReceipts are one receipt of each kind with every optional field set,
// so that validating them touches every property of the schema.
func fullReceipts() []*Receipt {
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	n := int64(12)
	source := Source{
		Namespace: "shop", Name: "billing", JobID: "job-1", Outcome: OutcomeHeld, Records: &n, Attempts: 2,
		FirstAttemptAt: &at, LastAttemptAt: &later, Message: "kept under hold", Hold: "audit-2026", HeldCategories: []string{"invoices"},
	}
	sum := Hash([]byte("export"))
	request := requestReceipt(1)
	req := request.Request
	req.Type, req.Channel, req.Requester = "Access", "web-form", "system:serviceaccount:crm:intake"
	req.Extension = &Extension{Days: 30, Reason: "complex request"}
	req.Subject = Subject{FingerprintKeyID: "0123456789abcdef", Fingerprints: []IdentityFingerprint{{Type: "email", Value: Hash([]byte("fp"))}}, Unresolved: "Secret crm/subject-1 is missing"}
	req.Approval = &Approval{Approver: "dpo@example.org", Reason: "verified identity", ApprovedAt: at}
	req.Holds = []Hold{{Name: "audit-2026", Reason: "tax audit"}}
	req.Sources = []Source{source}
	req.Export = &Export{Location: "s3://exports/access/uid/export.json", SHA256: sum, Bytes: 2048}
	return []*Receipt{
		request,
		{Kind: KindRetentionRun, Retention: &RetentionRun{
			Policy: PolicyRef{Name: "orders-7y", UID: "uid-1"}, ScheduledTime: at, Cutoff: &at, Categories: []string{"orders", "invoices"},
			Action: "Delete", Outcome: OutcomeCompleted, FinishedAt: later, Sources: []Source{source},
		}},
		{Kind: KindSweep, Sweep: &Sweep{RemovedThrough: 1, RemovedThroughHash: sum, OlderThan: at, Retention: "17520h0m0s"}},
		{Kind: KindDelivery, Delivery: &Delivery{
			Request: "access-2026-0001", UID: "uid-2", Number: 1, Format: "json", DeliveredAt: later, Channel: "privacy-center",
			Export: req.Export, RequestReceipt: 7,
		}},
		{Kind: KindRestore, Restore: &Restore{
			Name: "restore-1", Namespace: "shop", UID: "uid-3", DataSource: "orders", BackupTakenAt: at, StartedAt: at, FinishedAt: later,
			Outcome: OutcomeFailed, Counts: RestoreCounts{ToReplay: 3, Sent: 2, Completed: 1, Failed: 1, Held: 1},
			Replayed: []ReplayedJob{{JobID: "pr-1", Sequence: 4}, {JobID: "pr-2"}},
			Failures: []ReplayFailure{{JobID: "rs-1", OriginalJobID: "pr-2", Message: "database unavailable"}},
			Holds:    []string{"audit-2026"},
			Purges:   []RestorePurge{{Policy: "contact-400d", Outcome: "Completed", Records: &n, Hold: "audit-2026", Message: "categories held"}},
		}},
		{Kind: KindReplayErasure, Erasure: &ReplayErasure{Periods: []string{"2026-01-01", "2026-01-02"}, Cutoff: at}},
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	if err := c.AddResource("receipts.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("receipts.schema.json")
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return sch
}

// The objects a log writes validate against docs/receipts.schema.json,
// and objects the schema must refuse are refused.
func TestStoredReceiptsMatchTheSchema(t *testing.T) {
	sch := compileSchema(t)
	s, signer := dirStore(t), newSigner(t)
	l := openLog(t, s, signer, newClock())
	for _, r := range fullReceipts() {
		ref, err := l.Append(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(sch, mustGet(t, s, ref.Name)); err != nil {
			t.Errorf("receipt %d (%s): %v", ref.Sequence, r.Kind, err)
		}
	}
	data := mustGet(t, s, Name(1))
	for what, bad := range map[string][]byte{
		"an unknown field":       bytes.Replace(data, []byte(`"kind":`), []byte(`"extra":1,"kind":`), 1),
		"another kind's body":    bytes.Replace(data, []byte(`"kind":"PrivacyRequest"`), []byte(`"kind":"Sweep"`), 1),
		"a short previous hash":  bytes.Replace(mustGet(t, s, Name(2)), []byte(`"previous":"`), []byte(`"previous":"ab`), 1),
		"another signature alg.": bytes.Replace(data, []byte(`"algorithm":"Ed25519"`), []byte(`"algorithm":"RSA"`), 1),
	} {
		if validate(sch, bad) == nil {
			t.Errorf("the schema accepts %s", what)
		}
	}
}

func validate(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// Every JSON field of the Go types is in the schema and the other way
// round, per object: the schema cannot drift from the code unnoticed.
func TestSchemaNamesEveryField(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage            `json:"properties"`
		Defs       map[string]map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	props := func(def string) []string {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(schema.Defs[def]["properties"], &p); err != nil {
			t.Fatalf("$defs/%s: %v", def, err)
		}
		return sortedKeys(p)
	}
	nested := func(def, field string) []string {
		var p map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Items      struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"items"`
		}
		if err := json.Unmarshal(schema.Defs[def]["properties"], &p); err != nil {
			t.Fatal(err)
		}
		if p[field].Properties != nil {
			return sortedKeys(p[field].Properties)
		}
		return sortedKeys(p[field].Items.Properties)
	}
	for _, c := range []struct {
		goType any
		schema []string
	}{
		{Stored{}, sortedKeys(schema.Properties)},
		{Signature{}, props("signature")},
		{Receipt{}, props("receipt")},
		{Request{}, props("request")},
		{Extension{}, nested("request", "extension")},
		{Approval{}, nested("request", "approval")},
		{Hold{}, nested("request", "holds")},
		{Export{}, nested("request", "export")},
		{Subject{}, props("subject")},
		{IdentityFingerprint{}, nested("subject", "fingerprints")},
		{Source{}, props("source")},
		{RetentionRun{}, props("retentionRun")},
		{PolicyRef{}, nested("retentionRun", "policy")},
		{Sweep{}, props("sweep")},
		{Restore{}, props("restore")},
		{RestoreCounts{}, nested("restore", "counts")},
		{ReplayedJob{}, nested("restore", "replayed")},
		{ReplayFailure{}, nested("restore", "failures")},
		{RestorePurge{}, nested("restore", "purges")},
		{ReplayErasure{}, props("replayErasure")},
	} {
		if got := jsonFields(c.goType); strings.Join(got, ",") != strings.Join(c.schema, ",") {
			t.Errorf("%T: Go fields %v, schema properties %v", c.goType, got, c.schema)
		}
	}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonFields are the JSON names of a struct's fields, sorted.
func jsonFields(v any) []string {
	typ := reflect.TypeOf(v)
	var out []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
