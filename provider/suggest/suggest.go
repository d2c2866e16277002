// Package suggest is kvcsi's one did-you-mean: the known name closest to a misspelt one,
// with one set of thresholds, for config's parameters and object fields and for lint's
// SecretProviderClass fields, cloud names and file names.
package suggest

import (
	"fmt"
	"strings"
)

// maxLen bounds the names compared, so a hostile manifest cannot make the quadratic
// distance expensive; no real parameter, field or file name of a volume comes close.
const maxLen = 128

// Closest returns the name in known that name most likely misspells, or "" if none is
// close enough: a name equal but for case first, else the nearest within an edit
// distance of 2 (3 for names of 12 bytes or more), compared case-insensitively.
func Closest(name string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	if len(name) > maxLen {
		return ""
	}
	lower := strings.ToLower(name)
	best, bestDist := "", 0
	for _, k := range known {
		if len(k) > maxLen {
			continue
		}
		limit := 2
		if len(k) >= 12 {
			limit = 3
		}
		if d := distance(lower, strings.ToLower(k)); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// Fix is the fix for an unknown name: "did you mean <closest>?" (saying that names are
// case-sensitive when only the case differs), else "remove it; known <what>s are …".
func Fix(name string, known []string, what string) string {
	if s := Closest(name, known); s != "" {
		if s != name && strings.EqualFold(s, name) {
			return fmt.Sprintf("did you mean %s? %s names are case-sensitive", s, capitalize(what))
		}
		return fmt.Sprintf("did you mean %s?", s)
	}
	return fmt.Sprintf("remove it; known %ss are %s", what, strings.Join(known, ", "))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
