package receipt

import "context"

// Identity is one identity a person gives to find their receipts.
type Identity struct {
	Type, Value string
}

// Match is a receipt that holds a fingerprint of one of the identities.
type Match struct {
	Ref     Ref
	Receipt *Receipt
}

// Found is what Find read.
type Found struct {
	Matches []Match
	// Requests counts the PrivacyRequest receipts read.
	Requests int
	// OtherKeys counts, by fingerprint key id, the request receipts whose
	// fingerprints were made with a key Find was not given: they could not
	// be matched (a fingerprint key that was changed).
	OtherKeys map[string]int
	// Unreadable names the objects that are not receipts; Verify says more.
	Unreadable []string
}

// Find reads every receipt of store and returns the PrivacyRequest receipts
// that hold a fingerprint of any of the identities, made with any of the
// fingerprint keys. The identities stay in this process: only their
// fingerprints are compared. Signatures are not checked here (Verify does).
func Find(ctx context.Context, store Store, keys [][]byte, identities []Identity) (Found, error) {
	want := map[string]map[string]bool{} // key id -> fingerprints
	for _, key := range keys {
		fps := map[string]bool{}
		for _, id := range identities {
			fps[Fingerprint(key, id.Type, id.Value)] = true
		}
		want[FingerprintKeyID(key)] = fps
	}
	found := Found{OtherKeys: map[string]int{}}
	err := readAll(ctx, store, func(name string, data []byte) {
		_, r, err := Decode(data)
		switch {
		case err != nil:
			found.Unreadable = append(found.Unreadable, name)
		case r.Kind == KindPrivacyRequest:
			found.Requests++
			if found.holds(r, want) {
				found.Matches = append(found.Matches, Match{Ref: Ref{Name: name, Location: store.Location(name), SHA256: Hash(data), Sequence: r.Sequence}, Receipt: r})
			}
		}
	})
	if err != nil {
		return Found{}, err
	}
	return found, nil
}

// holds says whether r has one of the fingerprints wanted under its key,
// and counts it under OtherKeys when Find has no such key.
func (f *Found) holds(r *Receipt, want map[string]map[string]bool) bool {
	subject := r.Request.Subject
	fps, ok := want[subject.FingerprintKeyID]
	if !ok {
		if len(subject.Fingerprints) > 0 {
			f.OtherKeys[subject.FingerprintKeyID]++
		}
		return false
	}
	for _, fp := range subject.Fingerprints {
		if fps[fp.Value] {
			return true
		}
	}
	return false
}
