package wire

import (
	"time"

	"github.com/thermowatt/thermowatt"
)

// Token is a token as GET /api/tokens lists it, without its secret.
type Token struct {
	ID        string           `json:"id"`
	Scope     thermowatt.Scope `json:"scope"`
	DeviceID  string           `json:"deviceId,omitempty"`
	CreatedAt time.Time        `json:"createdAt"`
	RevokedAt *time.Time       `json:"revokedAt"`
}

// IssuedToken is a token as it is issued: the one answer that ever
// contains its secret (POST /api/tokens, POST /api/devices/{id}/tokens).
type IssuedToken struct {
	ID       string           `json:"id"`
	Token    string           `json:"token"`
	Scope    thermowatt.Scope `json:"scope"`
	DeviceID string           `json:"deviceId,omitempty"`
}

// RegisteredDevice is the answer to POST /api/devices: the device and its
// first token.
type RegisteredDevice struct {
	ID       string           `json:"id"`
	Token    string           `json:"token"`
	TokenID  string           `json:"tokenId"`
	Scope    thermowatt.Scope `json:"scope"`
	DeviceID string           `json:"deviceId"`
}
