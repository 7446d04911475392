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
