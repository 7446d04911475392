package sqlsource

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

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
		t.Identities = parseIdentities(e, v, path+".identities")
	}
	if v := f["join"]; v != nil {
		t.Join = parseJoin(e, v, path+".join")
	}
	if t.Identities == nil && t.Join == nil {
		e.add(line, path, "needs identities (columns that hold identities) or a join to a table that has them")
	}
	t.Access = columnList(e, f["access"], path+".access")
	t.Correct = columnList(e, f["correct"], path+".correct")

	t.Delete = parseDelete(e, f["delete"], path+".delete")
	if v := f["optOut"]; v != nil {
		t.OptOut = parseOptOut(e, v, path+".optOut")
	}
	if v := f["retention"]; v != nil {
		t.Retention = parseRetention(e, v, path+".retention")
	}
	return t
}

// parseIdentities returns a non-nil map even when n maps nothing: an empty
// identities field still counts as given.
func parseIdentities(e *mappingError, n *yaml.Node, path string) map[string]string {
	ids := map[string]string{}
	for col, typ := range stringMap(e, n, path) {
		if !identifier.MatchString(col) {
			e.add(n.Line, path+"."+col, "column is not a plain SQL identifier")
		}
		if !identType.MatchString(typ) {
			e.add(n.Line, path+"."+col, "identity type %q must be camelCase, such as email or userId", typ)
		}
		ids[col] = typ
	}
	return ids
}

func parseJoin(e *mappingError, n *yaml.Node, path string) *Join {
	jf := fields(e, n, path, "column", "references")
	j := &Join{Column: scalar(e, jf["column"], n.Line, path+".column")}
	ref := scalar(e, jf["references"], n.Line, path+".references")
	parent, col, ok := strings.Cut(ref, ".")
	if !ok || !identifier.MatchString(parent) || !identifier.MatchString(col) {
		e.add(n.Line, path+".references", "must be table.column, got %q", ref)
	}
	j.Parent, j.ParentColumn = parent, col
	if !identifier.MatchString(j.Column) {
		e.add(n.Line, path+".column", "is not a plain SQL identifier")
	}
	return j
}

// parseDelete reads a delete rule; a table without one deletes its rows.
func parseDelete(e *mappingError, n *yaml.Node, path string) DeleteRule {
	rule := DeleteRule{Mode: "delete"}
	if n == nil {
		return rule
	}
	df := fields(e, n, path, "mode", "anonymize")
	if m := df["mode"]; m != nil {
		rule.Mode = m.Value
	}
	switch rule.Mode {
	case "delete":
		if df["anonymize"] != nil {
			e.add(n.Line, path+".anonymize", "only with mode: anonymize")
		}
	case "anonymize":
		rule.Anonymize = parseAnonymize(e, df["anonymize"], n.Line, path+".anonymize")
	default:
		e.add(n.Line, path+".mode", "must be delete or anonymize, got %q", rule.Mode)
	}
	return rule
}

// parseAnonymize reads the columns to overwrite; its errors name line, the
// delete rule's, because n may be missing.
func parseAnonymize(e *mappingError, n *yaml.Node, line int, path string) map[string]Anonymization {
	cols := map[string]Anonymization{}
	for col, how := range stringMap(e, n, path) {
		a := Anonymization{Kind: how}
		if v, ok := strings.CutPrefix(how, "fixed:"); ok {
			a = Anonymization{Kind: "fixed", Value: v}
		}
		if a.Kind != "null" && a.Kind != "hash" && a.Kind != "fixed" {
			e.add(line, path+"."+col, "must be null, hash or fixed:<value>, got %q", how)
		}
		if !identifier.MatchString(col) {
			e.add(line, path+"."+col, "column is not a plain SQL identifier")
		}
		cols[col] = a
	}
	if len(cols) == 0 {
		e.add(line, path, "anonymize needs at least one column")
	}
	return cols
}

func parseOptOut(e *mappingError, n *yaml.Node, path string) map[string]OptOutRule {
	rules := map[string]OptOutRule{}
	if n.Kind != yaml.MappingNode {
		e.add(n.Line, path, "must map a scope to {column, value}")
	}
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		scope, body := n.Content[i], n.Content[i+1]
		sp := path + "." + scope.Value
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
		rules[scope.Value] = rule
	}
	return rules
}

func parseRetention(e *mappingError, n *yaml.Node, path string) *RetentionRule {
	rf := fields(e, n, path, "timestamp", "category")
	r := &RetentionRule{
		Timestamp: scalar(e, rf["timestamp"], n.Line, path+".timestamp"),
		Category:  scalar(e, rf["category"], n.Line, path+".category"),
	}
	if !identifier.MatchString(r.Timestamp) {
		e.add(n.Line, path+".timestamp", "is not a plain SQL identifier")
	}
	if !label.MatchString(r.Category) {
		e.add(n.Line, path+".category", "must be a data category such as usage or billing")
	}
	return r
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
