package receipt

import "context"

// Requests calls fn with every PrivacyRequest receipt of store, in order,
// and returns the names of the objects that are not receipts. Signatures
// are not checked here (Verify does).
func Requests(ctx context.Context, store Store, fn func(r *Request)) (unreadable []string, err error) {
	err = readAll(ctx, store, func(name string, data []byte) {
		_, r, err := Decode(data)
		switch {
		case err != nil:
			unreadable = append(unreadable, name)
		case r.Kind == KindPrivacyRequest && r.Request != nil:
			fn(r.Request)
		}
	})
	return unreadable, err
}
