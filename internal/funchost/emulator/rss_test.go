package emulator

import "testing"

func TestVmHWM(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\thandler\nVmPeak:\t 2000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 100 kB\n", 123456 << 10, true},
		{"Name:\thandler\nVmRSS:\t 100 kB\n", 0, false},
		{"VmHWM:\t lots kB\n", 0, false},
	} {
		got, err := vmHWM([]byte(tc.status))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("vmHWM(%q) = %d, %v; want %d, ok %v", tc.status, got, err, tc.want, tc.ok)
		}
	}
}
