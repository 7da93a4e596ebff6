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

{{/*
Image reference of an hpo image; pass (dict "ctx" $ "image" .Values.images.worker). A digest
pins the image: `repository@sha256:...`, the tag left out (a tag next to a digest is ignored by
the runtime, so writing it would only mislead).
*/}}
{{- define "hpo.image" -}}
{{- $repository := .image.repository }}
{{- if .ctx.Values.images.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .ctx.Values.images.registry) .image.repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .ctx.Chart.AppVersion .image.tag) }}
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

{{/* Secret holding the hpo pods' S3 credentials (with MinIO: the scoped MinIO user's keys). */}}
{{- define "hpo.s3SecretName" -}}
{{- default (printf "%s-s3" (include "hpo.fullname" .)) .Values.s3.existingSecret }}
{{- end }}

{{/* Whether the hpo pods get S3 keys from a Secret ("secret") or none at all ("none": boto3's chain). */}}
{{- define "hpo.s3Keys" -}}
{{- if eq .Values.s3.credentials "secret" }}true
{{- else if .Values.minio.enabled }}
{{- fail "s3.credentials=none (no S3 keys, IRSA / workload identity) does not work with the in-chart MinIO, which only knows its own users: set minio.enabled=false with s3.endpoint, or s3.credentials=secret" }}
{{- else if .Values.s3.existingSecret }}
{{- fail "s3.existingSecret is set but s3.credentials is none, so no pod would read it: remove one of them" }}
{{- end }}
{{- end }}

{{/* Secret holding MinIO's root credentials: mounted by MinIO and its user-setup Job only. */}}
{{- define "hpo.minioRootSecretName" -}}
{{- default (printf "%s-minio-root" (include "hpo.fullname" .)) .Values.minio.existingRootSecret }}
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
Whether a pool's KEDA ScaledObject is rendered; pass (dict "ctx" $ "pool" $pool). "auto" asks
the cluster (helm install/upgrade see the live API; `helm template` needs
`--api-versions keda.sh/v1alpha1`).
*/}}
{{- define "hpo.kedaEnabledFor" -}}
{{- $mode := toString .pool.autoscaling.enabled }}
{{- if eq $mode "true" }}true
{{- else if and (eq $mode "auto") (.ctx.Capabilities.APIVersions.Has "keda.sh/v1alpha1") }}true
{{- end }}
{{- end }}

{{/* Whether any pool is scaled by KEDA. */}}
{{- define "hpo.kedaEnabled" -}}
{{- range (include "hpo.pools" . | fromJsonArray) }}
{{- if include "hpo.kedaEnabledFor" (dict "ctx" $ "pool" .) }}true{{ break }}{{ end }}
{{- end }}
{{- end }}

