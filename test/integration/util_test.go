package integration

import (
	"strconv"

	"google.golang.org/grpc"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

func fmtInt(i int) string { return strconv.Itoa(i) }

func v1alpha1Client(c *grpc.ClientConn) v1alpha1.CSIDriverProviderClient {
	return v1alpha1.NewCSIDriverProviderClient(c)
}

func versionRequest() *v1alpha1.VersionRequest { return &v1alpha1.VersionRequest{Version: "v1alpha1"} }
