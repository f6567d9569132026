{{/*
Names and labels. A component is one of the values keys gateway, vision, projector, decoder, captionWorker; its
module (and image and app.kubernetes.io/component label) is the Maven module that builds it.
*/}}

{{- define "vqwen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vqwen.fullname" -}}
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

{{/* The components this release deploys: the mesh, and the caption worker when it is on and Kafka is configured. */}}
{{- define "vqwen.components" -}}
{{- $c := list "gateway" "vision" "projector" "decoder" }}
{{- if include "vqwen.workerEnabled" . }}
{{- $c = append $c "captionWorker" }}
{{- end }}
{{- $c | toJson }}
{{- end }}

{{/* The caption worker needs Kafka: without it the worker is not deployed and the gateway's /v1/jobs answers 503. */}}
{{- define "vqwen.workerEnabled" -}}
{{- if and .Values.captionWorker.enabled (include "vqwen.kafkaBootstrapServers" .) }}true{{- end }}
{{- end }}

{{/* The model services behind the gateway, each serving gRPC on its own port. */}}
{{- define "vqwen.grpcComponents" -}}
{{- list "vision" "projector" "decoder" | toJson }}
{{- end }}

{{/*
The gRPC clients each component declares in its application.properties (quarkus.grpc.clients.<name>.*), by the
component they dial: the gateway calls all three model services; the projector and decoder ask their upstream peer
for Info at startup; the caption worker's client "chat" is the gateway's public ChatService.
*/}}
{{- define "vqwen.grpcClients" -}}
{{- $peers := dict "gateway" (dict "vision" "vision" "projector" "projector" "decoder" "decoder") "vision" (dict) "projector" (dict "vision" "vision") "decoder" (dict "projector" "projector") "captionWorker" (dict "chat" "gateway") }}
{{- get $peers . | toJson }}
{{- end }}

{{/* The Maven module (and image name) of a component. */}}
{{- define "vqwen.module" -}}
{{- get (dict "gateway" "gateway" "vision" "vision-service" "projector" "projector-service" "decoder" "decoder-service" "captionWorker" "caption-worker") . }}
{{- end }}

{{/* Whether a component reads the model (vqwen.model): everything but the caption worker, which only talks to the gateway. */}}
{{- define "vqwen.usesModel" -}}
{{- if ne . "captionWorker" }}true{{- end }}
{{- end }}

{{/* Resource name of a component: dict "root" $ "c" "vision". Values keys are camelCase, resource names DNS labels. */}}
{{- define "vqwen.componentName" -}}
{{- $suffix := get (dict "captionWorker" "caption-worker") .c | default .c }}
{{- printf "%s-%s" (include "vqwen.fullname" .root | trunc 48 | trimSuffix "-") $suffix }}
{{- end }}

