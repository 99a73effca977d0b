package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// runProfile writes the profiles `handler run --cpuprofile/--memprofile`
// asks for: the CPU profile of the whole run, and the heap profile taken at
// the run's largest live heap (sampled once a simulated minute), which is
// what peak RSS follows — a profile taken at the end would miss the peak.
type runProfile struct {
	cpu, mem string
	cpuFile  *os.File
	peak     uint64
}

// start begins CPU profiling when asked.
func (p *runProfile) start() error {
	if p.cpu == "" {
		return nil
	}
	f, err := os.Create(p.cpu)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	p.cpuFile = f
	return nil
}

// sample rewrites the heap profile when the live heap is 5 % above the
// largest seen so far.
func (p *runProfile) sample() error {
	if p == nil || p.mem == "" {
		return nil
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc <= p.peak+p.peak/20 {
		return nil
	}
	p.peak = ms.HeapAlloc
	f, err := os.Create(p.mem)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return nil
}

// stop ends CPU profiling.
func (p *runProfile) stop() {
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		p.cpuFile.Close()
		p.cpuFile = nil
	}
}
