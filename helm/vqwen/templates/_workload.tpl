{{/*
Pieces of the Deployments. Each takes dict "root" $ "c" <component key>.
*/}}

{{/* OTLP trace export for every service (docs/tracing.md); without an endpoint nothing is set and tracing is off. */}}
{{- define "vqwen.tracingEnv" -}}
{{- $t := .Values.tracing }}
{{- if not (has $t.otlp.protocol (list "grpc" "http/protobuf")) }}
{{- fail (printf "tracing.otlp.protocol must be grpc or http/protobuf, got %q" $t.otlp.protocol) }}
{{- end }}
{{- with $t.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $t.otlp.protocol | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $t.samplerRatio | quote }}
{{- end }}
{{- end }}

{{/*
Environment every component gets, each key one its service declares (helm-tests checks them against the sources):
JVM options, the model, the drain, and the gRPC clients the service has, pointed at the Services of the release.
*/}}
{{- define "vqwen.commonEnv" -}}
{{- $root := .root }}
{{- $v := index $root.Values .c }}
{{- $m := $root.Values.model }}
- name: JAVA_OPTS
  value: {{ trim (printf "%s %s" (default "" $root.Values.jvmOptions) (default "" $v.jvmOptions)) | quote }}
{{- if include "vqwen.usesModel" .c }}
- name: VQWEN_MODEL
  value: {{ ternary (printf "%s/%s" (trimSuffix "/" $m.mountPath) (trimPrefix "/" $m.path)) $m.id (not (empty $m.path)) | quote }}
{{- if and $m.id (ne $m.source "none") }}
# The Hub id resolves from this cache; offline so a serving pod never downloads (the init container did).
- name: HF_HUB_CACHE
  value: {{ printf "%s/hub" (trimSuffix "/" $m.mountPath) | quote }}
- name: HF_HUB_OFFLINE
  value: "1"
{{- end }}
{{- end }}
{{- include "vqwen.drainEnv" . }}
{{- include "vqwen.tracingEnv" $root }}
{{- range $client, $peer := include "vqwen.grpcClients" .c | fromJson }}
{{- $pv := index $root.Values $peer }}
{{- $P := upper $client }}
{{- $gw := eq $peer "gateway" }}
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_HOST
  {{- if $gw }}
  value: {{ include "vqwen.serviceHost" (dict "root" $root "c" "gateway-mesh") | quote }}
  {{- else }}
  value: {{ include "vqwen.serviceHost" (dict "root" $root "c" $peer) | quote }}
  {{- end }}
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_PORT
  value: {{ $pv.ports.grpc | quote }}
{{- if $root.Values.grpc.headless }}
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_LOAD_BALANCING_POLICY
  value: {{ $root.Values.grpc.loadBalancingPolicy | quote }}
{{- end }}
{{- /* The gateway's public gRPC is not part of grpc.tls (outside clients reach it through the ingress or LB). */}}
{{- if and $root.Values.grpc.tls.enabled (not $gw) }}
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_PLAIN_TEXT
  value: "false"
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_SSL_TRUST_STORE
  value: /etc/vqwen/grpc-tls/ca.crt
{{- if $root.Values.grpc.tls.mutual }}
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_SSL_CERTIFICATE
  value: /etc/vqwen/grpc-tls/tls.crt
- name: QUARKUS_GRPC_CLIENTS_{{ $P }}_SSL_KEY
  value: /etc/vqwen/grpc-tls/tls.key
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
shutdown.drainSeconds in each service's own setting: the model services drain in Quarkus's pre-shutdown
(vqwen.shutdown.drain-seconds), the gateway has only Quarkus's graceful shutdown (quarkus.shutdown.timeout), and the
worker gives running jobs vqwen.worker.drain-timeout before it releases them for redelivery.
*/}}
{{- define "vqwen.drainEnv" -}}
{{- $drain := int .root.Values.shutdown.drainSeconds }}
{{- if eq .c "gateway" }}
- name: QUARKUS_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" $drain | quote }}
{{- else if eq .c "captionWorker" }}
- name: VQWEN_WORKER_DRAIN_TIMEOUT
  value: {{ printf "%ds" $drain | quote }}
{{- else }}
- name: VQWEN_SHUTDOWN_DRAIN_SECONDS
  value: {{ $drain | quote }}
{{- end }}
{{- end }}

