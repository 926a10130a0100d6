// Package thermowatt is the vocabulary every other package speaks: what a
// reading, a device, a token and an alert are, the rule that decides a
// device's status, and the errors a store can answer. It depends on
// nothing else of the project, so the server, the command-line clients
// and the backends can all import it without importing each other.
//
// Where things live is told in docs/architecture.md.
package thermowatt
