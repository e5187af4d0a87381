//go:build !msgsink_checked

package checked

// On is false in the normal build: every `if checked.On` block is removed by
// the compiler.
const On = false
