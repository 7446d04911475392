package controllers_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/datasource/sqlsource"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
)

// The SQL data source of the Restore specs: people and a newsletter list.
const restoreMapping = `tables:
  users:
    identities: {email: email}
    access: [id, email, name]
    correct: [name]
    retention: {timestamp: last_seen_at, category: contact}
  newsletter:
    identities: {address: email}
    access: [address, subscribed]
    optOut:
      email-marketing: {column: subscribed, value: false}
`

// restoreTables are copied by a backup and put back by its restore, the
// source's own job record among them (as a real backup holds it).
var restoreTables = []string{"users", "newsletter", sqlsource.JobsTable}

// shopDB is one database of the SQL data source, on SQLite or PostgreSQL,
// with a backup made the way the database's own tools make one (a copy of
// every table) and a restore that puts the copy back.
type shopDB struct {
	db      *sql.DB
	kind    string
	dsn     string
	schema  string  // PostgreSQL: the live tables' schema
	admin   *sql.DB // PostgreSQL: makes and drops schemas
	dir     string  // SQLite: where the backup file goes
	backups int
}

// newShopDB opens a fresh database of kind "sqlite" or "postgres" with
// Ada, Grace and Alan (who reads the newsletter), and a customer not seen
// for three years (a retention purge's work).
func newShopDB(kind string) *shopDB {
	GinkgoHelper()
	s := &shopDB{kind: kind}
	ts := "TIMESTAMPTZ"
	switch kind {
	case "sqlite":
		s.dir = GinkgoT().TempDir()
		s.dsn = "sqlite:" + filepath.Join(s.dir, "shop.db")
		ts = "TEXT"
	case "postgres":
		admin := postgresAdmin()
		s.admin = admin
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		s.schema = "restore_" + hex.EncodeToString(b)
		_, err := admin.Exec("CREATE SCHEMA " + s.schema)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + s.schema + " CASCADE") })
		s.dsn = postgresDSN + "&search_path=" + s.schema
	}
	db, _, err := sqlsource.Open(s.dsn)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	s.db = db
	old, recent := time.Now().AddDate(-3, 0, 0).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)
	for _, stmt := range []string{
		"CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, last_seen_at " + ts + ")",
		"CREATE TABLE newsletter (address TEXT PRIMARY KEY, subscribed BOOLEAN NOT NULL)",
		"INSERT INTO users VALUES (1, 'ada@example.com', 'Ada Lovelace', '" + recent + "'), (2, 'grace@example.com', 'Grace Hopper', '" + recent + "')," +
			" (3, 'alan@example.com', 'Alan Turing', '" + recent + "'), (4, 'early@example.com', 'Early Bird', '" + recent + "')," +
			" (5, 'gone@example.com', 'Long Gone', '" + old + "')",
		"INSERT INTO newsletter VALUES ('ada@example.com', TRUE), ('alan@example.com', TRUE)",
	} {
		_, err := db.Exec(stmt)
		Expect(err).NotTo(HaveOccurred(), stmt)
	}
	return s
}

// source starts the SQL data source on this database as a DataSource of
// ns that declares backups kept 35 days.
func (s *shopDB) source(ns, name string) *source {
	GinkgoHelper()
	mapping, err := sqlsource.ParseMapping("mapping.yaml", []byte(restoreMapping))
	Expect(err).NotTo(HaveOccurred())
	db, dialect, err := sqlsource.Open(s.dsn)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	src := sqlsource.New(db, dialect, mapping, sqlsource.Options{HashKey: []byte("test-key")})
	Expect(src.Prepare(ctx)).To(Succeed())
	return newSource(ns, name, func(_ *source, cfg *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		sql := src.Config()
		sql.Secrets, sql.CallbackBackoff, sql.Now = cfg.Secrets, cfg.CallbackBackoff, cfg.Now
		*cfg = sql
		spec.RequestTypes = append(spec.RequestTypes, privacyv1alpha1.RequestTypePurge)
		spec.Categories = []privacyv1alpha1.DataCategory{"contact"}
		spec.Backups = &privacyv1alpha1.DataSourceBackups{RetainFor: "35d"}
	})
}

