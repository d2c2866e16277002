package suggest

import (
	"strings"
	"testing"
)

// The object fields and SecretProviderClass spec fields that config and lint suggest from.
var (
	objectFields = []string{"objectName", "objectType", "objectAlias", "objectVersion", "objectVersionHistory",
		"objectFormat", "objectEncoding", "filePermission", "keyvaultName", "certificatePart", "splitCertAndKey",
		"convertPFXToPEM", "jmesPath"}
	specFields = []string{"provider", "parameters", "secretObjects"}
	clouds     = []string{"AzurePublicCloud", "AzureUSGovernmentCloud", "AzureChinaCloud", "AzureGermanCloud", "AzureStackCloud"}
)

func TestClosest(t *testing.T) {
	for _, tt := range []struct {
		name  string
		known []string
		want  string
	}{
		// config's cases
		{"objectVersionhistory", objectFields, "objectVersionHistory"},
		{"objectname", objectFields, "objectName"},
		{"objetName", objectFields, "objectName"},
		{"objectTyp", objectFields, "objectType"},
		{"jmespath", objectFields, "jmesPath"},
		{"certificatepart", objectFields, "certificatePart"},
		{"splitCertAndKeys", objectFields, "splitCertAndKey"},
		{"keyVaultName", objectFields, "keyvaultName"},
		{"name", objectFields, ""},
		{"zzzzzzzzzz", objectFields, ""},
		// lint's cases
		{"secretObject", specFields, "secretObjects"},
		{"parameter", specFields, "parameters"},
		{"Provider", specFields, "provider"},
		{"color", specFields, ""},
		{"AzureUSGovernmnetCloud", clouds, "AzureUSGovernmentCloud"},
		{"db-pasword", []string{"db-config", "db-password", "db-user", "ring/0"}, "db-password"},
		// the thresholds: 2 edits, 3 for names of 12 bytes or more
		{"abcxyz", []string{"abcdef"}, ""},
		{"abcdxy", []string{"abcdef"}, "abcdef"},
		{"abcdefghixyz", []string{"abcdefghijkl"}, "abcdefghijkl"},
		{"abcdefghwxyz", []string{"abcdefghijkl"}, ""},
		// bounded
		{strings.Repeat("a", 200), []string{strings.Repeat("a", 199)}, ""},
	} {
		if got := Closest(tt.name, tt.known); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFix(t *testing.T) {
	for _, tt := range []struct{ name, what, want string }{
		{"keyVaultName", "parameter", "did you mean keyvaultName? Parameter names are case-sensitive"},
		{"objectAlais", "field", "did you mean objectAlias?"},
		{"color", "field", "remove it; known fields are objectName, objectType, "},
	} {
		if got := Fix(tt.name, append(objectFields, "keyvaultName"), tt.what); !strings.HasPrefix(got, tt.want) {
			t.Errorf("Fix(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
