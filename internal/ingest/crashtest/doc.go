// Package crashtest holds the crash-safety test of ingest: it runs the real
// kinship binary, kills it with SIGKILL part-way through a batch, and checks
// that the store stays consistent and that ingesting again completes it.
// It has no code of its own.
package crashtest
