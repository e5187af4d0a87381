package config

// MaxDepth is how deep tables and arrays may nest in a services.toml. The
// file needs four levels at most ([services.NAME.metadata] and an inline
// table in it); the TOML decoder's time and memory grow far faster than the
// depth (an 80 KB file of nested inline tables took it 98 s and 15 GB, and
// 32 KB of one dotted key 27 s), so Parse refuses anything deeper before
// decoding.
const MaxDepth = 16

// tooDeep returns the 1-based line where src first nests deeper than
// MaxDepth, or 0 if it never does. A level is a part of a table header
// ([a.b] is two, [[a.b]] three), a dot of a dotted key (a.b = 1 puts the
// value one table deeper than a = 1), and an array or inline table. The scan
// skips comments and strings as TOML writes them (basic and literal, single-
// and multi-line), so that a bracket or a dot inside one does not count. It
// does not judge syntax: the decoder does, and stops at its first error,
// before any nesting that this scan did not see.
func tooDeep(src []byte) int {
	var (
		line  = 1
		table = 0                    // levels of the current [table] header
		open  [MaxDepth + 1]struct { // the open arrays and inline tables
			brace bool
			level int
		}
		n      = 0     // how many are open
		dots   = 0     // dots in the key being read
		inKey  = true  // reading a key: at the start of a line or after { or , in a table
		header = false // reading a [table] header
		arrays = false // the header is [[...]]
	)
	level := func() int { // the level of the innermost table or array
		if n == 0 {
			return table
		}
		return open[n-1].level
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			line++
			if n == 0 && !header {
				inKey, dots = true, 0
			}
		case '#':
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i, line = skipString(src, i, line)
		case '.':
			if header || inKey {
				if dots++; level()+dots > MaxDepth && !header {
					return line
				}
			}
		case '=':
			inKey = false
		case ',':
			inKey, dots = n > 0 && open[n-1].brace, 0
		case '[', '{':
			if c == '[' && n == 0 && inKey && !header {
				header, arrays, dots = true, i+1 < len(src) && src[i+1] == '[', 0
				if arrays {
					i++
				}
				continue
			}
			lv := level() + dots + 1
			if lv > MaxDepth {
				return line
			}
			open[n].brace, open[n].level = c == '{', lv
			n++
			inKey, dots = c == '{', 0
		case ']', '}':
			switch {
			case header:
				table = dots + 1
				if arrays {
					table++
					if i+1 < len(src) && src[i+1] == ']' {
						i++
					}
				}
				header, inKey, dots = false, false, 0
				if table > MaxDepth {
					return line
				}
			case n > 0:
				n--
				inKey, dots = false, 0
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
