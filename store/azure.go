package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// This file holds the Azure Table plumbing Table builds on: entity
// encoding, transactions with the limits Azurite does not enforce, and
// error classification.

// props are an entity's custom properties: string, bool, int32, int64
// (sent as Edm.Int64) and []byte (Edm.Binary).
type props map[string]any

// marshalEntity encodes an entity, enforcing Azure's property count and
// (approximate) 1 MiB size limit with a clear error.
func marshalEntity(pk, rk string, p props) ([]byte, error) {
	if len(pk) > maxKeyLen || len(rk) > maxKeyLen {
		return nil, inputErr("store: entity key of %d/%d bytes exceeds %d", len(pk), len(rk), maxKeyLen)
	}
	if len(p) > maxProperties {
		return nil, inputErr("store: entity %s/%s has %d properties, Azure allows %d", pk, rk, len(p), maxProperties)
	}
	m := make(map[string]any, 2+2*len(p))
	m["PartitionKey"], m["RowKey"] = pk, rk
	size := 2*(len(pk)+len(rk)) + 4
	for k, v := range p {
		size += 8 + 2*len(k)
		switch v := v.(type) {
		case []byte:
			m[k], m[k+"@odata.type"] = v, "Edm.Binary"
			size += len(v)
		case int64:
			m[k], m[k+"@odata.type"] = strconv.FormatInt(v, 10), "Edm.Int64"
			size += 8
		case string:
			m[k] = v
			size += 2 * len(v)
		default:
			m[k] = v
			size += 8
		}
	}
	if size > 1<<20 {
		return nil, inputErr("store: entity %s/%s is about %d bytes, Azure allows 1 MiB", pk, rk, size)
	}
	return json.Marshal(m)
}

// entity is a decoded row.
type entity struct {
	aztables.EDMEntity
}

func parseEntity(b []byte) (entity, error) {
	var e entity
	if err := json.Unmarshal(b, &e.EDMEntity); err != nil {
		return e, fmt.Errorf("store: decode entity: %w", err)
	}
	return e, nil
}

func (e *entity) str(k string) string {
	s, _ := e.Properties[k].(string)
	return s
}

