package controllers_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/internal/operator/callback"
	"github.com/privacyoperator/privacy-operator/internal/operator/callbacktls"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Without a mounted certificate, the callback listener serves HTTPS with a
// certificate of the operator's own CA; the CA is kept in a Secret (so a
// second replica or a restart serves under the same CA) and published as
// ca.crt in a ConfigMap, which is all a data source needs to trust.
var _ = Describe("The callback listener's own CA", func() {
	It("serves TLS that the published ca.crt verifies, keeps one CA across replicas, and renews the serving certificate", func() {
		ns := newNamespace()
		now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		newIssuer := func() *callbacktls.Issuer {
			return &callbacktls.Issuer{Reader: k8sClient, Writer: k8sClient, Namespace: ns,
				SecretName: "callback-ca", ConfigMapName: "callback-ca", Hosts: []string{"127.0.0.1"},
				Validity: 30 * 24 * time.Hour, Now: clock}
		}
		issuer := newIssuer()
		Expect(issuer.Ensure(ctx)).To(Succeed())
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "callback-ca"}, cm)).To(Succeed())
		Expect(cm.Data[callbacktls.CAKey]).To(ContainSubstring("BEGIN CERTIFICATE"))
		Expect(cm.Data[callbacktls.CAKey]).To(Equal(string(issuer.CABundle())))

		By("a second replica finds the same CA")
		other := newIssuer()
		Expect(other.Ensure(ctx)).To(Succeed())
		Expect(other.CABundle()).To(Equal(issuer.CABundle()))

		By("a signed callback over TLS, verified with the published ca.crt")
		key, _ := protocol.ParseKey(protocol.NewSecret())
		d := dispatch.New(dispatch.Options{})
		owner := dispatch.Owner{Kind: "PrivacyRequest", NamespacedName: types.NamespacedName{Name: "tls"}}
		d.Submit(dispatch.Work{Owner: owner, Op: dispatch.OpPoll, JobID: "pr-tls",
			Target: dispatch.Target{Source: types.NamespacedName{Namespace: ns, Name: "src"}, Keys: []protocol.Key{key}}})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		srv := &callback.Server{Listener: l, Dispatcher: d, TLS: &tls.Config{GetCertificate: issuer.GetCertificate}}
		sctx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() { _ = srv.Start(sctx) }()

		pool := x509.NewCertPool()
		Expect(pool.AppendCertsFromPEM([]byte(cm.Data[callbacktls.CAKey]))).To(BeTrue())
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
		body, _ := json.Marshal(protocol.JobStatus{ID: "pr-tls", Status: protocol.StatusCompleted})
		var first *x509.Certificate
		Eventually(func(g Gomega) {
			req, _ := http.NewRequest(http.MethodPost, "https://"+l.Addr().String()+"/callbacks/pr-tls", bytes.NewReader(body))
			_, err := protocol.SignRequest(req, "/callbacks/pr-tls", body, fakeClock.Now(), key)
			g.Expect(err).NotTo(HaveOccurred())
			resp, err := hc.Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
			first = resp.TLS.PeerCertificates[0]
		}).Should(Succeed())
		Expect(d.Outcomes(owner)).To(HaveKey("pr-tls"))

		By("plain HTTP gets no callback through")
		resp, err := http.Post("http://"+l.Addr().String()+"/callbacks/pr-tls", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "Go's TLS server answers plain HTTP with 400")
		}

		By("a new serving certificate once two thirds of its validity passed, from the same CA")
		now = now.Add(21 * 24 * time.Hour)
		renewed, err := issuer.GetCertificate(nil)
		Expect(err).NotTo(HaveOccurred())
		leaf, err := x509.ParseCertificate(renewed.Certificate[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(leaf.SerialNumber).NotTo(Equal(first.SerialNumber))
		Expect(leaf.NotAfter).To(BeTemporally("~", now.Add(30*24*time.Hour), time.Hour))
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "127.0.0.1"})
		Expect(err).NotTo(HaveOccurred())
	})
})