{{/* Whether a component's pods need the gRPC TLS Secret: a model service's server, or a client of one. */}}
{{- define "vqwen.needsGrpcTls" -}}
{{- $root := .root }}
{{- if $root.Values.grpc.tls.enabled }}
{{- $tls := has .c (include "vqwen.grpcComponents" $root | fromJsonArray) }}
{{- range $client, $peer := include "vqwen.grpcClients" .c | fromJson }}
{{- if has $peer (include "vqwen.grpcComponents" $root | fromJsonArray) }}
{{- $tls = true }}
{{- end }}
{{- end }}
{{- if $tls }}true{{- end }}
{{- end }}
{{- end }}

{{/* TLS for the internal gRPC server of vision, projector and decoder (the gateway's public gRPC stays behind the
ingress or load balancer, which terminates TLS for outside clients). */}}
{{- define "vqwen.grpcServerTlsEnv" -}}
{{- $tls := .Values.grpc.tls }}
- name: QUARKUS_GRPC_SERVER_PLAIN_TEXT
  value: "false"
- name: QUARKUS_GRPC_SERVER_SSL_CERTIFICATE
  value: /etc/vqwen/grpc-tls/tls.crt
- name: QUARKUS_GRPC_SERVER_SSL_KEY
  value: /etc/vqwen/grpc-tls/tls.key
{{- if $tls.mutual }}
# Quarkus's separate gRPC server reads client-CA trust only from a PKCS12/JKS store with a password.
- name: QUARKUS_GRPC_SERVER_SSL_CLIENT_AUTH
  value: REQUIRED
- name: QUARKUS_GRPC_SERVER_SSL_TRUST_STORE
  value: /etc/vqwen/grpc-tls/truststore.p12
- name: QUARKUS_GRPC_SERVER_SSL_TRUST_STORE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ printf "%s-p12" (include "vqwen.grpcTlsSecretName" .) }}
      key: password
{{- end }}
{{- end }}

{{- define "vqwen.probes" -}}
{{- $v := index .root.Values .c }}
{{- $s := $v.probes.startup }}
# Startup: the model is loaded. Readiness: a warm-up forward passed and peers are up. Liveness: the JVM answers.
startupProbe:
  httpGet: {path: /q/health/started, port: http}
  periodSeconds: {{ $s.periodSeconds }}
  failureThreshold: {{ $s.failureThreshold }}
  timeoutSeconds: 3
readinessProbe:
  httpGet: {path: /q/health/ready, port: http}
  periodSeconds: 5
  failureThreshold: 2
  timeoutSeconds: 3
livenessProbe:
  httpGet: {path: /q/health/live, port: http}
  periodSeconds: 10
  failureThreshold: 3
  timeoutSeconds: 5
{{- end }}

{{- define "vqwen.modelVolume" -}}
{{- $m := .Values.model }}
{{- if eq $m.source "pull" }}
- name: models
{{- if $m.pull.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ $m.pull.existingClaim }}
{{- else }}
  emptyDir:
    sizeLimit: {{ $m.pull.sizeLimit }}
{{- end }}
{{- else if eq $m.source "pvc" }}
- name: models
  persistentVolumeClaim:
    claimName: {{ $m.pvc.claimName }}
    readOnly: true
{{- else if eq $m.source "hostPath" }}
- name: models
  hostPath:
    path: {{ $m.hostPath.path }}
    type: {{ $m.hostPath.type }}
{{- end }}
{{- end }}

