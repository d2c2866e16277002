package lint

import (
	"strconv"
	"strings"
)

// Path locates a node of a SecretProviderClass: mapping keys joined by "." and sequence
// indexes in brackets, from the object's root ("spec.secretObjects[0].data[1].key").
// Inside the objects parameter, whose value is itself YAML, the path goes on into the
// decoded document ("spec.parameters.objects.array[1].jmesPath[0].objectAlias"). The
// root is "".
type Path string

// Key is the path of the value of mapping key k under p.
func (p Path) Key(k string) Path {
	if p == "" {
		return Path(k)
	}
	return p + "." + Path(k)
}

// Index is the path of item i of the sequence at p.
func (p Path) Index(i int) Path { return p + "[" + Path(strconv.Itoa(i)) + "]" }

// Parent is the path of the node holding p's; ok is false at the root.
func (p Path) Parent() (parent Path, ok bool) {
	if p == "" {
		return "", false
	}
	s := string(p)
	if strings.HasSuffix(s, "]") {
		if i := strings.LastIndexByte(s, '['); i >= 0 {
			return Path(s[:i]), true
		}
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return Path(s[:i]), true
	}
	return "", true
}

// Paths of the class that findings point at.
const (
	pathParameters    Path = "spec.parameters"
	pathSecretObjects Path = "spec.secretObjects"
)