{{/*
The training-worker pools as a JSON list, the default pool first: each `trainingWorkers` entry
over the `trainingWorker` defaults (nested maps such as pricing and autoscaling key by key;
the keys in $whole as a whole, since half of one nodeSelector and half of another schedules
nowhere), or the one pool "default" of `trainingWorker` alone. Each pool also carries what the
templates derive from it: _deployment, _component, _queue, _gpus, _acceleratorsPerTrial.
The pool named "default" keeps the names of the chart before pools (Deployment
<release>-training-worker, component training-worker), so an upgrade keeps its workers.
*/}}
{{- define "hpo.pools" -}}
{{- $whole := list "resources" "nodeSelector" "tolerations" "affinity" "podAnnotations" }}
{{- $entries := .Values.trainingWorkers | default (list (dict "name" "default")) }}
{{- $pools := list }}
{{- $seen := dict }}
{{- range $i, $entry := $entries }}
{{- $name := required (printf "trainingWorkers[%d] needs a name (the first pool is the default: call it \"default\" to keep the Deployment %s-training-worker)" $i (include "hpo.fullname" $)) $entry.name }}
{{- if hasKey $seen $name }}
{{- fail (printf "trainingWorkers: two pools are named %q; each pool needs its own name" $name) }}
{{- end }}
{{- $_ := set $seen $name true }}
{{- $pool := deepCopy $.Values.trainingWorker }}
{{- range $key, $value := $entry }}
{{- $default := index $pool $key }}
{{- if and (kindIs "map" $value) (kindIs "map" $default) (not (has $key $whole)) }}
{{- $merged := deepCopy $default }}
{{- range $k, $v := $value }}{{ $_ := set $merged $k $v }}{{ end }}
{{- $_ := set $pool $key $merged }}
{{- else }}
{{- $_ := set $pool $key $value }}
{{- end }}
{{- end }}
{{- $suffix := ternary "" (printf "-%s" $name) (eq $name "default") }}
{{- $_ := set $pool "_deployment" (printf "%s-training-worker%s" (include "hpo.fullname" $) $suffix | trunc 63 | trimSuffix "-") }}
{{- $_ := set $pool "_component" (printf "training-worker%s" $suffix) }}
{{- $_ := set $pool "_queue" (ternary $.Values.queues.training (printf "%s-%s" $.Values.queues.training $name) (eq $i 0)) }}
{{- /* GPUs: `gpus`, or the GPU resource's limit when `resources` names it. */}}
{{- $gpus := int $pool.gpus }}
{{- $limit := index (default (dict) (default (dict) $pool.resources).limits) $pool.gpuResourceName }}
{{- if not (kindIs "invalid" $limit) }}
{{- if and (gt $gpus 0) (ne $gpus (int $limit)) }}
{{- fail (printf "training-worker pool %q: gpus is %d but resources.limits[%q] is %v; set one of them" $name $gpus $pool.gpuResourceName $limit) }}
{{- end }}
{{- $gpus = int $limit }}
{{- end }}
{{- $concurrency := int $pool.concurrency }}
{{- if lt $concurrency 1 }}
{{- fail (printf "training-worker pool %q: concurrency is %d, must be at least 1" $name $concurrency) }}
{{- end }}
{{- if and (gt $gpus 0) (ne (mod $gpus $concurrency) 0) }}
{{- fail (printf "training-worker pool %q: %d %s per worker do not divide among concurrency %d trials; each trial holds a whole number of GPUs (HPO_ACCELERATORS_PER_TRIAL = GPUs / concurrency): set gpus to a multiple of concurrency" $name $gpus $pool.gpuResourceName $concurrency) }}
{{- end }}
{{- $_ := set $pool "_gpus" $gpus }}
{{- $_ := set $pool "_acceleratorsPerTrial" (ternary (div $gpus $concurrency) 1 (gt $gpus 0)) }}
{{- $pools = append $pools $pool }}
{{- end }}
{{- toJson $pools }}
{{- end }}

{{/* Components of every pod that runs hpo (network policies select them). */}}
{{- define "hpo.hpoComponents" -}}
{{- $components := list "sweep-worker" "sweep" "test" }}
{{- range (include "hpo.pools" . | fromJsonArray) }}
{{- $components = append $components ._component }}
{{- end }}
{{- if .Values.minio.enabled }}
{{- $components = append $components "minio-setup" }}
{{- end }}
{{- toJson $components }}
{{- end }}

{{/*
Environment of every hpo container: process settings only (services/hpo/settings.py);
credentials come from the Secret by reference, never as values. Pass the root context; a
training worker of a pool passes (dict "ctx" $ "trainingQueue" <its queue>) to `hpo.envFor`.
*/}}
{{- define "hpo.env" -}}
{{- include "hpo.envFor" (dict "ctx" . "trainingQueue" .Values.queues.training) }}
{{- end }}

{{- define "hpo.envFor" -}}
{{- with .ctx }}
- name: HPO_TEMPORAL_ADDRESS
  value: {{ include "hpo.temporalAddress" . | quote }}
- name: HPO_TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- include "hpo.temporalTlsEnv" . }}
- name: HPO_TRAINING_QUEUE
  value: {{ $.trainingQueue | quote }}
# The pools, the default first: `hpo sweep run` and the sweep worker send a spec's `pool:` to its queue.
- name: HPO_POOLS
  value: {{ include "hpo.poolNames" . | quote }}
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
{{- if include "hpo.s3Keys" . }}
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
{{- end }}
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
{{- end }}

{{/* HPO_POOLS: the pools' names, comma-separated, the default first. */}}
{{- define "hpo.poolNames" -}}
{{- $names := list }}
{{- range (include "hpo.pools" . | fromJsonArray) }}{{ $names = append $names .name }}{{ end }}
{{- join "," $names }}
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