func (e *entity) i64(k string) int64 {
	switch v := e.Properties[k].(type) {
	case aztables.EDMInt64:
		return int64(v)
	case int32:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func (e *entity) bytes(k string) []byte {
	b, _ := e.Properties[k].(aztables.EDMBinary)
	return b
}

// putParts splits data over binary properties D0, D1 … of at most
// blobPartSize bytes each, and records their count in N.
func putParts(p props, data []byte) error {
	n := (len(data) + blobPartSize - 1) / blobPartSize
	if n > maxBlobParts {
		return inputErr("store: value of %d bytes exceeds the %d-byte entity limit", len(data), MaxBlobSize)
	}
	p["N"] = int32(n)
	for i := range n {
		p["D"+strconv.Itoa(i)] = data[i*blobPartSize : min(len(data), (i+1)*blobPartSize)]
	}
	return nil
}

func (e *entity) parts() ([]byte, error) {
	n := int(e.i64("N"))
	if n < 0 || n > maxBlobParts {
		return nil, fmt.Errorf("store: entity %s has %d parts", e.RowKey, n)
	}
	var buf bytes.Buffer
	for i := range n {
		b, ok := e.Properties["D"+strconv.Itoa(i)].(aztables.EDMBinary)
		if !ok {
			return nil, fmt.Errorf("store: entity %s misses part %d of %d", e.RowKey, i, n)
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// op is one operation of an entity-group transaction.
type op struct {
	pk, rk  string
	typ     aztables.TransactionType
	body    []byte // nil for deletes
	ifMatch *azcore.ETag
	pos     int // index in the caller's list (writeOps)
}

func (o op) action() (aztables.TransactionAction, error) {
	body := o.body
	if body == nil {
		var err error
		if body, err = marshalEntity(o.pk, o.rk, nil); err != nil {
			return aztables.TransactionAction{}, err
		}
	}
	return aztables.TransactionAction{ActionType: o.typ, Entity: body, IfMatch: o.ifMatch}, nil
}

// chunkOps groups operations into transactions: one PartitionKey each (in
// order of first appearance), at most maxBatch operations and about
// maxBatchBytes of body.
func chunkOps(ops []op) [][]op { return chunkOpsN(ops, maxBatch) }

// chunkOpsN is chunkOps with at most room operations per transaction (a
// fenced write keeps space for its fence rows).
func chunkOpsN(ops []op, room int) [][]op {
	var order []string
	byPK := map[string][]op{}
	for _, o := range ops {
		if _, ok := byPK[o.pk]; !ok {
			order = append(order, o.pk)
		}
		byPK[o.pk] = append(byPK[o.pk], o)
	}
	var out [][]op
	for _, pk := range order {
		var cur []op
		size := 0
		for _, o := range byPK[pk] {
			sz := len(o.body)*4/3 + 512
			if len(cur) == room || (len(cur) > 0 && size+sz > maxBatchBytes) {
				out = append(out, cur)
				cur, size = nil, 0
			}
			cur = append(cur, o)
			size += sz
		}
		out = append(out, cur)
	}
	return out
}

// submit runs one entity-group transaction, enforcing what Azure enforces
// and Azurite does not: at most 100 operations, all in one partition.
func submit(ctx context.Context, c *aztables.Client, ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) > maxBatch {
		return inputErr("store: transaction of %d operations exceeds %d", len(ops), maxBatch)
	}
	acts := make([]aztables.TransactionAction, len(ops))
	for i, o := range ops {
		if o.pk != ops[0].pk {
			return inputErr("store: transaction spans partitions %q and %q", ops[0].pk, o.pk)
		}
		a, err := o.action()
		if err != nil {
			return err
		}
		acts[i] = a
	}
	_, err := c.SubmitTransaction(ctx, acts, nil)
	return err
}

var (
	batchStatusRE = regexp.MustCompile(`HTTP/1\.1 (\d{3}) `)
	batchCodeRE   = regexp.MustCompile(`"code"\s*:\s*"([^"]+)"`)
)

// statusOf returns the HTTP status and service error code of a failed call.
// A failed transaction comes back as a 202 whose multipart body holds the
// real status (local-components.md §1.4); that one is returned.
func statusOf(err error) (int, string) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return 0, ""
	}
	if re.StatusCode == http.StatusAccepted && re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil {
			if m := batchStatusRE.FindSubmatch(body); m != nil {
				st, _ := strconv.Atoi(string(m[1]))
				code := ""
				if m := batchCodeRE.FindSubmatch(body); m != nil {
					code = string(m[1])
				}
				return st, code
			}
		}
	}
	return re.StatusCode, re.ErrorCode
}

// wrap classifies err for the Store contract — 412 → ErrConflict, 404 →
// ErrNotFound, 400/413 → ErrRejected, 408/429/5xx and transport failures →
// ErrUnavailable — and
// builds a message that carries no secret: never the raw SDK error text,
// which holds the request URL (a SAS token would be in its query).
func wrap(ctx context.Context, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if err == nil {
		return nil
	}
	var ie *inputError
	if errors.As(err, &ie) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("store: %s: %w", what, err) // classified already (create table …)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("store: %s: %w", what, ctx.Err())
	}
	st, code := statusOf(err)
	if st != 0 {
		var kind error
		switch {
		case st == http.StatusPreconditionFailed:
			kind = ErrConflict
		case st == http.StatusConflict && code == string(aztables.EntityAlreadyExists):
			kind = ErrConflict
		case st == http.StatusNotFound:
			kind = ErrNotFound
		case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
			kind = ErrUnavailable
		case st == http.StatusBadRequest || st == http.StatusRequestEntityTooLarge:
			kind = ErrRejected // the content is refused; it always will be
		}
		if kind == nil {
			return fmt.Errorf("store: %s: HTTP %d %s", what, st, code)
		}
		return fmt.Errorf("store: %s: HTTP %d %s: %w", what, st, code, kind)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		host := ""
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		return fmt.Errorf("store: %s: %s %s: %v: %w", what, ue.Op, host, ue.Err, ErrUnavailable)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) {
		// a per-try timeout of the retry policy (the caller's context is
		// fine) or a broken connection
		return fmt.Errorf("store: %s: %v: %w", what, err, ErrUnavailable)
	}
	// Anything else is a row this package cannot decode or a response the
	// SDK could not parse: not transient, so not ErrUnavailable (the host
	// would retry the batch forever). Such messages carry no URL; guard anyway.
	msg := err.Error()
	if strings.Contains(msg, "://") {
		msg = "request failed"
	}
	return fmt.Errorf("store: %s: %s", what, msg)
}

// odataString quotes s as an OData string literal: single quotes doubled,
// so a value can never end the literal and widen the query.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// inputError is a request this package refuses before sending it (a limit
// of Azure Table): not retryable, not ErrUnavailable.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Unwrap makes a refused request an ErrRejected: sending it again cannot
// succeed.
func (e *inputError) Unwrap() error { return ErrRejected }

func inputErr(format string, args ...any) error {
	return &inputError{fmt.Sprintf(format, args...)}
}
