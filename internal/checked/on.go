//go:build msgsink_checked

package checked

// On is true in the checked build.
const On = true
