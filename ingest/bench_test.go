package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// benchBody is one Event Hubs event body as a diagnostic setting sends it:
// 20 Connections records (connects and 404104 disconnects, properties as a
// JSON string) of 20 devices.
func benchBody() []byte {
	recs := make([]map[string]any, 0, 20)
	for i := range 20 {
		if i%2 == 0 {
			recs = append(recs, rec("operationName", "deviceConnect", "level", "Information", "resultType", nil, "resultDescription", nil,
				"properties", props("deviceId", fmt.Sprintf("pump-%04d", i), "sdkVersion", ".NET/1.42.3 (.NET 6.0.25; Linux 5.15.0-1051-azure #59-Ubuntu; X64)",
					"authType", `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`, "statusCode", nil, "errorMessage", "")))
		} else {
			recs = append(recs, rec("properties", props("deviceId", fmt.Sprintf("pump-%04d", i), "statusCode", "404",
				"errorMessage", "Device disconnected, see cause and resolution at https://aka.ms/iothub404104")))
		}
	}
	return []byte(body(recs...))
}

// BenchmarkResourceLogs measures ResourceLogs on a 20-record body (records/s)
// next to a plain encoding/json decode of the same bytes into maps, the
// baseline a naive parser would start from (which does not even decode the
// properties string or build events).
func BenchmarkResourceLogs(b *testing.B) {
	data := benchBody()
	b.Run("ingest", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		res := &Result{}
		for b.Loop() {
			res.Events = res.Events[:0]
			ResourceLogs(data, res)
		}
		if len(res.Events) != 20 {
			b.Fatalf("kept %d of 20", len(res.Events))
		}
		b.ReportMetric(float64(20*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("encoding_json_map", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var v struct{ Records []map[string]any }
			if err := json.Unmarshal(data, &v); err != nil || len(v.Records) != 20 {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(20*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkResourceLogStream measures the replay reader on 100 bodies one
// after another, compact (JSON lines) and pretty-printed, against parsing
// the same bodies one by one with ResourceLogs (the floor: what the stream
// reader adds is finding where each value ends).
func BenchmarkResourceLogStream(b *testing.B) {
	one := benchBody()
	var compact, pretty bytes.Buffer
	for range 100 {
		compact.Write(one)
		compact.WriteByte('\n')
		_ = json.Indent(&pretty, one, "", "    ")
		pretty.WriteByte('\n')
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"json_lines", compact.Bytes()}, {"pretty", pretty.Bytes()}} {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.data)))
			res := &Result{}
			for b.Loop() {
				res.Events = res.Events[:0]
				if err := ResourceLogStream(bytes.NewReader(in.data), "bench.json", res); err != nil {
					b.Fatal(err)
				}
			}
			if len(res.Events) != 2000 {
				b.Fatalf("kept %d of 2000", len(res.Events))
			}
			b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("bodies_one_by_one", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(compact.Len()))
		res := &Result{}
		for b.Loop() {
			res.Events = res.Events[:0]
			for range 100 {
				ResourceLogs(one, res)
			}
		}
		b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
