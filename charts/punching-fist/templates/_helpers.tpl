{{/* Names, labels and checks shared by every template. */}}

{{- define "punching-fist.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "punching-fist.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "punching-fist.selectorLabels" -}}
app.kubernetes.io/name: {{ include "punching-fist.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "punching-fist.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "punching-fist.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: punching-fist
{{- end -}}

{{- define "punching-fist.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "punching-fist.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "punching-fist.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "punching-fist.secretName" -}}
{{- default (include "punching-fist.fullname" .) .Values.agent.existingSecret -}}
{{- end -}}

{{- define "punching-fist.apiTokensSecret" -}}
{{- printf "%s-api-tokens" (include "punching-fist.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where one api.tokens entry is kept: (list $ $token) -> Secret name; $token -> key. */}}
{{- define "punching-fist.apiTokenSecretName" -}}
{{- $root := index . 0 -}}
{{- $token := index . 1 -}}
{{- $token.existingSecret | default (include "punching-fist.apiTokensSecret" $root) -}}
{{- end -}}

{{- define "punching-fist.apiTokenSecretKey" -}}
{{- if .existingSecret -}}{{- .secretKey | default "token" -}}{{- else -}}{{- .name -}}{{- end -}}
{{- end -}}

{{/* The accounts steps may act as (the operator impersonates them), as a JSON array. */}}
{{- define "punching-fist.stepAccounts" -}}
{{- toJson (list "punchingfist-agent" "punchingfist-investigator" "punchingfist-remediator") -}}
{{- end -}}

{{/* The api.tokens entries with the viewer role, as a JSON array. */}}
{{- define "punching-fist.viewerTokens" -}}
{{- $viewers := list -}}
{{- range .Values.api.tokens -}}
{{- if eq .role "viewer" -}}{{- $viewers = append $viewers . -}}{{- end -}}
{{- end -}}
{{- toJson $viewers -}}
{{- end -}}

{{/* Refuse combinations that cannot work, at template time rather than in the cluster. */}}
{{- define "punching-fist.validate" -}}
{{- if not (has .Values.database.type (list "sqlite" "postgres")) -}}
{{- fail "database.type must be sqlite or postgres" -}}
{{- end -}}
{{- if and (eq .Values.database.type "sqlite") (gt (int .Values.replicaCount) 1) -}}
{{- fail "database.type=sqlite supports one replica only: set replicaCount=1 or use postgres" -}}
{{- end -}}
{{- if and (eq .Values.database.type "sqlite") (ne .Values.workload "StatefulSet") -}}
{{- fail "database.type=sqlite needs workload=StatefulSet (its volume)" -}}
{{- end -}}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.postgres.url) (not .Values.database.postgres.existingSecret) (not .Values.agent.existingSecret) -}}
{{- fail "database.type=postgres needs database.postgres.url or database.postgres.existingSecret" -}}
{{- end -}}
{{- if not (has .Values.agent.provider (list "anthropic" "openai" "local")) -}}
{{- fail "agent.provider must be anthropic, openai or local" -}}
{{- end -}}
{{- if not (has .Values.workload (list "StatefulSet" "Deployment")) -}}
{{- fail "workload must be StatefulSet or Deployment" -}}
{{- end -}}
{{- if not (has .Values.api.auth (list "tokens" "kubernetes")) -}}
{{- fail "api.auth must be tokens or kubernetes" -}}
{{- end -}}
{{- if and (not .Values.api.tokens) (ne .Values.api.auth "kubernetes") -}}
{{- fail "api.tokens needs at least one token (or api.auth=kubernetes): the operator listens on every address and refuses to serve an open API" -}}
{{- end -}}
{{- range .Values.api.tokens -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*$" (.name | default "")) -}}
{{- fail (printf "api.tokens: name %q must be letters, digits, '.', '_' or '-' (it names who decided, and a Secret key)" (.name | default "")) -}}
{{- end -}}
{{- if not (has .role (list "viewer" "approver" "admin")) -}}
{{- fail (printf "api.tokens %s: role must be viewer, approver or admin" .name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.api.metricsAuth .Values.serviceMonitor.enabled (eq (include "punching-fist.viewerTokens" . | fromJsonArray | len) 0) -}}
{{- fail "api.metricsAuth with serviceMonitor.enabled needs a token with role viewer (Prometheus sends it)" -}}
{{- end -}}
{{- end -}}

{{/* The operator pod: shared by the StatefulSet and the Deployment. */}}
{{- define "punching-fist.podTemplate" -}}
metadata:
  labels:
    {{- include "punching-fist.selectorLabels" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "punching-fist.serviceAccountName" . }}
  automountServiceAccountToken: true  # the operator's own API access; steps impersonate
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: 30
  containers:
    - name: operator
      image: {{ include "punching-fist.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --kubernetes
        - --host=0.0.0.0
        - --port={{ .Values.service.port }}
        - --log-level={{ .Values.operator.logLevel }}
        - --concurrency={{ .Values.operator.runConcurrency }}
        - --lease-seconds={{ .Values.operator.leaseSeconds }}
        - --peering-lifetime={{ .Values.operator.peering.lifetimeSeconds }}
        {{- if .Values.agentRbac.create }}
        - --agent-service-account=punchingfist-agent
        {{- end }}
        {{- range .Values.operator.watchNamespaces }}
        - --namespace={{ . }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "punching-fist.fullname" . }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        # The database URL (a password, with PostgreSQL) is read from the environment: a
        # process's command line is readable by every other process, steps included.
        - name: PUNCHING_FIST_DB
          {{- if eq .Values.database.type "sqlite" }}
          value: {{ printf "sqlite:///%s" .Values.database.sqlite.path | quote }}
          {{- else }}
          valueFrom:
            secretKeyRef:
              name: {{ default (include "punching-fist.secretName" .) .Values.database.postgres.existingSecret }}
              key: {{ .Values.database.postgres.secretKey }}
          {{- end }}
        - name: PUNCHING_FIST_DB_WAIT_SECONDS
          value: {{ .Values.database.waitSeconds | quote }}
        - name: ANTHROPIC_API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "punching-fist.secretName" . }}
              key: llm-api-key
              optional: true
        - name: OPENAI_API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "punching-fist.secretName" . }}
              key: openai-api-key
              optional: true
        - name: SLACK_BOT_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "punching-fist.secretName" . }}
              key: slack-bot-token
              optional: true
        {{- range $index, $token := .Values.api.tokens }}
        - name: PUNCHING_FIST_API_TOKEN_{{ $index }}
          valueFrom:
            secretKeyRef:
              name: {{ include "punching-fist.apiTokenSecretName" (list $ $token) }}
              key: {{ include "punching-fist.apiTokenSecretKey" $token }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # Start-up may wait database.waitSeconds for the database, then a minute for the rest;
      # the liveness probe counts only once this one passed.
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 5
        failureThreshold: {{ add 12 (div (int .Values.database.waitSeconds) 5) }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        failureThreshold: 6
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if eq .Values.database.type "sqlite" }}
        - name: data
          mountPath: {{ dir .Values.database.sqlite.path }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
