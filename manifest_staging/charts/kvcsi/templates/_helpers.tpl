{{/* Chart name. */}}
{{- define "kvcsi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-qualified unless the release name already contains it. */}}
{{- define "kvcsi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kvcsi.labels" -}}
app.kubernetes.io/name: {{ include "kvcsi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kvcsi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kvcsi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Provider arguments. Called with (dict "root" $ "os" .Values.linux).
Flags with a binary default that users must be able to turn off are always
rendered with an explicit value.
*/}}
{{- define "kvcsi.args" -}}
{{- $v := .root.Values -}}
- --endpoint={{ .os.endpoint }}
- --construct-pem-chain={{ $v.constructPEMChain }}
- --write-cert-and-key-in-separate-files={{ $v.writeCertAndKeyInSeparateFiles }}
- --healthz-port={{ .os.healthzPort }}
- --healthz-path={{ .os.healthzPath }}
- --healthz-timeout={{ .os.healthzTimeout }}
- --metrics-backend={{ $v.metricsBackend }}
- --prometheus-port={{ $v.prometheusPort }}
- --log-format-json={{ $v.logFormatJSON }}
- -v={{ $v.logVerbosity }}
{{- if $v.cloudName }}
- --cloud-name={{ $v.cloudName }}
{{- end }}
{{- if $v.customUserAgent }}
- --custom-user-agent={{ $v.customUserAgent }}
{{- end }}
{{- if $v.tokenProxyURL }}
- --token-proxy-url={{ $v.tokenProxyURL }}
{{- end }}
{{- if $v.sniName }}
- --sni-name={{ $v.sniName }}
{{- end }}
{{- if $v.enablePprof }}
- --enable-pprof=true
- --pprof-port={{ $v.pprofPort }}
{{- end }}
{{- if $v.parallelism }}
- --parallelism={{ $v.parallelism }}
{{- end }}
{{- if $v.vaultConcurrency }}
- --vault-concurrency={{ $v.vaultConcurrency }}
{{- end }}
{{- if $v.maxRetries }}
- --max-retries={{ $v.maxRetries }}
{{- end }}
{{- if $v.cacheSize }}
- --cache-size={{ $v.cacheSize }}
{{- end }}
{{- if $v.cacheIdleTTL }}
- --cache-idle-ttl={{ $v.cacheIdleTTL }}
{{- end }}
{{- if $v.expiryWarning }}
- --expiry-warning={{ $v.expiryWarning }}
{{- end }}
{{- if $v.nmiPort }}
- --nmi-port={{ $v.nmiPort }}
{{- end }}
{{- if $v.metricsBindAddress }}
- --metrics-bind-address={{ $v.metricsBindAddress }}
{{- end }}
{{- if $v.healthzBindAddress }}
- --healthz-bind-address={{ $v.healthzBindAddress }}
{{- end }}
{{- if $v.maxResponseBytes }}
- --max-response-bytes={{ int64 $v.maxResponseBytes }}
{{- end }}
{{- range $v.extraArgs }}
- {{ . }}
{{- end }}
{{- end -}}

{{- define "kvcsi.image" -}}
{{- printf "%s:%s" .os.image.repository (default .root.Chart.AppVersion .os.image.tag) -}}
{{- end -}}
