package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppendUnquoted(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{`""`, "", true},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", true},
		{`"\u00e9\u4e16"`, "é世", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud83d"`, "\uFFFD", true},
		{"\"\xff\"", "\uFFFD", true},
		{`"abc"x`, "", false},
		{`"abc`, "", false},
		{`"\x"`, "", false},
		{"\"\x01\"", "", false},
		{`abc`, "", false},
	}
	for _, c := range cases {
		got, ok := AppendUnquoted([]byte("pre:"), []byte(c.in))
		if ok != c.ok || (ok && string(got) != "pre:"+c.want) || (!ok && string(got) != "pre:") {
			t.Errorf("AppendUnquoted(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzAppendUnquoted checks the decoder against encoding/json on arbitrary
// input: it accepts exactly the valid literals and decodes them alike.
func FuzzAppendUnquoted(f *testing.F) {
	for _, s := range []string{`""`, `"abc"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e16"`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", `"héllo"`, `"{\"records\":[]}"`, `"\u00"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, q []byte) {
		var want string
		werr := json.Unmarshal(q, &want)
		literal := werr == nil && len(q) > 0 && q[0] == '"' && q[len(q)-1] == '"'
		got, ok := AppendUnquoted(nil, q)
		if ok != literal {
			t.Fatalf("AppendUnquoted(%q): ok %v, encoding/json error %v", q, ok, werr)
		}
		if ok && string(got) != want {
			t.Fatalf("AppendUnquoted(%q) = %q, want %q", q, got, want)
		}
	})
}

// FuzzScan checks the prefix scanner: it accepts exactly the valid JSON
// string literal at the start of the input and decodes it as encoding/json.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`""`, `"abc",`, `"a\"b"]`, `"\u00e9"x`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\x01\"", `"\x"`,
		`"unterminated`, `"\u12"`, "\"\xff\"", `"a"  "b"`, `x"a"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		got, n, ok := Scan(nil, s)
		if !ok {
			// Then no prefix of s ending at a quote is a valid literal.
			for i := 2; i <= len(s); i++ {
				var w string
				if s[0] == '"' && s[i-1] == '"' && json.Unmarshal(s[:i], &w) == nil {
					t.Fatalf("Scan(%q) rejected the valid literal %q", s, s[:i])
				}
			}
			return
		}
		var want string
		if err := json.Unmarshal(s[:n], &want); err != nil {
			t.Fatalf("Scan(%q) accepted %q, which encoding/json rejects: %v", s, s[:n], err)
		}
		if string(got) != want {
			t.Fatalf("Scan(%q) = %q, want %q", s, got, want)
		}
	})
}
