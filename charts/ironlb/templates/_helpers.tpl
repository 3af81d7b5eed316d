{{/* Object names are fixed: the controller finds its webhook objects by name, and
ClusterRoles are cluster-wide anyway (one IronLB per cluster). */}}

{{- define "ironlb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "ironlb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: ironlb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ironlb
{{- end }}

{{/* Selector labels; identical to deploy/ so that either install can replace the other. */}}
{{- define "ironlb.selectorLabels" -}}
app.kubernetes.io/name: ironlb
app.kubernetes.io/component: {{ . }}
{{- end }}
