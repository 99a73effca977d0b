// Package faultproxy is a real reverse proxy (net/http/httputil) for tests
// and benchmarks: it sits in front of a service (Azurite), counts every
// request (total and per method) and injects faults on a schedule or with a
// probability — 429 with Retry-After, 503, slow responses — so retry
// behaviour and request economy are measured against the real thing.
package faultproxy

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Fault is one injected misbehaviour. A fault applies to a request when it
// has Times left (counted down) or, with Times == 0, with Probability.
type Fault struct {
	// Status, if non-zero, is answered instead of forwarding (429, 503 …).
	Status int
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) with Status.
	RetryAfter time.Duration
	// Delay holds the request this long before it is forwarded or answered
	// (a slow service); the client giving up ends the wait.
	Delay time.Duration
	// Times applies the fault to the next Times matching requests.
	Times int
	// Probability applies the fault at random (seeded) when Times is 0.
	Probability float64
	// Method, if set, limits the fault to requests of that method.
	Method string
}

// Hit records one request that received a fault.
type Hit struct {
	At     time.Time
	Method string
	Status int
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	faults   []*Fault
	rng      *rand.Rand
	total    int64
	byMethod map[string]int64
	hits     []Hit
	times    []time.Time   // arrival time of every request
	statuses map[int]int64 // status of every answer, forwarded or injected
	observe  func(r *http.Request, head []byte, took time.Duration)
}

// headReader keeps the first bytes read through it (for Observe).
type headReader struct {
	io.ReadCloser
	head []byte
}

func (h *headReader) Read(b []byte) (int, error) {
	n, err := h.ReadCloser.Read(b)
	if room := observedHead - len(h.head); room > 0 {
		h.head = append(h.head, b[:min(n, room)]...)
	}
	return n, err
}

// observedHead is how much of a request's body Observe sees.
const observedHead = 1024

// New starts a proxy for target (scheme://host:port) on a free loopback
// port. seed makes probabilistic faults repeatable.
func New(target string, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{url: "http://" + l.Addr().String(), byMethod: map[string]int64{}, statuses: map[int]int64{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// the target is down: what a gateway in front of a dead backend says
		p.countStatus(http.StatusBadGateway)
		w.WriteHeader(http.StatusBadGateway)
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		p.countStatus(resp.StatusCode)
		return nil
	}
	p.srv = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Start is New for tests: the proxy is closed in t.Cleanup.
func Start(t testing.TB, target string, seed uint64) *Proxy {
	t.Helper()
	p, err := New(target, seed)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		p.mu.Lock()
		p.total++
		p.byMethod[r.Method]++
		p.times = append(p.times, now)
		f := p.pick(r.Method)
		var status int
		var delay, retryAfter time.Duration
		if f != nil {
			status, delay, retryAfter = f.Status, f.Delay, f.RetryAfter
			p.hits = append(p.hits, Hit{At: now, Method: r.Method, Status: status})
		}
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			p.countStatus(status)
			if retryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"injected by faultproxy"}}}`))
			return
		}
		p.mu.Lock()
		obs := p.observe
		p.mu.Unlock()
		if obs == nil {
			next.ServeHTTP(w, r)
			return
		}
		body := &headReader{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		next.ServeHTTP(w, r)
		obs(r, body.head, time.Since(now))
	})
}

// Observe calls fn after each forwarded request with the first KiB of its
// body (a batch names its table there) and the time it took (arrival to the
// end of the answer): where a slow service spends its time. fn runs on the
// request's goroutine, concurrently with other requests.
func (p *Proxy) Observe(fn func(r *http.Request, head []byte, took time.Duration)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observe = fn
}

// pick returns the fault that applies to this request; callers hold mu.
func (p *Proxy) pick(method string) *Fault {
	for i, f := range p.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 && f.Probability == 0 {
				p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			}
			return f
		}
		if f.Probability > 0 && p.rng.Float64() < f.Probability {
			return f
		}
	}
	return nil
}

// Inject adds a fault; faults are tried in the order added.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Counts returns the number of requests seen, total and per method.
func (p *Proxy) Counts() (int64, map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int64, len(p.byMethod))
	for k, v := range p.byMethod {
		m[k] = v
	}
	return p.total, m
}

// Hits returns the requests that received a fault, in order.
func (p *Proxy) Hits() []Hit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Hit(nil), p.hits...)
}

// Arrivals returns the arrival time of every request, in order.
func (p *Proxy) Arrivals() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times...)
}

// Reset zeroes the counters (faults stay).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.byMethod, p.hits, p.times, p.statuses = 0, map[string]int64{}, nil, nil, map[int]int64{}
}

func (p *Proxy) countStatus(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses[code]++
}

// Statuses returns how many answers had each HTTP status.
func (p *Proxy) Statuses() map[int]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[int]int64, len(p.statuses))
	for k, v := range p.statuses {
		m[k] = v
	}
	return m
}

// URL is the proxy's base URL (http://127.0.0.1:port).
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		return p.srv.Close() // a held (delayed) request outlived the grace period
	}
	return nil
}
