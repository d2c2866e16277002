// Package spctest builds and reads SecretProviderClasses for tests and the demo: the
// objects parameter as users write it, parameter maps with overrides, and the example
// manifests of the repository (examples/*.yaml and README.md's). It is the one copy of
// these helpers; it imports nothing of kvcsi, so that every package's tests can use it.
package spctest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Objects encodes SecretProviderClass objects the way users write them: `array:` of
// YAML block strings (`- |`), each holding one object's YAML.
func Objects(objects ...string) string {
	var b strings.Builder
	b.WriteString("array:\n")
	for _, o := range objects {
		b.WriteString("  - |\n")
		for _, line := range strings.Split(strings.TrimRight(o, "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// With returns a copy of params with the key, value pairs kv set; an empty value
// deletes the key.
func With(params map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(params)+len(kv)/2)
	for k, v := range params {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// Manifest is the part of a SecretProviderClass manifest tests read: what the driver
// hands the provider, and the secretObjects it syncs.
type Manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Provider      string            `yaml:"provider"`
		Parameters    map[string]string `yaml:"parameters"`
		SecretObjects []struct {
			SecretName string `yaml:"secretName"`
			Type       string `yaml:"type"`
			Data       []struct {
				ObjectName string `yaml:"objectName"`
				Key        string `yaml:"key"`
			} `yaml:"data"`
		} `yaml:"secretObjects"`
	} `yaml:"spec"`
}

// ReadManifest decodes the SecretProviderClass manifest in the file at path (its first
// YAML document).
func ReadManifest(path string) (*Manifest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Kind != "SecretProviderClass" {
		return nil, fmt.Errorf("%s: kind is %q, want SecretProviderClass", path, m.Kind)
	}
	return &m, nil
}

// Examples returns the paths of the example manifests, examples/*.yaml under the
// repository root.
func Examples(root string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err == nil && len(paths) == 0 {
		err = fmt.Errorf("no examples in %s", filepath.Join(root, "examples"))
	}
	return paths, err
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// READMEExamples returns the ```yaml blocks of README.md under the repository root
// that hold a SecretProviderClass.
func READMEExamples(root string) ([]string, error) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range yamlBlock.FindAllSubmatch(readme, -1) {
		if bytes.Contains(b[1], []byte("kind: SecretProviderClass")) {
			out = append(out, string(b[1]))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no SecretProviderClass example in %s", filepath.Join(root, "README.md"))
	}
	return out, nil
}
