// Package decimal formats the wire's fixed-point prices and sizes as exact
// decimal strings, for msgsink's decoded frames (tail) and the
// dashboard's page: one formatter, so both show a price alike.
package decimal