{{/* Downloads the Hub id into the shared cache with the CLI baked into every image. */}}
{{- define "vqwen.pullInitContainer" -}}
{{- $root := .root }}
{{- $m := $root.Values.model }}
- name: pull-model
  image: {{ include "vqwen.image" . }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: ["/opt/vqwen/vqwen", "pull", {{ $m.id | quote }}]
  env:
    - name: HF_HUB_CACHE
      value: {{ printf "%s/hub" (trimSuffix "/" $m.mountPath) | quote }}
    - name: JAVA_OPTS
      value: {{ $root.Values.jvmOptions | quote }}
    {{- with $m.pull.hfEndpoint }}
    - name: HF_ENDPOINT
      value: {{ . | quote }}
    {{- end }}
    {{- if $m.pull.tokenSecret.name }}
    - name: HF_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $m.pull.tokenSecret.name }}
          key: {{ $m.pull.tokenSecret.key }}
    {{- end }}
  resources:
    {{- toYaml $m.pull.resources | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - {name: models, mountPath: {{ $m.mountPath }}}
    - {name: tmp, mountPath: /tmp}
{{- end }}

{{- define "vqwen.deployment" -}}
{{- $root := .root }}
{{- $c := .c }}
{{- $v := index $root.Values $c }}
{{- $pool := index $root.Values.pools $v.pool }}
{{- $m := $root.Values.model }}
{{- $isGrpcService := has $c (include "vqwen.grpcComponents" $root | fromJsonArray) }}
{{- $usesModel := include "vqwen.usesModel" $c }}
{{- $tls := include "vqwen.needsGrpcTls" . }}
{{- $config := include "vqwen.componentConfig" . | fromJson }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "vqwen.componentName" . }}
  labels:
    {{- include "vqwen.componentLabels" . | nindent 4 }}
    vqwen.io/pool: {{ $v.pool }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "vqwen.componentSelectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      {{- if $pool.gpu }}
      # No surge on GPU pools: a surge pod would wait for a free GPU that only the old pod can release.
      maxSurge: 0
      maxUnavailable: 1
      {{- else }}
      maxSurge: 25%
      maxUnavailable: 0
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "vqwen.componentSelectorLabels" . | nindent 8 }}
        vqwen.io/pool: {{ $v.pool }}
      {{- if or $config $v.podAnnotations }}
      annotations:
        {{- if $config }}
        # Restart on config changes: Quarkus reads the file only at startup.
        checksum/config: {{ include "vqwen.configProperties" . | sha256sum }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "vqwen.componentServiceAccountName" . }}
      automountServiceAccountToken: {{ $root.Values.automountServiceAccountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "vqwen.terminationGracePeriodSeconds" $root }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $pool.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $pool.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $pool.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # Spread replicas over nodes so one node's loss takes out one replica, when the pool has room.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "vqwen.componentSelectorLabels" . | nindent 14 }}
      {{- if and $usesModel (eq $m.source "pull") }}
      initContainers:
        {{- include "vqwen.pullInitContainer" . | trim | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ include "vqwen.module" $c }}
          image: {{ include "vqwen.image" . }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - {name: http, containerPort: {{ $v.ports.http }}, protocol: TCP}
            {{- with $v.ports.grpc }}
            - {name: grpc, containerPort: {{ . }}, protocol: TCP}
            {{- end }}
          env:
            {{- include "vqwen.commonEnv" . | trim | nindent 12 }}
            {{- if $v.backend }}
            - name: VQWEN_BACKEND
              value: {{ $v.backend | quote }}
            {{- if eq $v.backend "cuda" }}
            # The device plugin exposes only the granted GPU, as index 0.
            - name: VQWEN_DEVICE
              value: "0"
            {{- end }}
            {{- end }}
            {{- if and $isGrpcService $root.Values.grpc.tls.enabled }}
            {{- include "vqwen.grpcServerTlsEnv" $root | trim | nindent 12 }}
            {{- end }}
            {{- if eq $c "decoder" }}
            - name: VQWEN_DECODER_MAX_RUNNING
              value: {{ $v.maxRunning | quote }}
            - name: VQWEN_DECODER_MAX_MODEL_LEN
              value: {{ $v.maxModelLen | quote }}
            - name: VQWEN_DECODER_KV_CACHE_FRACTION
              value: {{ $v.kvCacheFraction | quote }}
            {{- end }}
            {{- if eq $c "gateway" }}
            {{- include "vqwen.gatewayEnv" $root | trim | nindent 12 }}
            {{- end }}
            {{- if eq $c "captionWorker" }}
            {{- include "vqwen.workerEnv" $root | trim | nindent 12 }}
            {{- end }}
            {{- with $v.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          resources:
            {{- $res := deepCopy (default (dict) $v.resources) }}
            {{- if eq (default "" $v.backend) "cuda" }}
            {{- /* Extended resources cannot be overcommitted: request = limit. */}}
            {{- range $kind := list "requests" "limits" }}
            {{- $r := default (dict) (get $res $kind) }}
            {{- $_ := set $r $root.Values.gpu.resourceName (int $v.gpus) }}
            {{- $_ := set $res $kind $r }}
            {{- end }}
            {{- end }}
            {{- toYaml $res | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $root.Values.shutdown.preStopSleepSeconds | quote }}]
          {{- include "vqwen.probes" . | trim | nindent 10 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- if and $usesModel (ne $m.source "none") }}
            - {name: models, mountPath: {{ $m.mountPath }}, readOnly: true}
            {{- end }}
            {{- if $config }}
            - {name: config, mountPath: /deployments/config, readOnly: true}
            {{- end }}
            {{- if $tls }}
            - {name: grpc-tls, mountPath: /etc/vqwen/grpc-tls, readOnly: true}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- if $usesModel }}
        {{- with include "vqwen.modelVolume" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- end }}
        {{- if $config }}
        - name: config
          configMap:
            name: {{ include "vqwen.componentName" . }}-config
        {{- end }}
        {{- if $tls }}
        - name: grpc-tls
          secret:
            secretName: {{ include "vqwen.grpcTlsSecretName" $root }}
        {{- end }}
{{- end }}

{{/* The gateway's API keys and where it forwards the job API (vqwen.gateway.jobs-url). */}}
{{- define "vqwen.gatewayEnv" -}}
{{- if include "vqwen.apiKeysEnabled" . }}
- name: VQWEN_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "vqwen.apiKeysSecretName" . }}
      key: api-keys
{{- end }}
{{- if include "vqwen.workerEnabled" . }}
# POST /v1/jobs and GET /v1/jobs/{id} go on, after the key check, to the worker's Service.
- name: VQWEN_GATEWAY_JOBS_URL
  value: {{ printf "http://%s:%d" (include "vqwen.serviceHost" (dict "root" . "c" "captionWorker")) (int .Values.captionWorker.service.port) | quote }}
{{- end }}
{{- end }}

