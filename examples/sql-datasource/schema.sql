-- The example shop database that mapping.yaml maps. Valid for PostgreSQL
-- and SQLite (timestamps are ISO-8601 text in SQLite).
CREATE TABLE customers (
	id INTEGER PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	full_name TEXT,
	phone TEXT,
	marketing_opt_in BOOLEAN NOT NULL DEFAULT TRUE,
	created_at TIMESTAMP NOT NULL,
	last_seen_at TIMESTAMP NOT NULL
);
CREATE TABLE orders (
	id INTEGER PRIMARY KEY,
	customer_id INTEGER REFERENCES customers(id),
	total_cents INTEGER NOT NULL,
	shipping_address TEXT,
	created_at TIMESTAMP NOT NULL
);
-- Identities are matched in the form the operator sends them (docs/protocol.md,
-- "Identities"): e-mail trimmed and lower-cased, so the lookup is on that expression.
CREATE INDEX customers_email ON customers (lower(trim(email)));
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);
-- Invoices are kept for the tax office after their orders are purged
-- (ON DELETE SET NULL), so they carry the customer's e-mail themselves: a
-- Delete finds them by it, not through an order that may be gone.
CREATE TABLE invoices (
	id INTEGER PRIMARY KEY,
	order_id INTEGER REFERENCES orders(id) ON DELETE SET NULL,
	billing_email TEXT,
	amount_cents INTEGER NOT NULL,
	billing_name TEXT,
	billing_address TEXT,
	note TEXT,
	issued_at TIMESTAMP NOT NULL
);
CREATE INDEX invoices_order ON invoices (order_id);
CREATE INDEX invoices_billing_email ON invoices (lower(trim(billing_email)));
