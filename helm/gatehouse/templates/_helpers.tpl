{{/* Names, labels and the environment shared by the Deployment and the migration Job. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "gatehouse.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "gatehouse.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* One env entry read from an existing Secret: (list "NAME" .Values.secrets.x) */}}
{{- define "gatehouse.secretEnv" -}}
{{- $name := index . 0 -}}
{{- $ref := index . 1 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secrets: the Secret holding %s needs a name" $name) $ref.name }}
      key: {{ $ref.key }}
      {{- if $ref.optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/*
The environment of the server and the migration Job alike: the chart's own entries (below), of
which extraEnv replaces any it names (a name twice in a container's env is refused by server-side
apply), then extraEnv. PORT and GATEHOUSE_MIGRATE_ON_START are the chart's (the container port; the
migration Job) and cannot be replaced.
*/}}
{{- define "gatehouse.env" -}}
{{- $extra := .Values.extraEnv | default list -}}
{{- $names := list -}}
{{- range $extra -}}
{{- if has .name (list "PORT" "GATEHOUSE_MIGRATE_ON_START") -}}
{{- fail (printf "extraEnv: %s is set by the chart and cannot be replaced" .name) -}}
{{- end -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- $own := list -}}
{{- range (include "gatehouse.chartEnv" . | fromYamlArray) -}}
{{- if not (has .name $names) -}}
{{- $own = append $own . -}}
{{- end -}}
{{- end -}}
{{- toYaml (concat $own $extra) -}}
{{- end -}}

{{/* The chart's own entries: secrets by reference, then plain settings. */}}
{{- define "gatehouse.chartEnv" -}}
- name: NODE_ENV
  value: production
- name: GATEHOUSE_DATA_DIR
  value: /data
{{ include "gatehouse.secretEnv" (list "GATEHOUSE_MASTER_KEY" .Values.secrets.masterKey) }}
{{- if .Values.secrets.previousMasterKey.name }}
{{ include "gatehouse.secretEnv" (list "GATEHOUSE_MASTER_KEY_PREVIOUS" .Values.secrets.previousMasterKey) }}
{{- end }}
{{ include "gatehouse.secretEnv" (list "DATABASE_URL" .Values.secrets.databaseUrl) }}
{{- if .Values.secrets.redisClusterNodes.name }}
{{ include "gatehouse.secretEnv" (list "REDIS_CLUSTER_NODES" .Values.secrets.redisClusterNodes) }}
{{- else }}
{{ include "gatehouse.secretEnv" (list "REDIS_URL" .Values.secrets.redisUrl) }}
{{- end }}
{{- if .Values.secrets.smtpUrl.name }}
{{ include "gatehouse.secretEnv" (list "SMTP_URL" .Values.secrets.smtpUrl) }}
{{- end }}
{{- if .Values.secrets.bootstrapAdminClient.name }}
{{ include "gatehouse.secretEnv" (list "GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_ID" (dict "name" .Values.secrets.bootstrapAdminClient.name "key" .Values.secrets.bootstrapAdminClient.idKey)) }}
{{ include "gatehouse.secretEnv" (list "GATEHOUSE_BOOTSTRAP_ADMIN_CLIENT_SECRET" (dict "name" .Values.secrets.bootstrapAdminClient.name "key" .Values.secrets.bootstrapAdminClient.secretKey)) }}
{{- end }}
{{- with .Values.config.publicUrl }}
- name: PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.config.trustProxy }}
- name: TRUST_PROXY
  value: {{ . | quote }}
{{- end }}
{{- with .Values.config.metricsAllow }}
- name: METRICS_ALLOW
  value: {{ . | quote }}
{{- end }}
{{- with .Values.config.outboundAllow }}
- name: OUTBOUND_ALLOW
  value: {{ . | quote }}
{{- end }}
{{- with .Values.config.mailFrom }}
- name: MAIL_FROM
  value: {{ . | quote }}
{{- end }}
- name: BCRYPT_COST
  value: {{ .Values.config.bcryptCost | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- end -}}

{{- define "gatehouse.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gatehouse.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}
