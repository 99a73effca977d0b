package emulator

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS returns the running handler process's peak resident set size in
// bytes (VmHWM in /proc/PID/status; Linux only): the figure an instance's
// memory limit applies to, which the handler's own runtime statistics
// (Go heap only) do not show.
func (h *Host) PeakRSS() (int64, error) {
	p := h.current()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("emulator: peak RSS: %w", err)
	}
	return vmHWM(b)
}

// vmHWM reads the VmHWM line ("VmHWM:	  123456 kB") of a /proc status file.
func vmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("emulator: VmHWM %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("emulator: no VmHWM in the process status")
}
