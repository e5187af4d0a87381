package decimal_test

import (
	"fmt"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/decimal"
)

func ExampleString() {
	fmt.Println(decimal.String(6_500_012_345_678, 2))
	fmt.Println(decimal.String(6_500_000_000_000, 2))
	fmt.Println(decimal.String(25_000_000, decimal.Places))
	// Output:
	// 65000.12345678
	// 65000.00
	// 0.25000000
}
