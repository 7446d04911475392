// Package sqlsource is the reference SQL data source: a declarative mapping
// from the job protocol to the tables of a relational database.
//
// This file holds the mapping: which tables hold a subject's data, how they
// join to the subject, what Access returns, what Delete and Correct may do,
// how OptOut is recorded and how Purge finds expired rows. It is validated
// in full at start (mapping_parse.go); every error names the file, the line
// and the field.
package sqlsource

import "sort"

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
