package config

import "strings"

// lineIndex maps dotted key paths ("services\x00x\x00retry\x00max") to the
// 1-based line that defines them. The TOML decoder keeps no positions for
// keys, so this scans the text for table headers and "key =" lines. It is a
// best-effort scan over text the decoder has already accepted: it only has to
// find lines, never to judge syntax, and it never fails.
type lineIndex map[string]int

const pathSep = "\x00"

func indexLines(src string) lineIndex {
	idx := lineIndex{}
	var table []string
	inMulti := "" // the delimiter of an open multi-line string
	for n, line := range strings.Split(src, "\n") {
		lineNo := n + 1
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		s := strings.TrimSpace(line)
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			h := strings.TrimPrefix(strings.TrimPrefix(s, "["), "[")
			if end := closingBracket(h); end >= 0 {
				table = splitKey(h[:end])
				idx.add(table, lineNo)
			}
			continue
		}
		eq := keyEnd(s)
		if eq < 0 {
			continue
		}
		key := splitKey(s[:eq])
		if len(key) == 0 {
			continue
		}
		idx.add(append(append([]string(nil), table...), key...), lineNo)
		rest := s[eq+1:]
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(rest, d)%2 == 1 {
				inMulti = d
				break
			}
		}
	}
	return idx
}

func (idx lineIndex) add(path []string, line int) {
	// Dotted keys and headers also define their parents: remember the first.
	for i := 1; i <= len(path); i++ {
		k := strings.Join(path[:i], pathSep)
		if _, ok := idx[k]; !ok {
			idx[k] = line
		}
	}
}

// line returns the line of path, or of its nearest ancestor that has one.
func (idx lineIndex) line(path ...string) int {
	for i := len(path); i > 0; i-- {
		if l, ok := idx[strings.Join(path[:i], pathSep)]; ok {
			return l
		}
	}
	return 0
}

// closingBracket finds the ']' ending a table header, skipping quoted parts.
func closingBracket(s string) int {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == ']':
			return i
		}
	}
	return -1
}

// keyEnd finds the '=' ending a key, skipping quoted parts; -1 if none.
func keyEnd(s string) int {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '=':
			return i
		case c == '#' || c == '[' || c == '{' || c == ',':
			return -1
		}
	}
	return -1
}

// splitKey splits a dotted TOML key into its parts, unquoting simply: escapes
// other than \" and \\ are kept as written, which only costs a line number.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else if c == q {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			q = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}
