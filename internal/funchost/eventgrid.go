package funchost

import "encoding/json"

// SplitEventGrid returns the events of one Event Grid delivery: the host
// invokes an Event Grid function once per event of an array (reference
// §2.4). A single object, or a body that is not an array, stays whole.
func SplitEventGrid(b []byte) [][]byte {
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		return [][]byte{b}
	}
	out := make([][]byte, len(arr))
	for i, e := range arr {
		out[i] = e
	}
	return out
}
