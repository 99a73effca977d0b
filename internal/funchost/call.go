package funchost

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
)

// Call sends one attempt of inv (RetryContext.RetryCount = retryCount)
// through h in process, with the headers the host sends, and judges the
// answer with the host's rules. It is the emulator without a process: `make
// run` and in-process tests drive the real handlers this way. Restarts and
// timeouts need a process (emulator.Host.Invoke).
func (a *App) Call(ctx context.Context, h http.Handler, inv *Invocation, retryCount int) *Result {
	r := a.NewResult(inv, a.NewGUID(), retryCount)
	if r.Err != nil {
		return r
	}
	if inv.BindErr != nil {
		r.Err = fmt.Errorf("%w: %v", ErrBinding, inv.BindErr)
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1/"+inv.Function, bytes.NewReader(inv.Payload(retryCount, nil)))
	if err != nil {
		r.Err = fmt.Errorf("%w: %v", ErrTransport, err)
		return r
	}
	a.SetHeaders(req, r.InvocationID)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r.Status, r.Header, r.Body = rec.Code, rec.Header(), rec.Body.Bytes()
	ParseResponse(r)
	return r
}

// NewResult starts the Result of one attempt of inv, tied to inv's function
// so that ParseResponse, Output and HTTPResponse apply its bindings (output
// names, $return, dataType). Both the in-process Call and the process
// emulator build their results with it. For a function the host did not
// load (Function.LoadErr) the Result already carries that error: the host
// never invokes it, so nothing is to be sent.
func (a *App) NewResult(inv *Invocation, invocationID string, retryCount int) *Result {
	f := a.Function(inv.Function)
	return &Result{Function: inv.Function, InvocationID: invocationID, RetryCount: retryCount, fn: f, Err: f.LoadErr}
}

// SetHeaders sets the request headers the host sends with every invocation
// (reference §2): a chunked JSON body, the host's User-Agent and version,
// and the invocation id. Shared by Call and the process emulator so that
// both send exactly what the host sends.
func (a *App) SetHeaders(req *http.Request, invocationID string) {
	req.ContentLength = -1 // the host's ObjectContent is sent chunked
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+a.HostVersion)
	req.Header.Set("X-Azure-Functions-HostVersion", a.HostVersion)
	req.Header.Set("X-Azure-Functions-InvocationId", invocationID)
}
