package store

// CACount is how many devices report one pair of CAs: the fingerprint of
// the CA they verify the server with and of the one waiting to take over,
// each as reported ("" when absent), not yet checked as a fingerprint.
type CACount struct {
	Active  string
	Waiting string
	Devices int
}
