// Package sqlsource is the reference SQL data source: a declarative mapping
// from the job protocol to the tables of a relational database.
//
// This file holds the mapping: which tables hold a subject's data, how they
// join to the subject, what Access returns, what Delete and Correct may do,
// how OptOut is recorded and how Purge finds expired rows. It is validated
// in full at start; every error names the file, the line and the field.
package sqlsource

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Mapping is a validated mapping file.
type Mapping struct {
	// File is where the mapping was read from; errors name it.
	File string
	// Tables in file order.
	Tables []*Table
}

// Table is one mapped table.
type Table struct {
	Name string
	line int
	// Identities maps a column to the identity type it holds (e.g. email).
	Identities map[string]string
	// Join ties a table without identities to its parent: Column holds the
	// value of Parent's ParentColumn.
	Join *Join
	// Access lists the columns Access returns.
	Access []string
	// Delete says what Delete does with the subject's rows.
	Delete DeleteRule
	// Correct lists the columns Correct may change; anything else is refused.
	Correct []string
	// OptOut maps a scope (e.g. email-marketing) to the column and value
	// that record the opt-out.
	OptOut map[string]OptOutRule
	// Retention says how Purge finds expired rows; nil: Purge skips the table.
	Retention *RetentionRule
}

// Join ties a table to its parent table.
type Join struct {
	Column       string
	Parent       string
	ParentColumn string
}

// DeleteRule is "delete" (remove the rows) or "anonymize" (keep the rows,
// overwrite the listed columns).
type DeleteRule struct {
	Mode      string
	Anonymize map[string]Anonymization
}

// Anonymization overwrites a column: with NULL, a hash of the old value, or
// a fixed value.
type Anonymization struct {
	Kind  string // null, hash or fixed
	Value string // for fixed
}

// OptOutRule records an opt-out by setting Column to Value.
type OptOutRule struct {
	Column string
	Value  any
}

// RetentionRule is how Purge finds a table's expired rows.
type RetentionRule struct {
	Timestamp string
	Category  string
}

var (
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	identType  = regexp.MustCompile(`^[a-z][a-zA-Z0-9]{0,62}$`)
	label      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// mappingError collects errors that each name file, line and field.
type mappingError struct {
	file string
	errs []string
}

func (e *mappingError) add(line int, field, format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf("%s:%d: %s: %s", e.file, line, field, fmt.Sprintf(format, args...)))
}

func (e *mappingError) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(e.errs, "\n"))
}

// LoadMapping reads and validates a mapping file.
func LoadMapping(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return ParseMapping(path, data)
}

// ParseMapping validates a mapping; file names it in errors.
func ParseMapping(file string, data []byte) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	e := &mappingError{file: file}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		e.add(1, "(top)", "the mapping must be a YAML object with a tables field")
		return nil, e.err()
	}
	top := doc.Content[0]
	m := &Mapping{File: file}
	tablesNode := fields(e, top, "(top)", "tables")["tables"]
	if tablesNode == nil {
		e.add(top.Line, "tables", "is required")
		return nil, e.err()
	}
	if tablesNode.Kind != yaml.MappingNode || len(tablesNode.Content) == 0 {
		e.add(tablesNode.Line, "tables", "must map at least one table name to its mapping")
		return nil, e.err()
	}
	for i := 0; i+1 < len(tablesNode.Content); i += 2 {
		name, body := tablesNode.Content[i], tablesNode.Content[i+1]
		t := parseTable(e, name.Value, name.Line, body)
		m.Tables = append(m.Tables, t)
	}
	checkJoins(e, m)
	if err := e.err(); err != nil {
		return nil, err
	}
	return m, nil
}

