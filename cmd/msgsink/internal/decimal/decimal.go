package decimal

import (
	"strconv"

	"github.com/msgsink/msgsink/tlv"
)

// Places is the wire's fixed-point precision (SPEC section 2): prices and
// sizes are i64 × tlv.PriceScale.
const Places = 8

// Append appends v, a fixed-point number with Places decimals, as an exact
// decimal string: integer arithmetic only, so 0.1 stays 0.1 and a 19-digit
// price loses nothing to a float64's 53 bits. Trailing zeros of the fraction
// are cut down to minFrac digits (65000.00, 0.00012345); minFrac = Places
// keeps them all.
func Append(dst []byte, v int64, minFrac int) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u // two's complement: right for math.MinInt64 too
	}
	dst = strconv.AppendUint(dst, u/tlv.PriceScale, 10)
	frac := u % tlv.PriceScale
	var digits [Places]byte
	for i := Places - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := Places
	for n > minFrac && digits[n-1] == '0' {
		n--
	}
	if n == 0 {
		return dst
	}
	dst = append(dst, '.')
	return append(dst, digits[:n]...)
}

// String is Append to a string.
func String(v int64, minFrac int) string { return string(Append(nil, v, minFrac)) }
