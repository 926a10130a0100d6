package connlimit

import (
	"net"
	"net/netip"
)

// addressKey is what the per-address cap counts by: the peer's IP, and
// for IPv6 its /64, which one subscriber usually holds whole (counting
// single IPv6 addresses would give such a client 2^64 allowances). The
// port is left out: each connection of one client has its own.
func addressKey(a net.Addr) string {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	if !ip.IsValid() {
		return a.String()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