// backup copies every table; restore, the function it returns, puts the
// copy back in place of the live rows.
func (s *shopDB) backup() (restore func()) {
	GinkgoHelper()
	s.backups++
	switch s.kind {
	case "sqlite":
		file := filepath.Join(s.dir, fmt.Sprintf("backup-%d.db", s.backups))
		_, err := s.db.Exec("VACUUM INTO '" + file + "'")
		Expect(err).NotTo(HaveOccurred())
		return func() {
			GinkgoHelper()
			// ATTACH holds for one connection: one is taken for it.
			conn, err := s.db.Conn(ctx)
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			s.exec(conn, "ATTACH DATABASE '"+file+"' AS bk")
			for _, t := range restoreTables {
				s.exec(conn, "DELETE FROM main."+t)
				s.exec(conn, "INSERT INTO main."+t+" SELECT * FROM bk."+t)
			}
			s.exec(conn, "DETACH DATABASE bk")
		}
	default:
		bk := fmt.Sprintf("%s_bk%d", s.schema, s.backups)
		conn, err := s.db.Conn(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		s.exec(conn, "CREATE SCHEMA "+bk)
		for _, t := range restoreTables {
			s.exec(conn, "CREATE TABLE "+bk+"."+t+" AS SELECT * FROM "+s.schema+"."+t)
		}
		DeferCleanup(func() { _, _ = s.admin.Exec("DROP SCHEMA " + bk + " CASCADE") })
		return func() {
			GinkgoHelper()
			conn, err := s.db.Conn(ctx)
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			for _, t := range restoreTables {
				s.exec(conn, "DELETE FROM "+s.schema+"."+t)
				s.exec(conn, "INSERT INTO "+s.schema+"."+t+" SELECT * FROM "+bk+"."+t)
			}
		}
	}
}

func (s *shopDB) exec(conn *sql.Conn, stmt string) {
	GinkgoHelper()
	_, err := conn.ExecContext(ctx, stmt)
	Expect(err).NotTo(HaveOccurred(), stmt)
}

// state is what the database holds of the people: "email name" per user
// (by id), then the newsletter's subscribed addresses.
func (s *shopDB) state() string {
	GinkgoHelper()
	var out []string
	rows, err := s.db.Query("SELECT email, name FROM users ORDER BY id")
	Expect(err).NotTo(HaveOccurred())
	for rows.Next() {
		var email, name string
		Expect(rows.Scan(&email, &name)).To(Succeed())
		out = append(out, email+" "+name)
	}
	Expect(rows.Close()).To(Succeed())
	rows, err = s.db.Query("SELECT address FROM newsletter WHERE subscribed ORDER BY address")
	Expect(err).NotTo(HaveOccurred())
	for rows.Next() {
		var a string
		Expect(rows.Scan(&a)).To(Succeed())
		out = append(out, "subscribed "+a)
	}
	Expect(rows.Close()).To(Succeed())
	return strings.Join(out, "\n")
}

// postgresDSN is the loopback PostgreSQL of hack/postgres.sh, started (and
// installed from Debian's packages when missing) on first use.
var postgresDSN, postgresDown string

func postgresAdmin() *sql.DB {
	GinkgoHelper()
	if postgresDSN == "" && postgresDown == "" {
		postgresDSN = os.Getenv("PRIVACY_TEST_POSTGRES_DSN")
		if postgresDSN == "" {
			out, err := exec.Command("../hack/postgres.sh", "start").Output()
			postgresDSN = strings.TrimSpace(string(out))
			if err != nil || postgresDSN == "" {
				postgresDSN, postgresDown = "", fmt.Sprintf("hack/postgres.sh start failed: %v", err)
			}
		}
	}
	if postgresDown != "" {
		Skip("POSTGRESQL UNAVAILABLE, case not run: " + postgresDown)
	}
	db, err := sql.Open("pgx", postgresDSN)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	return db
}

// newRestore files a Restore of source's backup taken at taken.
func newRestore(ns, source string, taken time.Time) *privacyv1alpha1.Restore {
	GinkgoHelper()
	rs := &privacyv1alpha1.Restore{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "restore-", Namespace: ns},
		Spec:       privacyv1alpha1.RestoreSpec{DataSource: source, BackupTakenAt: metav1.NewTime(taken)},
	}
	Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	return rs
}

// restoreEnded waits until rs has finished (or was refused) and, unless
// refused, has its receipt.
func restoreEnded(rs *privacyv1alpha1.Restore) *privacyv1alpha1.Restore {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
		g.Expect(rs.Status.Phase).To(BeElementOf(privacyv1alpha1.RestorePhaseCompleted, privacyv1alpha1.RestorePhaseFailed, privacyv1alpha1.RestorePhaseRefused),
			"%+v", rs.Status)
		if rs.Status.Phase != privacyv1alpha1.RestorePhaseRefused {
			g.Expect(rs.Status.Receipt).NotTo(BeNil())
		}
	}).WithTimeout(time.Minute).Should(Succeed())
	return rs
}

// carriedOut files each request in turn and waits until it finished,
// Completed (in turn: their order is the replay's).
func carriedOut(prs ...*privacyv1alpha1.PrivacyRequest) {
	GinkgoHelper()
	for _, pr := range prs {
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(finished(pr).Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted), "%+v", pr.Status)
	}
}

// clockPast waits until the operator's clock is past t (whole seconds
// apart: a Restore's backupTakenAt is stored to the second).
func clockPast(t time.Time) {
	GinkgoHelper()
	Eventually(func() bool { return fakeClock.Now().After(t) }).WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).Should(BeTrue())
}

// backupMoment is a time, to the second, after everything finished so far
// and before anything that finishes once clockPast(it) returned.
func backupMoment() time.Time {
	t := fakeClock.Now().Add(time.Second).Truncate(time.Second)
	clockPast(t)
	return t
}
