// Package sqldatasource holds the SQL data source's worked examples (a shop
// and a CRM: mapping and schema each) for the programs and tests that use
// them: the demo seeds its databases from these files.
package sqldatasource

import _ "embed"

// The shop: customers, orders, invoices.
var (
	//go:embed mapping.yaml
	ShopMapping []byte
	//go:embed schema.sql
	ShopSchema string
)

// The CRM: contacts, support tickets, marketing events.
var (
	//go:embed crm-mapping.yaml
	CRMMapping []byte
	//go:embed crm-schema.sql
	CRMSchema string
)
