package seal_test

import (
	"encoding/base64"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

func TestLoadRefusesBadKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	same := base64.StdEncoding.EncodeToString(make([]byte, seal.KeySize))
	long := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48)))
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"short", "k1", short, "decodes to 16 bytes, want 32"},
		{"long", "k1", long, "decodes to 48 bytes, want 32"},
		{"not base64", "k1", "this is not a key at all!", "not base64"},
		{"empty", "k1", "\n", "empty"},
		{"zeros", "k1", same, "not a random key"},
		{"huge", "k1", strings.Repeat("A", 4096), "larger than"},
		{"bad id", "k 1", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 31) + "x")), "only letters"},
		{"primary names a missing key", seal.PrimaryFile, "k9", "names key \"k9\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKey(t, dir, "k0")
			path := filepath.Join(dir, c.file)
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := seal.Load(dir)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not say %q", msg, c.want)
			}
			if c.file != seal.PrimaryFile && !strings.Contains(msg, path) {
				t.Fatalf("error %q does not name the file %s", msg, path)
			}
			if len(c.content) > 8 && strings.Contains(msg, strings.TrimSpace(c.content)[:8]) {
				t.Fatalf("error %q quotes the key", msg)
			}
		})
	}
	if _, err := seal.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no key files") {
		t.Fatalf("empty directory: %v", err)
	}
}

// A mounted Secret is a directory of symbolic links into a hidden,
// timestamped directory; Load follows them and skips the hidden entries.
func TestLoadMountedSecretLayout(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_07_12_00_00.000000001")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey(t, data, "2026-12-01")
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "2026-12-01"), filepath.Join(dir, "2026-12-01")); err != nil {
		t.Fatal(err)
	}
	r, err := seal.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := r.KeyIDs(); len(ids) != 1 || ids[0] != "2026-12-01" {
		t.Fatalf("keys %v", ids)
	}
}

// TestCheckCodeIsConstantTime reads CheckCode's source: a timing test would
// be flaky on a shared machine, while this one holds the property itself,
// that the typed code is compared with crypto/subtle and never with == or !=.
func TestCheckCodeIsConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "derive.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var body *ast.BlockStmt
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "CheckCode" {
			body = fn.Body
		}
	}
	if body == nil {
		t.Fatal("no CheckCode in derive.go")
	}
	subtle := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && id.Name == "subtle" && n.Sel.Name == "ConstantTimeCompare" {
				subtle = true
			}
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				// Only err != nil and the == 1 of ConstantTimeCompare.
				lit, isLit := n.Y.(*ast.BasicLit)
				id, isIdent := n.Y.(*ast.Ident)
				if !(isLit && lit.Kind == token.INT || isIdent && id.Name == "nil") {
					t.Errorf("CheckCode compares with %s", n.Op)
				}
			}
		}
		return true
	})
	if !subtle {
		t.Fatal("CheckCode does not use subtle.ConstantTimeCompare")
	}
}
