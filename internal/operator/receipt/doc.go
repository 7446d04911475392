// Package receipt keeps the operator's tamper-evident record of what it
// did: when a PrivacyRequest or a RetentionPolicy run finishes, the
// operator writes a receipt, a versioned JSON document without personal
// data (identities appear only as keyed fingerprints), signed with
// Ed25519 and chained to the receipt before it by its SHA-256.
//
// The pieces, each in a file of its own:
//   - document.go: the receipt and its parts (the contract with the
//     controllers that fill them in, and with docs/receipts.schema.json);
//   - signature.go: the stored object, its signature and its hash;
//   - store.go, dirstore.go, s3store.go: where receipts are kept;
//   - log.go, sweep.go: the chain that appends receipts and removes those
//     past their retention, leaving a Sweep receipt in their place;
//   - verify.go, find.go: reading a log back, as the privacyctl CLI does;
//   - fingerprint.go, keys.go: the keys and the identities' fingerprints;
//   - notary.go: the single writer that runs beside the reconcilers.
//
// docs/receipts.md says what a receipt proves and what it does not.
package receipt