{{/* The caption worker's Kafka wiring, its share of the decoder and its key for the gateway's chat. */}}
{{- define "vqwen.workerEnv" -}}
{{- $k := .Values.kafka }}
{{- $w := .Values.captionWorker }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "vqwen.kafkaBootstrapServers" . | quote }}
- name: VQWEN_KAFKA_TOPIC_REQUESTS
  value: {{ $k.topics.requests.name | quote }}
- name: VQWEN_KAFKA_TOPIC_RESULTS
  value: {{ $k.topics.results.name | quote }}
- name: VQWEN_KAFKA_TOPIC_DLQ
  value: {{ $k.topics.dlq.name | quote }}
- name: VQWEN_KAFKA_GROUP_ID
  value: {{ $k.groupId | quote }}
# For topics the worker creates itself (an existing topic, e.g. a Strimzi KafkaTopic, keeps its own settings).
- name: VQWEN_KAFKA_PARTITIONS
  value: {{ $k.topics.requests.partitions | quote }}
- name: VQWEN_KAFKA_MAX_MESSAGE_BYTES
  value: {{ int64 $k.maxMessageBytes | quote }}
- name: VQWEN_WORKER_MAX_IN_FLIGHT
  value: {{ $w.maxInFlight | quote }}
{{- if include "vqwen.apiKeysEnabled" . }}
- name: VQWEN_WORKER_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "vqwen.apiKeysSecretName" . }}
      key: worker-api-key
{{- end }}
{{- end }}

{{/* Quarkus properties of a component as JSON: its own config over the global one, and for the caption worker the
Kafka client settings (kafka.<key>, which the worker hands to every Kafka client that knows the key). */}}
{{- define "vqwen.componentConfig" -}}
{{- $root := .root }}
{{- $v := index $root.Values .c }}
{{- $config := merge (dict) (default (dict) $v.config) (default (dict) $root.Values.config) }}
{{- if eq .c "captionWorker" }}
{{- range $k, $val := default (dict) $root.Values.kafka.properties }}
{{- if not (hasKey $config (printf "kafka.%s" $k)) }}
{{- $_ := set $config (printf "kafka.%s" $k) $val }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $config }}
{{- end }}

{{/* config/application.properties of a component. */}}
{{- define "vqwen.configProperties" -}}
{{- $config := include "vqwen.componentConfig" . | fromJson }}
{{- range $k := keys $config | sortAlpha }}
{{ $k }}={{ index $config $k }}
{{- end }}
{{- end }}
