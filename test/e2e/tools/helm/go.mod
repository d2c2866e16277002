// Scratch module used by the kvcsi e2e suite to build helm from source.
module github.com/kvcsi/kvcsi/test/e2e/tools/helm

go 1.26.0

require helm.sh/helm/v3 v3.21.4
