package privacyctl

import (
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// report is `privacyctl receipts report`: the metrics a business reports of
// the requests it received in a period (CCPA regulations 7102(a)), per
// request type, from the receipts alone.
func report(args []string, io IO) int {
	c := newCommand("receipts report", "Usage: privacyctl receipts report --from DATE --to DATE (--dir DIR | --url s3://bucket/prefix) [--csv]\n\n"+
		"Counts the requests received in [--from, --to) (spec.receivedAt, else when they were created) that finished,\n"+
		"per type: complied with in whole, in part (legal holds or exemptions kept some sources from acting while\n"+
		"others acted), not complied with (failed, cancelled, or denied: no source acted), and the median and mean\n"+
		"days from receipt to the answer. Requests still open when\n"+
		"the report runs have no receipt and are not counted. Dates are YYYY-MM-DD (UTC) or RFC 3339.\n\n", io)
	c.store.bind(c.fs)
	from := c.fs.String("from", "", "start of the period, inclusive (YYYY-MM-DD or RFC 3339)")
	to := c.fs.String("to", "", "end of the period, exclusive")
	asCSV := c.fs.Bool("csv", false, "print CSV instead of a table")
	return c.runOnStore(args, func(ctx context.Context, s receipt.Store) int {
		start, err := parseDate(*from)
		if err != nil {
			return c.fail("--from: %v", err)
		}
		end, err := parseDate(*to)
		if err != nil {
			return c.fail("--to: %v", err)
		}
		if !end.After(start) {
			return c.fail("--to must be after --from")
		}
		rows := map[string]*reportRow{}
		unreadable, err := receipt.Requests(ctx, s, func(r *receipt.Request) {
			received := r.CreatedAt
			if r.ReceivedAt != nil {
				received = *r.ReceivedAt
			}
			if received.Before(start) || !received.Before(end) {
				return
			}
			typ := r.Type
			if r.Child {
				typ = childRow
			}
			row := rows[typ]
			if row == nil {
				row = &reportRow{Type: typ}
				rows[typ] = row
			}
			row.add(r, received)
		})
		if err != nil {
			return c.fail("%v", err)
		}
		out := sortedRows(rows)
		if *asCSV {
			writeReportCSV(io, out)
		} else {
			writeReportTable(io, out, start, end)
		}
		if len(unreadable) > 0 {
			fmt.Fprintf(io.Stderr, "%d objects are not receipts and were not counted (privacyctl receipts verify names them)\n", len(unreadable))
		}
		return ExitOK
	})
}

// childRow is the row of the Deletes of children's data (spec.child),
// counted apart from the other Deletes.
const childRow = "Delete (child)"

// reportRow is one request type's metrics.
type reportRow struct {
	Type                                 string
	Received, Whole, InPart, NotComplied int
	days                                 []float64
}

func (r *reportRow) add(req *receipt.Request, received time.Time) {
	r.Received++
	// Sources a LegalHold or an exemption kept from acting make a partial
	// denial; a request none of whose sources acted is denied.
	withheld, acted := 0, 0
	for _, s := range req.Sources {
		switch s.Outcome {
		case receipt.OutcomeHeld, receipt.OutcomeRefused:
			withheld++
		case receipt.OutcomeCompleted, receipt.OutcomeNotFound:
			acted++
		}
	}
	switch {
	case req.Outcome == receipt.OutcomeCompleted && withheld == 0:
		r.Whole++
	case req.Outcome == receipt.OutcomeCompleted && acted > 0:
		r.InPart++
	default:
		r.NotComplied++
	}
	r.days = append(r.days, req.FinishedAt.Sub(received).Hours()/24)
}

// median and mean of the days to respond, "-" without requests.
func (r *reportRow) median() string {
	if len(r.days) == 0 {
		return "-"
	}
	d := append([]float64(nil), r.days...)
	sort.Float64s(d)
	m := d[len(d)/2]
	if len(d)%2 == 0 {
		m = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return strconv.FormatFloat(m, 'f', 1, 64)
}

func (r *reportRow) mean() string {
	if len(r.days) == 0 {
		return "-"
	}
	sum := 0.0
	for _, d := range r.days {
		sum += d
	}
	return strconv.FormatFloat(sum/float64(len(r.days)), 'f', 1, 64)
}

// sortedRows are the rows of the four request types (present or not) and
// a total, in a fixed order.
func sortedRows(rows map[string]*reportRow) []*reportRow {
	total := &reportRow{Type: "Total"}
	var out []*reportRow
	for _, t := range []string{"Access", "Delete", childRow, "Correct", "OptOut"} {
		r := rows[t]
		if r == nil {
			r = &reportRow{Type: t}
		}
		out = append(out, r)
		total.Received += r.Received
		total.Whole += r.Whole
		total.InPart += r.InPart
		total.NotComplied += r.NotComplied
		total.days = append(total.days, r.days...)
	}
	return append(out, total)
}

var reportHeader = []string{"TYPE", "RECEIVED", "COMPLIED IN WHOLE", "COMPLIED IN PART", "NOT COMPLIED", "MEDIAN DAYS", "MEAN DAYS"}

func (r *reportRow) fields() []string {
	return []string{r.Type, strconv.Itoa(r.Received), strconv.Itoa(r.Whole), strconv.Itoa(r.InPart), strconv.Itoa(r.NotComplied), r.median(), r.mean()}
}

func writeReportTable(io IO, rows []*reportRow, start, end time.Time) {
	fmt.Fprintf(io.Stdout, "Requests received from %s to %s (exclusive) and answered:\n", start.Format(time.RFC3339), end.Format(time.RFC3339))
	w := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	for _, line := range append([][]string{reportHeader}, fieldsOf(rows)...) {
		for i, f := range line {
			if i > 0 {
				fmt.Fprint(w, "\t")
			}
			fmt.Fprint(w, f)
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
}

func writeReportCSV(io IO, rows []*reportRow) {
	w := csv.NewWriter(io.Stdout)
	_ = w.Write([]string{"type", "received", "complied_in_whole", "complied_in_part", "not_complied", "median_days", "mean_days"})
	_ = w.WriteAll(fieldsOf(rows))
}

func fieldsOf(rows []*reportRow) [][]string {
	var out [][]string
	for _, r := range rows {
		out = append(out, r.fields())
	}
	return out
}

// parseDate reads YYYY-MM-DD (midnight UTC) or RFC 3339.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("required")
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a date: want YYYY-MM-DD or RFC 3339")
	}
	return t.UTC(), nil
}
