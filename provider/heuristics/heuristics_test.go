package heuristics

// Every heuristic has a test here that builds the real error with the real library, so
// that a dependency update that changes the text turns the test red.
