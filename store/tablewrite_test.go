package store

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// batchResponse is a transaction response as Azure sends it: a changeset
// with one HTTP response per operation, in order.
const batchResponse = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
	"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"HTTP/1.1 204 No Content\r\nContent-ID: 1\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n" +
	"DataServiceVersion: 1.0;\r\nETag: W/\"datetime'2026-12-06T07%3A00%3A00.1Z'\"\r\n\r\n\r\n" +
	"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"HTTP/1.1 204 No Content\r\nContent-ID: 2\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n" +
	"DataServiceVersion: 1.0;\r\n\r\n\r\n" +
	"--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"HTTP/1.1 204 No Content\r\nContent-ID: 3\r\netag: W/\"datetime'2026-12-06T07%3A00%3A00.2Z'\"\r\n\r\n\r\n" +
	"--changesetresponse_2--\r\n--batchresponse_1--\r\n"

func response(body string) *http.Response {
	return &http.Response{Body: io.NopCloser(strings.NewReader(body))}
}

func TestBatchETags(t *testing.T) {
	for _, c := range []struct {
		name string
		body string
		n    int
		want []string
		err  bool
	}{
		{"put, delete, put", batchResponse, 3,
			[]string{`W/"datetime'2026-12-06T07%3A00%3A00.1Z'"`, "", `W/"datetime'2026-12-06T07%3A00%3A00.2Z'"`}, false},
		{"fewer parts than operations", batchResponse, 4, nil, true},
		{"more parts than operations", batchResponse, 2, nil, true},
		{"empty", "", 1, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := batchETags(response(c.body), c.n)
			if (err != nil) != c.err || !slices.Equal(got, c.want) {
				t.Fatalf("batchETags = %q, %v; want %q (error %v)", got, err, c.want, c.err)
			}
		})
	}
	if _, err := batchETags(nil, 1); err == nil {
		t.Error("batchETags(nil response) gave no error")
	}
}

// FuzzBatchETags: any response body gives tags for every operation or an
// error, never a panic.
func FuzzBatchETags(f *testing.F) {
	f.Add([]byte(batchResponse), 3)
	f.Add([]byte("HTTP/1.1 204\r\nETag:\r\n"), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 200 {
			return
		}
		tags, err := batchETags(&http.Response{Body: io.NopCloser(bytes.NewReader(body))}, n)
		if err == nil && len(tags) != n {
			t.Fatalf("%d tags for %d operations", len(tags), n)
		}
	})
}
