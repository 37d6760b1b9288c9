{{/* Labels every object of the release carries. */}}
{{- define "replica.labels" -}}
app.kubernetes.io/part-of: replica
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The CPU image, by digest (never a mutable tag). */}}
{{- define "replica.image" -}}
{{ .Values.image.repository }}@{{ required "image.digest is required (sha256:...)" .Values.image.digest }}
{{- end }}

{{/* The commit the workspace is checked out at: the image's unless set. */}}
{{- define "replica.ref" -}}
{{ .Values.workspace.sync.ref | default (required "image.gitCommit is required" .Values.image.gitCommit) }}
{{- end }}

{{/* Pod and container security (restricted Pod Security Standard), used by every pod. */}}
{{- define "replica.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
{{- define "replica.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end }}
