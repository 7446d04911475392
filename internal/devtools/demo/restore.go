package demo

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/datasource/sqlsource"
)

// The shop declares backups kept 35 days (docs/backups.md): the operator
// keeps, sealed, what each Delete, Correct and OptOut sent it. The demo
// backs the shop's database up before Ada's requests, restores it once
// they are done (Ada is back), and files a Restore with kubectl privacy:
// her deletion, correction and opt-out are sent again, and the usage
// purge runs once.

// shopBackups is what the shop's DataSource adds to its spec.
const shopBackups = "  backups:\n    retainFor: 35d   # docs/backups.md\n"

// backupShop copies the shop's database (SQLite's VACUUM INTO, while the
// source serves) and returns when the backup was taken, to the second,
// once the clock is past it: whatever finishes from then on is newer.
func (r *run) backupShop() (time.Time, error) {
	db, _, err := sqlsource.Open("sqlite:" + filepath.Join(r.Dir, "shop.db"))
	if err != nil {
		return time.Time{}, err
	}
	defer db.Close()
	taken := time.Now().Truncate(time.Second)
	if _, err := db.Exec("VACUUM INTO '" + r.shopBackupPath() + "'"); err != nil {
		return time.Time{}, fmt.Errorf("back the shop up: %w", err)
	}
	r.step("Backing up the shop's database (%s, taken at %s); the shop declares backups kept 35 days", r.shopBackupPath(), taken.UTC().Format(time.RFC3339))
	time.Sleep(time.Until(taken.Add(time.Second)))
	return taken, nil
}

func (r *run) shopBackupPath() string { return filepath.Join(r.Dir, "shop-backup.db") }

// restoreShop puts the backup back in place of every table of the shop's
// database (as a restore does), shows Ada is back, and files a Restore.
func (r *run) restoreShop(ctx context.Context, taken time.Time) error {
	r.step("The shop restores the backup taken at %s", taken.UTC().Format(time.RFC3339))
	if err := r.copyBackBackup(ctx); err != nil {
		return err
	}
	before, err := r.shopCounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "  back from the backup: %s\n", before)
	args := []string{"restore", "shop", "-n", "shop", "--backup-taken-at", taken.UTC().Format(time.RFC3339), "--kubeconfig", r.cp.KubeconfigPath}
	fmt.Fprintf(r.Out, "  $ kubectl privacy %s\n", strings.Join(args[:len(args)-2], " "))
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(r.Bin, "kubectl-privacy"), args...).CombinedOutput()
	fmt.Fprint(r.Out, indent(strings.TrimRight(string(out), "\n")))
	if err != nil {
		return fmt.Errorf("kubectl privacy restore: %w", err)
	}
	after, err := r.shopCounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(r.Out, "  after the Restore:    %s\n", after)
	return nil
}

// copyBackBackup replaces the rows of every table of shop.db with the
// backup's, on one connection (ATTACH holds for one).
func (r *run) copyBackBackup(ctx context.Context) error {
	db, _, err := sqlsource.Open("sqlite:" + filepath.Join(r.Dir, "shop.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		tables = append(tables, t)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	stmts := []string{"PRAGMA foreign_keys = OFF", "ATTACH DATABASE '" + r.shopBackupPath() + "' AS backup", "BEGIN"}
	for _, t := range tables {
		stmts = append(stmts, `DELETE FROM main."`+t+`"`, `INSERT INTO main."`+t+`" SELECT * FROM backup."`+t+`"`)
	}
	stmts = append(stmts, "COMMIT", "DETACH DATABASE backup", "PRAGMA foreign_keys = ON")
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("restore the shop (%s): %w", s, err)
		}
	}
	return nil
}

// shopCounts says what the shop holds of Ada and of old orders.
func (r *run) shopCounts() (string, error) {
	db := filepath.Join(r.Dir, "shop.db")
	ada, err := count(db, "SELECT COUNT(*) FROM customers WHERE email = ?", 1)
	if err != nil {
		return "", err
	}
	old, err := count(db, "SELECT COUNT(*) FROM orders WHERE julianday(created_at) < julianday('now', '-365 days')", 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("customers with Ada's email %d, orders older than a year %d", ada, old), nil
}
