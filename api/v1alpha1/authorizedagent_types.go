package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthorizedAgentSpec is what the company trusts an authorized agent with:
// its identity in the Data Rights Protocol and the key it signs with.
type AuthorizedAgentSpec struct {
	// agentID is the agent's id in the DRP Service Directory (the
	// agent-id of its messages), e.g. CR_AA_DRP_ID_001.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	// +required
	AgentID string `json:"agentID"`

	// verifyKey is the agent's Ed25519 public key, base64 (standard
	// alphabet, 32 bytes), as the Service Directory's verify_key gives it.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/]{43}=$`
	// +required
	VerifyKey string `json:"verifyKey"`

	// callbackHosts are the hosts the agent's status_callback URLs may
	// name (https only); a request naming another host is refused.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`
	// +optional
	CallbackHosts []string `json:"callbackHosts,omitempty"`

	// requestsPerHour bounds the data rights requests the agent may file
	// (per replica of the privacy center); 0 is the center's default.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	// +optional
	RequestsPerHour int32 `json:"requestsPerHour,omitempty"`

	// suspend refuses the agent's calls (403) without forgetting it.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// AuthorizedAgentStatus is the agent's pairing and use.
type AuthorizedAgentStatus struct {
	// pairedAt is when the agent last set up its pair-wise key (POST
	// /v1/agent/{agent-id}).
	// +optional
	PairedAt *metav1.Time `json:"pairedAt,omitempty"`

	// pairingIssuedAt is the issued-at of the message of the last
	// pairing: a pairing message issued at or before it is refused, so a
	// captured one cannot be replayed to take the agent's token.
	// +optional
	PairingIssuedAt *metav1.Time `json:"pairingIssuedAt,omitempty"`

	// tokenSHA256 is the SHA-256 (hex) of the bearer token issued at the
	// last pairing: the token itself is stored nowhere.
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	// +optional
	TokenSHA256 string `json:"tokenSHA256,omitempty"`

	// requests counts the data rights requests the agent filed.
	// +optional
	Requests int64 `json:"requests,omitempty"`

	// answers are the agent's latest requests that have no PrivacyRequest
	// (any more): refused as they came in (a right not served), revoked
	// and since deleted, or waiting for the person to verify their
	// address (need_user_verification; expired when they never did). The agent's
	// status calls find them here; the newest first, at most 100.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	Answers []AgentAnswer `json:"answers,omitempty"`
}

// AgentAnswer is the final status of an agent's request that has no
// PrivacyRequest: never personal data, only the protocol's words.
type AgentAnswer struct {
	// requestID is the request_id the agent was given.
	// +kubebuilder:validation:MaxLength=63
	RequestID string `json:"requestID"`

	// agentRequestID is the agent's own id of the request, when it gave one.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AgentRequestID string `json:"agentRequestID,omitempty"`

	// status is the protocol's status: denied or revoked (final), or
	// in_progress while the person has not verified their address (read
	// as expired after expiresAt).
	// +kubebuilder:validation:Enum=in_progress;denied;revoked
	Status string `json:"status"`

	// reason is the protocol's reason of a denial (e.g. claim_not_covered).
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Reason string `json:"reason,omitempty"`

	// processingDetails is what the agent was told, in the company's words.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	ProcessingDetails string `json:"processingDetails,omitempty"`

	// userVerificationURL is the privacy center's page where the person
	// verifies their address (need_user_verification).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	UserVerificationURL string `json:"userVerificationURL,omitempty"`

	// expiresAt ends a need_user_verification: after it the request is
	// expired and the page no longer works.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// receivedAt is when the request came in; at is when this answer was
	// given.
	ReceivedAt metav1.Time `json:"receivedAt"`
	At         metav1.Time `json:"at"`
}

// AuthorizedAgent is an authorized agent (CCPA 1798.135, regulations 7063)
// that the company accepts requests from over the Data Rights Protocol:
// the privacy center's DRP endpoints answer only agents registered here.
// Cluster-scoped, managed by whoever has the authorized-agent-admin role,
// so that the trust list lives in Git.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=aa,categories=privacy
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.spec.agentID`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Paired",type=date,JSONPath=`.status.pairedAt`
// +kubebuilder:printcolumn:name="Requests",type=integer,JSONPath=`.status.requests`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizedAgent struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is whom the company trusts.
	// +required
	Spec AuthorizedAgentSpec `json:"spec"`

	// status is the agent's pairing and use, written by the privacy center.
	// +optional
	Status AuthorizedAgentStatus `json:"status,omitzero"`
}

// AuthorizedAgentList is a list of AuthorizedAgents.
//
// +kubebuilder:object:root=true
type AuthorizedAgentList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []AuthorizedAgent `json:"items"`
}
