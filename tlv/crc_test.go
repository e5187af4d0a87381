package tlv_test

import "hash/crc32"

// crc32IEEE is the checksum of SPEC section 1, spelled out independently of
// the package: header bytes 0..27, then the payload.
func crc32IEEE(msg []byte) uint32 {
	h := crc32.NewIEEE()
	h.Write(msg[:28])
	h.Write(msg[32:])
	return h.Sum32()
}
