package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// A table without identity columns is found through its join: its rows of
// the subject are those whose join column points at the subject's rows of
// the parent. When a purge removes parent rows (the parent has a retention
// rule), what happens to the child's link decides whether a later Delete
// still finds the child's rows: ON DELETE CASCADE removes them with the
// parent, RESTRICT or NO ACTION makes the purge fail (loudly), but SET NULL,
// SET DEFAULT or no foreign key at all leaves rows that hold personal data
// and point at nothing. A Delete then reports success while the person's
// data stays. checkPaths refuses such a mapping at start.

// onDelete is what a foreign key does when its parent row goes: "CASCADE",
// "RESTRICT", "NO ACTION", "SET NULL", "SET DEFAULT", or "" without one.
type onDelete struct {
	action     string
	constraint string // the constraint's name, if the database has one
}

// checkPaths returns a problem for every join that a purge of its parent
// can cut, naming the mapping's line, the table, the column and the
// constraint.
func (s *Source) checkPaths(ctx context.Context) ([]string, error) {
	var problems []string
	for _, t := range s.mapping.Tables {
		if t.Join == nil {
			continue
		}
		parent := s.tables[t.Join.Parent]
		if parent == nil {
			continue
		}
		why, err := s.purgedBy(ctx, parent, 0)
		if err != nil {
			return nil, err
		}
		if why == "" {
			continue
		}
		fk, err := s.foreignKey(ctx, t.Name, t.Join.Column, parent.Name, t.Join.ParentColumn)
		if err != nil {
			return nil, err
		}
		var what string
		switch fk.action {
		case "CASCADE", "RESTRICT", "NO ACTION":
			continue
		case "":
			what = "has no foreign key to " + parent.Name + "." + t.Join.ParentColumn
		default:
			what = "has a foreign key"
			if fk.constraint != "" {
				what += " " + fk.constraint
			}
			what += " ON DELETE " + fk.action
		}
		problems = append(problems, fmt.Sprintf("%s:%d: tables.%s.join: %s.%s %s, and a purge of %s (%s) "+
			"cuts the rows of %s off from the person: a later Delete would report success while their data in %s stays. "+
			"Give %s its own identity column (identities: {column: type}) so that it is found without %s, "+
			"or make the foreign key ON DELETE CASCADE (purged with %s) or RESTRICT (the purge fails instead)",
			s.mapping.File, t.line, t.Name, t.Name, t.Join.Column, what, parent.Name, why,
			t.Name, t.Name, t.Name, parent.Name, parent.Name))
	}
	return problems, nil
}

// purgedBy says how a purge can remove rows of t ("" if it cannot): its
// own retention rule, or a purge of an ancestor that cascades into it.
func (s *Source) purgedBy(ctx context.Context, t *Table, depth int) (string, error) {
	if t.Retention != nil {
		return "retention, category " + t.Retention.Category, nil
	}
	if t.Join == nil || depth > len(s.tables) {
		return "", nil
	}
	parent := s.tables[t.Join.Parent]
	if parent == nil {
		return "", nil
	}
	why, err := s.purgedBy(ctx, parent, depth+1)
	if why == "" || err != nil {
		return "", err
	}
	fk, err := s.foreignKey(ctx, t.Name, t.Join.Column, parent.Name, t.Join.ParentColumn)
	if err != nil || fk.action != "CASCADE" {
		return "", err
	}
	return "rows deleted with " + parent.Name + ": " + why, nil
}

// foreignKey reads the foreign key of table.column that references
// parent.parentColumn.
func (s *Source) foreignKey(ctx context.Context, table, column, parent, parentColumn string) (onDelete, error) {
	var fk onDelete
	var err error
	if s.d.name == "sqlite" {
		err = s.db.QueryRowContext(ctx, `SELECT on_delete FROM pragma_foreign_key_list(?)
			WHERE "table" = ? AND "from" = ? AND ("to" = ? OR "to" IS NULL) LIMIT 1`,
			table, parent, column, parentColumn).Scan(&fk.action)
	} else {
		var code string
		err = s.db.QueryRowContext(ctx, `SELECT c.conname, c.confdeltype FROM pg_constraint c
			WHERE c.contype = 'f' AND c.conrelid = to_regclass(quote_ident($1)) AND c.confrelid = to_regclass(quote_ident($2))
			AND array_length(c.conkey, 1) = 1
			AND (SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = c.conkey[1]) = $3
			AND (SELECT attname FROM pg_attribute WHERE attrelid = c.confrelid AND attnum = c.confkey[1]) = $4
			ORDER BY c.conname LIMIT 1`, table, parent, column, parentColumn).Scan(&fk.constraint, &code)
		fk.action = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}[code]
	}
	if errors.Is(err, sql.ErrNoRows) {
		return onDelete{}, nil
	}
	if err != nil {
		return onDelete{}, classify(err, table, "reading its foreign keys")
	}
	return fk, nil
}
