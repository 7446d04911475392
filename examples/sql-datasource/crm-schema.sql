-- The example CRM database that crm-mapping.yaml maps (PostgreSQL or SQLite).
CREATE TABLE contacts (
	id INTEGER PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	name TEXT,
	phone TEXT,
	newsletter_opt_in BOOLEAN NOT NULL DEFAULT TRUE,
	sms_opt_in BOOLEAN NOT NULL DEFAULT FALSE,
	last_contact_at TIMESTAMP NOT NULL
);
CREATE TABLE support_tickets (
	id INTEGER PRIMARY KEY,
	contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
	requester_name TEXT,
	subject TEXT NOT NULL,
	body TEXT,
	opened_at TIMESTAMP NOT NULL
);
CREATE INDEX support_tickets_contact ON support_tickets (contact_id);
CREATE TABLE marketing_events (
	id INTEGER PRIMARY KEY,
	contact_id INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
	campaign TEXT NOT NULL,
	channel TEXT NOT NULL,
	sent_at TIMESTAMP NOT NULL
);
CREATE INDEX marketing_events_contact ON marketing_events (contact_id);
CREATE INDEX marketing_events_sent ON marketing_events (sent_at);
