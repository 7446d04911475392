{{/* The chart's name, or nameOverride. */}}
{{- define "privacy-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: the release name when it holds the
chart's name (privacy-operator gives the names of config/default), else
<release>-<name>; fullnameOverride replaces it.
*/}}
{{- define "privacy-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "privacy-operator.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "privacy-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "privacy-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: privacy-operator
{{- end }}

{{/* The labels that select the manager's pods (as in config/manager). */}}
{{- define "privacy-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "privacy-operator.name" . }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "privacy-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "privacy-operator.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "privacy-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whether the CRDs are installed: installCRDs when set, else crds.enabled. */}}
{{- define "privacy-operator.installCRDs" -}}
{{- if kindIs "invalid" .Values.installCRDs }}
{{- if .Values.crds.enabled }}true{{ end }}
{{- else if .Values.installCRDs }}true
{{- end }}
{{- end }}

{{/* The Secret the callback listener's certificate comes from, if any. */}}
{{- define "privacy-operator.callbackTLSSecret" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else if .Values.tls.certManager.enabled }}
{{- include "privacy-operator.fullname" . }}-callback-tls
{{- end }}
{{- end }}

{{/* The callbacks Service's name (a DNS label: 63 characters at most). */}}
{{- define "privacy-operator.callbacksService" -}}
{{- printf "%s-callbacks" (include "privacy-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The access modes of the exports claim: exports.persistence.accessModes, or
ReadWriteMany with more than one replica (any may become leader and carry
on with its predecessor's exports) and ReadWriteOnce with one.
*/}}
{{- define "privacy-operator.exportsAccessModes" -}}
{{- if .Values.exports.persistence.accessModes }}
{{- toYaml .Values.exports.persistence.accessModes }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- toYaml (list "ReadWriteMany") }}
{{- else }}
{{- toYaml (list "ReadWriteOnce") }}
{{- end }}
{{- end }}

{{- define "privacy-operator.receiptsAccessModes" -}}
{{- if .Values.receipts.persistence.accessModes }}
{{- toYaml .Values.receipts.persistence.accessModes }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- toYaml (list "ReadWriteMany") }}
{{- else }}
{{- toYaml (list "ReadWriteOnce") }}
{{- end }}
{{- end }}

{{/*
The name of the operator's own callback CA (Secret and ConfigMap):
--callback-ca-name=NAME from extraArgs (the last wins, as with the flag),
else the manager's default.
*/}}
{{- define "privacy-operator.callbackCAName" -}}
{{- $name := "privacy-operator-callback-ca" }}
{{- range .Values.extraArgs }}
{{- if hasPrefix "--callback-ca-name=" (toString .) }}
{{- $name = trimPrefix "--callback-ca-name=" (toString .) }}
{{- end }}
{{- end }}
{{- $name }}
{{- end }}

{{/* The privacy center's objects: <fullname>-privacy-center. */}}
{{- define "privacy-operator.center" -}}
{{- printf "%s-privacy-center" (include "privacy-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the privacy center's pods (as in config/privacy-center). */}}
{{- define "privacy-operator.centerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "privacy-operator.name" . }}
app.kubernetes.io/component: privacy-center
{{- end }}

{{/* The user the center's ServiceAccount acts as, which its admission policies name. */}}
{{- define "privacy-operator.centerUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "privacy-operator.center" .) }}
{{- end }}

{{/*
The namespace of the center's subject Secrets: privacyCenter.config.subjectNamespace,
else the first of namespaces.subjectSecretNamespaces (the release namespace
when that is empty, as for the manager). It must be one the manager reads
subject Secrets in, or no request the center files could be carried out.
*/}}
{{- define "privacy-operator.centerSubjectNamespace" -}}
{{- $allowed := .Values.namespaces.subjectSecretNamespaces | default (list .Release.Namespace) }}
{{- $ns := .Values.privacyCenter.config.subjectNamespace | default (first $allowed) }}
{{- if not (has $ns $allowed) }}
{{- fail (printf "privacyCenter.config.subjectNamespace %s is not one of the namespaces the manager reads subject Secrets in (namespaces.subjectSecretNamespaces: %s): add it there" $ns (join ", " $allowed)) }}
{{- end }}
{{- $ns }}
{{- end }}

{{/*
The center's configuration file (docs/privacy-center.md): privacyCenter.config
with subjectNamespace, requireApproval (approvalPolicy.requireApproval unless
set) and, with privacyCenter.smtpSecret, the SMTP credential files filled in.
*/}}
{{- define "privacy-operator.centerConfig" -}}
{{- $c := deepCopy .Values.privacyCenter.config }}
{{- $_ := required "privacyCenter.config.baseURL is required: the center's public URL, the start of every link in its mails (e.g. https://privacy.example.com)" $c.baseURL }}
{{- $smtp := $c.smtp | default dict }}
{{- $_ = required "privacyCenter.config.smtp.host is required: the SMTP server the center mails people through" $smtp.host }}
{{- $_ = required "privacyCenter.config.smtp.from is required: the sender of the center's mails, e.g. \"Example Privacy <privacy@example.com>\"" $smtp.from }}
{{- $_ = set $c "subjectNamespace" (include "privacy-operator.centerSubjectNamespace" .) }}
{{- if kindIs "invalid" $c.requireApproval }}
{{- $_ = set $c "requireApproval" (.Values.approvalPolicy.requireApproval | default false) }}
{{- else if and .Values.approvalPolicy.requireApproval (not $c.requireApproval) }}
{{- fail "privacyCenter.config.requireApproval is false but approvalPolicy.requireApproval refuses every request that is not created suspended: leave it unset or set it true" }}
{{- end }}
{{- if .Values.privacyCenter.smtpSecret }}
{{- $_ = set $smtp "usernameFile" ($smtp.usernameFile | default "/etc/privacy-center/smtp/username") }}
{{- $_ = set $smtp "passwordFile" ($smtp.passwordFile | default "/etc/privacy-center/smtp/password") }}
{{- end }}
{{- $_ = set $c "smtp" $smtp }}
{{- $exports := $c.exports | default dict }}
{{- if .Values.privacyCenter.exports.fromVolume }}
{{- if .Values.exports.url }}
{{- fail "privacyCenter.exports.fromVolume reads the operator's export volume, but exports.url keeps exports in a bucket: set privacyCenter.config.exports.s3 instead" }}
{{- end }}
{{- $_ = set $exports "dir" .Values.exports.dir }}
{{- end }}
{{- if and .Values.privacyCenter.exports.s3CredentialsSecret $exports.s3 }}
{{- $_ = set $exports.s3 "credentialsDir" ($exports.s3.credentialsDir | default "/etc/privacy-center/s3") }}
{{- end }}
{{- if $exports }}
{{- $_ = set $c "exports" $exports }}
{{- end }}
{{- with $c.mailIn }}
{{- $_ = set . "listen" ":2525" }}
{{- end }}
{{- with .Values.privacyCenter.unsubscribe.issuerTokenSecret }}
{{- $u := $c.unsubscribe | default dict }}
{{- $_ = set $u "issuerTokenFile" ($u.issuerTokenFile | default "/etc/privacy-center/unsubscribe/token") }}
{{- $_ = set $c "unsubscribe" $u }}
{{- end }}
{{- toYaml $c }}
{{- end }}
