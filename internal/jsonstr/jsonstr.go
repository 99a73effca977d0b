// Package jsonstr decodes JSON string literals in one pass into a caller's
// buffer. The handler and the parsers both decode JSON inside JSON strings
// (the host double-encodes every value; resource logs carry `properties` as
// a JSON string), and doing it without encoding/json's validate-then-decode
// passes and per-string allocations is most of their speed.
package jsonstr

import (
	"unicode/utf16"
	"unicode/utf8"
)

// AppendUnquoted appends the contents of the JSON string literal q (with its
// quotes, nothing after them) to dst, as encoding/json decodes it. ok is
// false when q is not exactly one well-formed literal.
func AppendUnquoted(dst, q []byte) ([]byte, bool) {
	out, n, ok := Scan(dst, q)
	if !ok || n != len(q) {
		return dst, false
	}
	return out, true
}

// Scan decodes the JSON string literal at the start of s (s[0] must
// be '"') in one pass, appending its contents to dst exactly as
// encoding/json would decode them: escapes resolved, surrogate pairs joined,
// lone surrogates and invalid UTF-8 replaced by U+FFFD. It returns the bytes
// consumed (closing quote included) and ok = false for a literal that is
// not valid JSON (control character, bad escape, no closing quote).
func Scan(dst, s []byte) (out []byte, n int, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return dst, 0, false
	}
	i := 1
	for i < len(s) {
		// Copy the longest run needing no work.
		j := i
		for j < len(s) {
			c := s[j]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			j++
		}
		dst = append(dst, s[i:j]...)
		i = j
		if i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			return dst, i + 1, true
		case c < 0x20:
			return dst, i, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		// c == '\\'
		out, n := AppendEscape(dst, s[i:])
		if n == 0 {
			return dst, i, false
		}
		dst, i = out, i+n
	}
	return dst, i, false
}

// AppendEscape decodes the escape sequence at the start of b (b[0] is the
// backslash) and appends what it stands for to dst, as encoding/json does: a
// \u surrogate pair is joined, a lone surrogate becomes U+FFFD. n is the
// number of bytes consumed (2, 6 or 12); 0 when b does not start with a
// complete, valid escape. Scan and the handler's streaming reader share it.
func AppendEscape(dst, b []byte) (out []byte, n int) {
	if len(b) < 2 || b[0] != '\\' {
		return dst, 0
	}
	switch b[1] {
	case '"', '\\', '/':
		return append(dst, b[1]), 2
	case 'b':
		return append(dst, '\b'), 2
	case 'f':
		return append(dst, '\f'), 2
	case 'n':
		return append(dst, '\n'), 2
	case 'r':
		return append(dst, '\r'), 2
	case 't':
		return append(dst, '\t'), 2
	case 'u':
		r, ok := Hex4(b[2:])
		if !ok {
			return dst, 0
		}
		if utf16.IsSurrogate(r) {
			if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
				if r2, ok := Hex4(b[8:]); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						return utf8.AppendRune(dst, dec), 12
					}
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), 6
	}
	return dst, 0
}

// Hex4 parses the four hex digits of a \u escape at the start of s; ok is
// false when there are fewer than four or one is not a hex digit.
func Hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
