package datasource_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// A service serves the job protocol for its user table. In production it
// listens with http.ListenAndServeTLS and reads the secret from the
// Kubernetes Secret that its DataSource names.
func Example() {
	users := map[string]string{"ada@example.com": "Ada Lovelace"}

	handler, err := datasource.New(datasource.Config{
		Secrets:    []string{protocol.NewSecret()},
		Identities: []string{"email"},
		Categories: []string{"contact"},
		Access: func(_ context.Context, job *protocol.Job) (datasource.Result, error) {
			name, ok := users[job.Subject.Identities["email"]]
			if !ok {
				return datasource.Result{NotFound: true}, nil
			}
			return datasource.Result{Records: 1, Data: map[string]string{"name": name}}, nil
		},
		Delete: func(_ context.Context, job *protocol.Job) (datasource.Result, error) {
			email := job.Subject.Identities["email"]
			if _, ok := users[email]; !ok {
				return datasource.Result{NotFound: true}, nil
			}
			delete(users, email)
			return datasource.Result{Records: 1}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer handler.Close()

	srv := httptest.NewServer(handler)
	defer srv.Close()
	fmt.Println("serving the job protocol")
	// Output: serving the job protocol
}
