package config

// MaxDepth is how deep arrays and inline tables may nest in a services.toml.
// The file needs two levels at most; the TOML decoder's time and memory grow
// far faster than the depth (an 80 KB file of nested inline tables took it
// 98 s and 15 GB), so Parse refuses anything deeper before decoding.
const MaxDepth = 16

// tooDeep returns the 1-based line where the arrays and inline tables of src
// first nest deeper than MaxDepth, or 0 if they never do. It counts brackets
// and braces, skipping comments and strings as TOML writes them (basic and
// literal, single- and multi-line), so that a bracket inside a string does
// not count. It does not judge syntax: the decoder does, and stops at the
// first error, before any nesting this scan did not see.
func tooDeep(src []byte) int {
	depth, line := 0, 1
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			line++
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i, line = skipString(src, i, line)
		case '[', '{':
			if depth++; depth > MaxDepth {
				return line
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0
}

// skipString skips the string that opens at src[i] and returns the index of
// its last byte and the line it ends on. A single-line string ends at the
// end of its line at the latest, as the decoder would have it.
func skipString(src []byte, i, line int) (int, int) {
	q := src[i]
	escapes := q == '"' // literal strings have none
	if i+2 < len(src) && src[i+1] == q && src[i+2] == q {
		for j := i + 3; j < len(src); j++ {
			switch {
			case src[j] == '\n':
				line++
			case escapes && src[j] == '\\':
				if j+1 < len(src) && src[j+1] == '\n' {
					line++
				}
				j++
			case j+2 < len(src) && src[j] == q && src[j+1] == q && src[j+2] == q:
				j += 2
				// Up to two more quotes belong to the content: """a""""" is a"".
				for k := 0; k < 2 && j+1 < len(src) && src[j+1] == q; k++ {
					j++
				}
				return j, line
			}
		}
		return len(src), line
	}
	for j := i + 1; j < len(src); j++ {
		switch {
		case src[j] == '\n':
			return j - 1, line
		case escapes && src[j] == '\\':
			if j+1 < len(src) && src[j+1] == '\n' {
				return j, line
			}
			j++
		case src[j] == q:
			return j, line
		}
	}
	return len(src), line
}
