// Package heuristics is the one place where kvcsi reads meaning out of third-party error
// texts: the Azure SDK's, net/http's and the YAML parser's. Each heuristic is a named
// function here, pinned by a test that produces the real error with the real library and
// breaks when the upstream text changes. kvcsi's own errors are typed and inspected with
// errors.Is/As instead; nothing outside this package matches error text.
package heuristics

// --- YAML parser (go.yaml.in/yaml/v3) ---

// --- Azure SDK (azcore, azidentity) and net/http ---
