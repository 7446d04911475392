package sqlsource

import (
	"sort"
	"strconv"
	"strings"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// query builds one parameterised statement. Values only ever go into args;
// the text holds nothing but quoted identifiers from the validated mapping,
// keywords and placeholders.
type query struct {
	d    Dialect
	text strings.Builder
	args []any
}

func newQuery(d Dialect) *query { return &query{d: d} }

// arg adds a value and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	if q.d.numbered {
		return "$" + strconv.Itoa(len(q.args))
	}
	return "?"
}

func (q *query) add(parts ...string) *query {
	for _, p := range parts {
		q.text.WriteString(p)
	}
	return q
}

func (q *query) String() string { return q.text.String() }

// subject writes the condition that selects the subject's rows of t: its
// identity columns equal to the subject's identities, or its join column
// in the subject's rows of its parent. It returns false when the subject
// has none of the identities t can be found by: then t holds nothing on
// them and must not be touched (an empty condition would select every row).
func (s *Source) subject(q *query, t *Table, ids map[string]string) bool {
	if t.Identities != nil {
		cols := make([]string, 0, len(t.Identities))
		for col := range t.Identities {
			cols = append(cols, col)
		}
		sort.Strings(cols)
		var conds []string
		for _, col := range cols {
			if v, ok := ids[t.Identities[col]]; ok && v != "" {
				conds = append(conds, normalizedColumn(t.Identities[col], col)+" = "+q.arg(protocol.NormalizeIdentity(t.Identities[col], v)))
			}
		}
		if len(conds) == 0 {
			return false
		}
		q.add("(", strings.Join(conds, " OR "), ")")
		return true
	}
	parent := s.tables[t.Join.Parent]
	sub := &query{d: q.d, args: q.args}
	sub.add(quote(t.Join.Column), " IN (SELECT ", quote(t.Join.ParentColumn), " FROM ", quote(parent.Name), " WHERE ")
	if !s.subject(sub, parent, ids) {
		return false
	}
	sub.add(")")
	q.args = sub.args
	q.add(sub.String())
	return true
}

// depth is the number of joins between t and a table with identities.
func (s *Source) depth(t *Table) int {
	n := 0
	for t.Identities == nil {
		t = s.tables[t.Join.Parent]
		n++
	}
	return n
}

// childrenFirst orders tables so that every table comes before the table it
// joins to. Changes run in this order: deleting or correcting a parent
// first would cut its children off from the subject.
func (s *Source) childrenFirst() []*Table {
	out := append([]*Table(nil), s.mapping.Tables...)
	sort.SliceStable(out, func(i, j int) bool { return s.depth(out[i]) > s.depth(out[j]) })
	return out
}

// normalizedColumn is an identity column as SQL spells it in the form the
// operator sends identities (protocol.NormalizeIdentity), so that a row
// written "Ada@Example.com " is found by "ada@example.com": email trimmed
// and lower-cased, phone trimmed without spaces, dashes, dots and
// parentheses. (SQL has no NFKC: values stored in compatibility forms,
// such as full-width letters, are matched only as stored.) An index that
// should serve these lookups must be on the same expression, e.g.
// CREATE INDEX ON customers (lower(trim(email))).
func normalizedColumn(identityType, column string) string {
	c := quote(column)
	switch identityType {
	case "email":
		return "lower(trim(" + c + "))"
	case "phone":
		e := "trim(" + c + ")"
		for _, ch := range []string{" ", "-", ".", "(", ")"} {
			e = "replace(" + e + ", '" + ch + "', '')"
		}
		return e
	}
	return c
}
