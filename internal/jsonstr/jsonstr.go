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
		if i+1 >= len(s) {
			return dst, i, false
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := Hex4(s[i+2:])
			if !ok {
				return dst, i, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2, ok := Hex4(s[i+2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, i, false
		}
		i += 2
	}
	return dst, i, false
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
