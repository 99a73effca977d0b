// Command fakehandler is a minimal custom handler for testing the funchost
// emulator itself: its behaviour is steered by app settings so that tests
// can provoke each host rule (failures and retries, a hang, an empty body,
// a wrong content type) on a real process.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	failTimes, _ := strconv.Atoi(os.Getenv("FAKE_FAIL_TIMES"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	})
	mux.HandleFunc("POST /{fn}", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Data     map[string]json.RawMessage
			Metadata map[string]json.RawMessage
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var rc struct{ RetryCount int }
		_ = json.Unmarshal(req.Metadata["RetryContext"], &rc)
		fmt.Printf("invoked %s retry=%d id=%s\n", r.PathValue("fn"), rc.RetryCount, r.Header.Get("X-Azure-Functions-InvocationId"))
		if d, err := time.ParseDuration(os.Getenv("FAKE_SLEEP")); err == nil {
			time.Sleep(d) // a slow invocation
		}
		switch os.Getenv("FAKE_MODE") {
		case "hang":
			time.Sleep(time.Hour)
		case "empty":
			w.Header().Set("Content-Type", "application/json")
			return
		case "text":
			w.Write([]byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`))
			return
		}
		if rc.RetryCount < failTimes {
			fmt.Fprintln(os.Stderr, "failing on purpose")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"Outputs":{},"Logs":["lost"],"ReturnValue":null}`))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		out, _ := json.Marshal(map[string]any{
			"outputs":     map[string]any{"res": map[string]any{"statusCode": 201, "body": `{"ok":true}`, "headers": map[string]string{"Content-Type": "application/json"}}},
			"logs":        []string{fmt.Sprintf("retry=%d", rc.RetryCount)},
			"returnValue": nil,
		})
		w.Write(out)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
