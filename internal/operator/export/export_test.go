package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAssemble(t *testing.T) {
	ctx := context.Background()
	s := DirStore{Dir: t.TempDir()}
	part := []byte(`{"orders":[1,2]}`)
	if err := s.WritePart(ctx, "uid-1", PartName("shop", "billing"), part); err != nil {
		t.Fatal(err)
	}
	partSum := sha256.Sum256(part)
	m := Manifest{Request: "access-ada", UID: "uid-1", CreatedAt: time.Unix(0, 0).UTC(), Sources: []Source{
		{Namespace: "shop", Name: "billing", Status: "Completed", Records: 2},
		{Namespace: "crm", Name: "contacts", Status: "NotFound"},
	}}
	ref, err := s.Assemble(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ref.Location)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if ref.SHA256 != hex.EncodeToString(sum[:]) || ref.Bytes != int64(len(data)) {
		t.Errorf("ref %+v does not describe the file (%d bytes)", ref, len(data))
	}
	var doc struct {
		Manifest Manifest                   `json:"manifest"`
		Data     map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, data)
	}
	if string(doc.Data["shop/billing"]) != `{"orders":[1,2]}` || len(doc.Data) != 1 || len(doc.Manifest.Sources) != 2 {
		t.Errorf("export = %s", data)
	}
	if got := doc.Manifest.Sources[0]; got.SHA256 != hex.EncodeToString(partSum[:]) || got.Bytes != int64(len(part)) {
		t.Errorf("manifest entry %+v does not describe the part", got)
	}
	if got := doc.Manifest.Sources[1]; got.SHA256 != "" || got.Bytes != 0 {
		t.Errorf("manifest entry of a source without data: %+v", got)
	}
	if info, _ := os.Stat(ref.Location); info.Mode().Perm() != 0o600 {
		t.Errorf("export mode = %v, want 0600", info.Mode().Perm())
	}
	again, err := s.Assemble(ctx, m)
	if err != nil || again.SHA256 != ref.SHA256 {
		t.Errorf("assembling again (a retried pass) gave %+v, %v; want the same export %s", again, err, ref.SHA256)
	}
	if err := s.Delete(ctx, "uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(ref.Location)); !os.IsNotExist(err) {
		t.Errorf("export directory still there after Delete: %v", err)
	}
}

func TestRefusesUnsafeNames(t *testing.T) {
	s := DirStore{Dir: t.TempDir()}
	if err := s.WritePart(context.Background(), "../etc", "x", []byte("{}")); err == nil {
		t.Error("WritePart accepted a path-traversing uid")
	}
	if err := s.WritePart(context.Background(), "uid", "a/b", []byte("{}")); err == nil {
		t.Error("WritePart accepted a path-traversing part")
	}
	if err := s.WritePart(context.Background(), "uid", "ok", []byte("not json")); err == nil {
		t.Error("WritePart accepted data that is not JSON")
	}
}
