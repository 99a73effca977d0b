package funchost

import "testing"

func TestSplitEventGrid(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`[{"id":"a"},{"id":"b"}]`, []string{`{"id":"a"}`, `{"id":"b"}`}},
		{` [ {"id":"a"} ] `, []string{`{"id":"a"}`}},
		{`{"id":"c"}`, []string{`{"id":"c"}`}},
		{`[]`, []string{}},
		{`not json`, []string{`not json`}},
	}
	for _, c := range cases {
		got := SplitEventGrid([]byte(c.in))
		if len(got) != len(c.want) {
			t.Fatalf("%s: %q", c.in, got)
		}
		for i := range got {
			if string(got[i]) != c.want[i] {
				t.Errorf("%s: event %d = %s, want %s", c.in, i, got[i], c.want[i])
			}
		}
	}
}