// fields returns the values of a mapping node by key and reports keys
// outside allowed (typos must not be ignored silently).
func fields(e *mappingError, n *yaml.Node, path string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		e.add(n.Line, path, "must be a YAML object")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(allowed, k.Value) {
			e.add(k.Line, path+"."+k.Value, "unknown field; allowed: %s", strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = n.Content[i+1]
	}
	return out
}

func parseTable(e *mappingError, name string, line int, n *yaml.Node) *Table {
	path := "tables." + name
	t := &Table{Name: name, line: line}
	if !identifier.MatchString(name) {
		e.add(line, path, "%q is not a plain SQL identifier (letters, digits, _)", name)
	}
	f := fields(e, n, path, "identities", "join", "access", "delete", "correct", "optOut", "retention")

	if v := f["identities"]; v != nil {
		t.Identities = map[string]string{}
		for col, typ := range stringMap(e, v, path+".identities") {
			if !identifier.MatchString(col) {
				e.add(v.Line, path+".identities."+col, "column is not a plain SQL identifier")
			}
			if !identType.MatchString(typ) {
				e.add(v.Line, path+".identities."+col, "identity type %q must be camelCase, such as email or userId", typ)
			}
			t.Identities[col] = typ
		}
	}
	if v := f["join"]; v != nil {
		jf := fields(e, v, path+".join", "column", "references")
		t.Join = &Join{Column: scalar(e, jf["column"], v.Line, path+".join.column")}
		ref := scalar(e, jf["references"], v.Line, path+".join.references")
		parent, col, ok := strings.Cut(ref, ".")
		if !ok || !identifier.MatchString(parent) || !identifier.MatchString(col) {
			e.add(v.Line, path+".join.references", "must be table.column, got %q", ref)
		}
		t.Join.Parent, t.Join.ParentColumn = parent, col
		if !identifier.MatchString(t.Join.Column) {
			e.add(v.Line, path+".join.column", "is not a plain SQL identifier")
		}
	}
	if t.Identities == nil && t.Join == nil {
		e.add(line, path, "needs identities (columns that hold identities) or a join to a table that has them")
	}
	t.Access = columnList(e, f["access"], path+".access")
	t.Correct = columnList(e, f["correct"], path+".correct")

	t.Delete = DeleteRule{Mode: "delete"}
	if v := f["delete"]; v != nil {
		df := fields(e, v, path+".delete", "mode", "anonymize")
		if m := df["mode"]; m != nil {
			t.Delete.Mode = m.Value
		}
		switch t.Delete.Mode {
		case "delete":
			if df["anonymize"] != nil {
				e.add(v.Line, path+".delete.anonymize", "only with mode: anonymize")
			}
		case "anonymize":
			t.Delete.Anonymize = map[string]Anonymization{}
			for col, how := range stringMap(e, df["anonymize"], path+".delete.anonymize") {
				a := Anonymization{Kind: how}
				if v, ok := strings.CutPrefix(how, "fixed:"); ok {
					a = Anonymization{Kind: "fixed", Value: v}
				}
				if a.Kind != "null" && a.Kind != "hash" && a.Kind != "fixed" {
					e.add(v.Line, path+".delete.anonymize."+col, "must be null, hash or fixed:<value>, got %q", how)
				}
				if !identifier.MatchString(col) {
					e.add(v.Line, path+".delete.anonymize."+col, "column is not a plain SQL identifier")
				}
				t.Delete.Anonymize[col] = a
			}
			if len(t.Delete.Anonymize) == 0 {
				e.add(v.Line, path+".delete.anonymize", "anonymize needs at least one column")
			}
		default:
			e.add(v.Line, path+".delete.mode", "must be delete or anonymize, got %q", t.Delete.Mode)
		}
	}
	if v := f["optOut"]; v != nil {
		t.OptOut = map[string]OptOutRule{}
		if v.Kind != yaml.MappingNode {
			e.add(v.Line, path+".optOut", "must map a scope to {column, value}")
		}
		for i := 0; v.Kind == yaml.MappingNode && i+1 < len(v.Content); i += 2 {
			scope, body := v.Content[i], v.Content[i+1]
			sp := path + ".optOut." + scope.Value
			if !label.MatchString(scope.Value) {
				e.add(scope.Line, sp, "scope must be lowercase words joined by -, such as email-marketing")
			}
			of := fields(e, body, sp, "column", "value")
			rule := OptOutRule{Column: scalar(e, of["column"], body.Line, sp+".column")}
			if !identifier.MatchString(rule.Column) {
				e.add(body.Line, sp+".column", "is not a plain SQL identifier")
			}
			if val := of["value"]; val == nil {
				e.add(body.Line, sp+".value", "is required")
			} else if err := val.Decode(&rule.Value); err != nil || val.Kind != yaml.ScalarNode {
				e.add(val.Line, sp+".value", "must be a scalar (true, false, a number or a string)")
			}
			t.OptOut[scope.Value] = rule
		}
	}
	if v := f["retention"]; v != nil {
		rf := fields(e, v, path+".retention", "timestamp", "category")
		t.Retention = &RetentionRule{
			Timestamp: scalar(e, rf["timestamp"], v.Line, path+".retention.timestamp"),
			Category:  scalar(e, rf["category"], v.Line, path+".retention.category"),
		}
		if !identifier.MatchString(t.Retention.Timestamp) {
			e.add(v.Line, path+".retention.timestamp", "is not a plain SQL identifier")
		}
		if !label.MatchString(t.Retention.Category) {
			e.add(v.Line, path+".retention.category", "must be a data category such as usage or billing")
		}
	}
	return t
}

// checkJoins makes sure every join leads to a mapped table with
// identities, without cycles.
func checkJoins(e *mappingError, m *Mapping) {
	byName := map[string]*Table{}
	for _, t := range m.Tables {
		byName[t.Name] = t
	}
	for _, t := range m.Tables {
		seen := map[string]bool{t.Name: true}
		cur := t
		for cur.Join != nil && cur.Identities == nil {
			parent := byName[cur.Join.Parent]
			if parent == nil {
				e.add(cur.line, "tables."+cur.Name+".join.references", "table %q is not mapped", cur.Join.Parent)
				break
			}
			if seen[parent.Name] {
				e.add(t.line, "tables."+t.Name+".join", "joins form a cycle through %q", parent.Name)
				break
			}
			seen[parent.Name] = true
			cur = parent
		}
	}
}

func scalar(e *mappingError, n *yaml.Node, parentLine int, path string) string {
	if n == nil {
		e.add(parentLine, path, "is required")
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		e.add(n.Line, path, "must be a single value")
		return ""
	}
	return n.Value
}

func stringMap(e *mappingError, n *yaml.Node, path string) map[string]string {
	out := map[string]string{}
	if n == nil {
		return out
	}
	if n.Kind != yaml.MappingNode {
		e.add(n.Line, path, "must map names to values")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i+1].Value
	}
	return out
}

