// Scratch module used by the kvcsi e2e suite to build the unmodified
// Secrets Store CSI Driver v1.5.6 from the Go module proxy.
module github.com/kvcsi/kvcsi/test/e2e/tools/driver-v1.5.6

go 1.26.0

require (
	monis.app/mlog v0.0.2
	sigs.k8s.io/secrets-store-csi-driver v1.5.6
)

replace monis.app/mlog => ../mlog