{{/* Fully qualified name of a component's Service, as the gRPC clients dial it. */}}
{{- define "vqwen.serviceHost" -}}
{{- printf "%s.%s.svc.%s" (include "vqwen.componentName" .) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* Labels every pod of the release carries; NetworkPolicies use them to recognise the mesh. */}}
{{- define "vqwen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vqwen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vqwen.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vqwen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vqwen-mesh
{{- end }}

{{/* dict "root" $ "c" "vision" */}}
{{- define "vqwen.componentSelectorLabels" -}}
{{ include "vqwen.selectorLabels" .root }}
app.kubernetes.io/component: {{ include "vqwen.module" .c }}
{{- end }}

{{- define "vqwen.componentLabels" -}}
{{ include "vqwen.labels" .root }}
app.kubernetes.io/component: {{ include "vqwen.module" .c }}
{{- end }}

{{- define "vqwen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vqwen.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A component's ServiceAccount: dict "root" $ "c" <key>. The worker has its own, so that a cloud identity for a
managed Kafka (IRSA, Workload Identity) can be bound to it alone. */}}
{{- define "vqwen.componentServiceAccountName" -}}
{{- $sa := .root.Values.captionWorker.serviceAccount }}
{{- if and (eq .c "captionWorker") .root.Values.serviceAccount.create $sa.create }}
{{- default (include "vqwen.componentName" .) $sa.name }}
{{- else }}
{{- include "vqwen.serviceAccountName" .root }}
{{- end }}
{{- end }}

{{/* dict "root" $ "c" "vision" */}}
{{- define "vqwen.image" -}}
{{- $img := .root.Values.image }}
{{- printf "%s/%s/%s:%s" $img.registry $img.repositoryPrefix (include "vqwen.module" .c) (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "vqwen.apiKeysSecretName" -}}
{{- default (printf "%s-api-keys" (include "vqwen.fullname" .)) .Values.apiKeys.existingSecret }}
{{- end }}

{{- define "vqwen.apiKeysEnabled" -}}
{{- if or .Values.apiKeys.existingSecret .Values.apiKeys.keys .Values.apiKeys.generate }}true{{- end }}
{{- end }}

{{- define "vqwen.grpcTlsSecretName" -}}
{{- default (printf "%s-grpc-tls" (include "vqwen.fullname" .)) .Values.grpc.tls.secretName }}
{{- end }}

{{- define "vqwen.kafkaClusterName" -}}
{{- default (printf "%s-kafka" (include "vqwen.fullname" . | trunc 40 | trimSuffix "-")) .Values.kafka.strimzi.clusterName }}
{{- end }}

{{/* Bootstrap servers: the Strimzi cluster's bootstrap Service when it is ours, else the configured list. */}}
{{- define "vqwen.kafkaBootstrapServers" -}}
{{- if .Values.kafka.strimzi.enabled }}
{{- printf "%s-kafka-bootstrap.%s.svc.%s:9092" (include "vqwen.kafkaClusterName" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- .Values.kafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/* The grace period the kubelet gives a pod after SIGTERM: it must outlast the preStop pause and the drain. */}}
{{- define "vqwen.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- add (int $s.preStopSleepSeconds) (int $s.drainSeconds) (int $s.graceMarginSeconds) }}
{{- end }}

{{/* Rejects values that would render a mesh that cannot work. */}}
{{- define "vqwen.validate" -}}
{{- $m := .Values.model }}
{{- if and $m.id $m.path }}
{{- fail "model: set either model.id (a Hub id) or model.path (a directory in the volume), not both" }}
{{- end }}
{{- if not (or $m.id $m.path) }}
{{- fail "model: set model.id (a Hub id org/name[@rev]) or model.path (a checkpoint directory in the volume)" }}
{{- end }}
{{- if not (has $m.source (list "pull" "pvc" "hostPath" "none")) }}
{{- fail (printf "model.source is %q; expected one of pull, pvc, hostPath, none" $m.source) }}
{{- end }}
{{- if and (eq $m.source "pull") (not $m.id) }}
{{- fail "model.source=pull needs model.id: the init container runs `vqwen pull <model.id>`" }}
{{- end }}
{{- if and (eq $m.source "pvc") (not $m.pvc.claimName) }}
{{- fail "model.source=pvc needs model.pvc.claimName" }}
{{- end }}
{{- if and (eq $m.source "hostPath") (not $m.hostPath.path) }}
{{- fail "model.source=hostPath needs model.hostPath.path" }}
{{- end }}
{{- if and (eq $m.source "none") $m.path }}
{{- fail "model.source=none mounts no volume, so model.path cannot point into one; use model.id" }}
{{- end }}
{{- range $c := include "vqwen.components" . | fromJsonArray }}
{{- $v := index $.Values $c }}
{{- if not (hasKey $.Values.pools $v.pool) }}
{{- fail (printf "%s.pool is %q, which is not a key of pools" $c $v.pool) }}
{{- end }}
{{- if and (eq (default "" $v.backend) "cuda") (not (index $.Values.pools $v.pool).gpu) }}
{{- fail (printf "%s.backend is cuda but its pool %q is not a GPU pool (pools.%s.gpu=false)" $c $v.pool $v.pool) }}
{{- end }}
{{- if and $v.backend (not (has $v.backend (list "cpu" "cuda"))) }}
{{- fail (printf "%s.backend is %q; expected cpu or cuda" $c $v.backend) }}
{{- end }}
{{- end }}
{{- if include "vqwen.workerEnabled" . }}
{{- $w := .Values.captionWorker }}
{{- $most := ternary (int $w.autoscaling.maxReplicas) (int $w.replicaCount) $w.autoscaling.enabled }}
{{- $partitions := int .Values.kafka.topics.requests.partitions }}
{{- if gt $most $partitions }}
{{- fail (printf "captionWorker may run %d replicas but kafka.topics.requests has %d partitions: one consumer group gives each partition to one replica, so %d replicas would sit idle" $most $partitions (sub $most $partitions)) }}
{{- end }}
{{- end }}
{{- if and .Values.grpc.tls.certManager.enabled (not .Values.grpc.tls.certManager.issuerRef.name) }}
{{- fail "grpc.tls.certManager.enabled needs grpc.tls.certManager.issuerRef.name" }}
{{- end }}
{{- if and .Values.kafka.strimzi.enabled .Values.kafka.bootstrapServers }}
{{- fail "kafka: set kafka.bootstrapServers for an existing cluster or kafka.strimzi.enabled, not both" }}
{{- end }}
{{- end }}