func columnList(e *mappingError, n *yaml.Node, path string) []string {
	if n == nil {
		return nil
	}
	var cols []string
	if n.Kind != yaml.SequenceNode {
		e.add(n.Line, path, "must be a list of columns")
		return nil
	}
	for _, c := range n.Content {
		if !identifier.MatchString(c.Value) {
			e.add(c.Line, path, "%q is not a plain SQL identifier", c.Value)
			continue
		}
		cols = append(cols, c.Value)
	}
	return cols
}

// IdentityTypes are the identity types the mapping can find a subject by.
func (m *Mapping) IdentityTypes() []string {
	set := map[string]bool{}
	for _, t := range m.Tables {
		for _, typ := range t.Identities {
			set[typ] = true
		}
	}
	return sortedKeys(set)
}

// Categories are the data categories the mapping purges.
func (m *Mapping) Categories() []string {
	set := map[string]bool{}
	for _, t := range m.Tables {
		if t.Retention != nil {
			set[t.Retention.Category] = true
		}
	}
	return sortedKeys(set)
}

// columns are the columns of t the mapping names, each once, in a stable
// order, with the table each belongs to (a join names its parent's column).
func (m *Mapping) columns() []tableColumn {
	var out []tableColumn
	seen := map[tableColumn]bool{}
	add := func(t *Table, table string, cols ...string) {
		for _, c := range cols {
			tc := tableColumn{table: table, column: c, line: t.line, mappedBy: t.Name}
			key := tableColumn{table: table, column: c}
			if c != "" && !seen[key] {
				seen[key] = true
				out = append(out, tc)
			}
		}
	}
	for _, t := range m.Tables {
		for _, c := range sortedKeys(t.Identities) {
			add(t, t.Name, c)
		}
		if t.Join != nil {
			add(t, t.Name, t.Join.Column)
			add(t, t.Join.Parent, t.Join.ParentColumn)
		}
		add(t, t.Name, t.Access...)
		add(t, t.Name, t.Correct...)
		add(t, t.Name, sortedKeys(t.Delete.Anonymize)...)
		for _, scope := range sortedKeys(t.OptOut) {
			add(t, t.Name, t.OptOut[scope].Column)
		}
		if t.Retention != nil {
			add(t, t.Name, t.Retention.Timestamp)
		}
	}
	return out
}

// tableColumn is a column the mapping names, and the line of the table
// entry that names it.
type tableColumn struct {
	table, column string
	line          int
	mappedBy      string
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
