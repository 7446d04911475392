package mailtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Address is an address as mailpit's API gives it.
type Address struct {
	Name    string
	Address string
}

// Summary is one message in the list of /api/v1/messages.
type Summary struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Created   time.Time
}

// Message is one message as /api/v1/message/{ID} gives it.
type Message struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Date      time.Time
	// Username is who authenticated over SMTP, if anyone did.
	Username string
	// Text and HTML are the decoded parts.
	Text string
	HTML string
}

// Messages lists the messages received, newest first.
func (s *Server) Messages(t TB) []Summary {
	t.Helper()
	var list struct {
		Total    int
		Messages []Summary `json:"messages"`
	}
	s.get(t, "/api/v1/messages?limit=1000", &list)
	return list.Messages
}

// Message reads one message by its mailpit ID.
func (s *Server) Message(t TB, id string) Message {
	t.Helper()
	var m Message
	s.get(t, "/api/v1/message/"+id, &m)
	return m
}

// Headers reads one message's top-level headers.
func (s *Server) Headers(t TB, id string) map[string][]string {
	t.Helper()
	h := map[string][]string{}
	s.get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

// Await waits up to timeout for the first message to address (case
// insensitive) and reads it; the test fails when none comes.
func (s *Server) Await(t TB, address string, timeout time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.To(t, address)
		if len(msgs) > 0 {
			return s.Message(t, msgs[len(msgs)-1].ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: no message to %s within %s (%d messages in all)", address, timeout, len(s.Messages(t)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// To lists the messages to address, newest first.
func (s *Server) To(t TB, address string) []Summary {
	t.Helper()
	var out []Summary
	for _, m := range s.Messages(t) {
		for _, a := range m.To {
			if strings.EqualFold(a.Address, address) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func (s *Server) get(t TB, path string, into any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.API + path)
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, fmt.Errorf("decode: %w", err))
	}
}
