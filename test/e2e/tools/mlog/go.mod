// Stand-in for monis.app/mlog, which the Go module proxy refuses to serve.
// It provides only the symbols the Secrets Store CSI Driver uses.
module monis.app/mlog

go 1.24

require k8s.io/klog/v2 v2.100.1
