{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "hpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource of the release. */}}
{{- define "hpo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels; pass (dict "ctx" $ "component" "x"). */}}
{{- define "hpo.labels" -}}
helm.sh/chart: {{ include "hpo.chart" .ctx }}
{{ include "hpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: hpo
{{- end }}

{{/* Selector labels; pass (dict "ctx" $ "component" "x"). */}}
{{- define "hpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hpo.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Labels that select every pod of this release (any component). */}}
{{- define "hpo.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "hpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hpo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference of an hpo image; pass (dict "ctx" $ "image" .Values.images.worker). */}}
{{- define "hpo.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- if .ctx.Values.images.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .ctx.Values.images.registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* Names of the in-chart servers. */}}
{{- define "hpo.temporal.fullname" -}}
{{- printf "%s-temporal" (include "hpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "hpo.postgresql.fullname" -}}
{{- printf "%s-temporal-postgresql" (include "hpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "hpo.minio.fullname" -}}
{{- printf "%s-minio" (include "hpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* host:port of the Temporal frontend the workers use. */}}
{{- define "hpo.temporalAddress" -}}
{{- if .Values.temporal.enabled }}
{{- printf "%s:%d" (include "hpo.temporal.fullname" .) (int .Values.temporal.port) }}
{{- else }}
{{- required "temporal.address is required when temporal.enabled is false (host:port of your Temporal frontend)" .Values.temporal.address }}
{{- end }}
{{- end }}

{{/* URL of the S3 endpoint the workers use. */}}
{{- define "hpo.s3Endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "http://%s:%d" (include "hpo.minio.fullname" .) (int .Values.minio.port) }}
{{- else }}
{{- required "s3.endpoint is required when minio.enabled is false (URL of your S3 endpoint)" .Values.s3.endpoint }}
{{- end }}
{{- end }}

{{/* Secret holding the S3 credentials. */}}
{{- define "hpo.s3SecretName" -}}
{{- default (printf "%s-s3" (include "hpo.fullname" .)) .Values.s3.existingSecret }}
{{- end }}

{{/* Secret holding the PostgreSQL password of the in-chart Temporal. */}}
{{- define "hpo.postgresqlSecretName" -}}
{{- default (printf "%s-temporal-postgresql" (include "hpo.fullname" .)) .Values.temporal.postgresql.existingSecret }}
{{- end }}

{{/* ConfigMap with the sweep specs. */}}
{{- define "hpo.sweepsConfigMapName" -}}
{{- printf "%s-sweeps" (include "hpo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Whether the KEDA ScaledObject is rendered: "auto" asks the cluster (helm install/upgrade
see the live API; `helm template` needs `--api-versions keda.sh/v1alpha1`).
*/}}
{{- define "hpo.kedaEnabled" -}}
{{- $mode := toString .Values.trainingWorker.autoscaling.enabled }}
{{- if eq $mode "true" }}true
{{- else if and (eq $mode "auto") (.Capabilities.APIVersions.Has "keda.sh/v1alpha1") }}true
{{- end }}
{{- end }}

{{/*
Environment of every hpo container: process settings only (services/hpo/settings.py);
credentials come from the Secret by reference, never as values.
*/}}
{{- define "hpo.env" -}}
- name: HPO_TEMPORAL_ADDRESS
  value: {{ include "hpo.temporalAddress" . | quote }}
- name: HPO_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- include "hpo.temporalTlsEnv" . }}
- name: HPO_TRAINING_QUEUE
  value: {{ .Values.queues.training | quote }}
- name: HPO_SWEEP_QUEUE
  value: {{ .Values.queues.sweep | quote }}
- name: HPO_S3_ENDPOINT
  value: {{ include "hpo.s3Endpoint" . | quote }}
- name: HPO_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: HPO_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: HPO_DATASET_BUCKETS
  value: {{ join "," .Values.s3.datasetBuckets | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "hpo.s3SecretName" . }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "hpo.s3SecretName" . }}
      key: {{ .Values.s3.secretAccessKeyKey }}
- name: HPO_CACHE_DIR
  value: /var/cache/hpo
- name: HPO_METRICS_PORT
  value: {{ .Values.common.metricsPort | quote }}
- name: HPO_METRICS_HOST
  value: "0.0.0.0"
- name: HF_HUB_OFFLINE
  value: "1"
- name: HF_HOME
  value: /var/cache/hpo/huggingface
- name: XDG_CACHE_HOME
  value: /var/cache/hpo/xdg
- name: HOME
  value: /tmp
{{- with .Values.common.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
A secured Temporal (temporal.tls): the files of the user's Secret, mounted read-only where
the HPO_TEMPORAL_TLS_* variables point (hpo reads them as files, never as values), so the
API key stays out of the environment of the processes a worker starts.
*/}}
{{- define "hpo.temporalTlsDir" -}}/etc/hpo/temporal-tls{{- end }}

{{- define "hpo.temporalTlsItems" -}}
{{- $tls := .Values.temporal.tls }}
{{- range $key, $file := dict "caKey" "ca.crt" "certKey" "tls.crt" "keyKey" "tls.key" "apiKeyKey" "api-key" }}
{{- with index $tls $key }}
- key: {{ . | quote }}
  path: {{ $file }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hpo.temporalTlsEnv" -}}
{{- $tls := .Values.temporal.tls }}
{{- $dir := include "hpo.temporalTlsDir" . }}
{{- $named := or $tls.caKey $tls.certKey $tls.keyKey $tls.apiKeyKey }}
{{- if and $named (not $tls.existingSecret) }}
{{- fail "temporal.tls.existingSecret is required when temporal.tls.caKey, certKey, keyKey or apiKeyKey is set: name the Secret that holds those keys" }}
{{- end }}
{{- if and $tls.existingSecret (not $named) }}
{{- fail "temporal.tls.existingSecret is set but names no key: set caKey, certKey + keyKey and/or apiKeyKey to the keys of the Secret to use" }}
{{- end }}
{{- if ne (empty $tls.certKey) (empty $tls.keyKey) }}
{{- fail "temporal.tls.certKey and temporal.tls.keyKey go together (the mTLS client certificate and its private key): set both or neither" }}
{{- end }}
{{- if $tls.enabled }}
- name: HPO_TEMPORAL_TLS
  value: "true"
{{- end }}
{{- with $tls.serverName }}
- name: HPO_TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $tls.caKey }}
- name: HPO_TEMPORAL_TLS_CA
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- end }}
{{- if $tls.certKey }}
- name: HPO_TEMPORAL_TLS_CERT
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: HPO_TEMPORAL_TLS_KEY
  value: {{ printf "%s/tls.key" $dir | quote }}
{{- end }}
{{- if $tls.apiKeyKey }}
- name: HPO_TEMPORAL_API_KEY_FILE
  value: {{ printf "%s/api-key" $dir | quote }}
{{- end }}
{{- end }}

{{/* The Secret's volume and mount (nothing without temporal.tls.existingSecret); pass the root context. */}}
{{- define "hpo.temporalTlsVolumes" -}}
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    # Readable by the pod's group (fsGroup) only.
    defaultMode: 0440
    items:
      {{- include "hpo.temporalTlsItems" . | nindent 6 }}
{{- end }}
{{- end }}

{{- define "hpo.temporalTlsMounts" -}}
{{- if .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: {{ include "hpo.temporalTlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Scratch volumes of a read-only-root hpo pod; pass (dict "ctx" $ "cacheSizeLimit" "5Gi"). */}}
{{- define "hpo.scratchVolumes" -}}
- name: cache
  emptyDir:
    sizeLimit: {{ .cacheSizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end }}

{{- define "hpo.scratchMounts" -}}
- name: cache
  mountPath: /var/cache/hpo
- name: tmp
  mountPath: /tmp
{{- end }}
