package suspect

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A hub's blob: the version, the length of its header (the Hub's own
// fields as JSON, a few hundred bytes: the minute counts, the suspicion),
// the header, then one recordSize record per tracked device, sorted by key
// so that the same state encodes to the same bytes. Its size follows from
// the number of devices alone, whatever the length of their IDs (up to 128
// characters) or of their networks: MaxTracked is capped at maxTrackedFit,
// so that a hub's blob stays under issue 9's 64 KiB bound.
const (
	// hubVersion 3 is this binary form; version 2 had no previous session
	// age (records of recordSizeV2 bytes, still read), version 1 was JSON
	// throughout (blobs beginning with '{', still read).
	hubVersion = 3
	// recordSize: key hash 8, network code 4, connect, disconnect, session
	// age and previous session age 4 each (Unix seconds: until 2106).
	recordSize   = 8 + 4 + 4 + 4 + 4 + 4
	recordSizeV2 = recordSize - 4
	// blobBound is issue 9's bound on a state blob; headerRoom what is
	// left for the header (under 1 KiB for a 256-character hub name).
	blobBound  = 64 << 10
	headerRoom = 4 << 10
	// maxTrackedFit is the most devices a hub's blob holds within blobBound.
	maxTrackedFit = (blobBound - headerRoom - 1 - binary.MaxVarintLen64) / recordSize
)

var errDamaged = errors.New("damaged blob")

// encodeHub writes h in the form above.
func encodeHub(h *Hub) ([]byte, error) {
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(h.Devs))
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(head)+len(keys)*recordSize)
	b = append(b, hubVersion)
	b = binary.AppendUvarint(b, uint64(len(head)))
	b = append(b, head...)
	for _, k := range keys {
		d := h.Devs[k]
		b = binary.BigEndian.AppendUint64(b, k)
		b = binary.BigEndian.AppendUint32(b, d.Net)
		b = binary.BigEndian.AppendUint32(b, seconds(d.Conn))
		b = binary.BigEndian.AppendUint32(b, seconds(d.Disc))
		b = binary.BigEndian.AppendUint32(b, seconds(d.Age))
		b = binary.BigEndian.AppendUint32(b, seconds(d.Prev))
	}
	return b, nil
}

// seconds fits a Unix time or a duration in seconds into 32 bits.
func seconds(v int64) uint32 { return uint32(min(max(v, 0), math.MaxUint32)) }

// decodeHub reads encodeHub's form, or a version 2 or 1 (JSON) blob.
func decodeHub(data []byte) (*Hub, error) {
	if len(data) > 0 && data[0] == '{' {
		return decodeHubV1(data)
	}
	size := recordSize
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%w: empty", errDamaged)
	case data[0] == 2:
		size = recordSizeV2
	case data[0] != hubVersion:
		return nil, fmt.Errorf("%w: unknown version", errDamaged)
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n > uint64(len(data)-1-k) {
		return nil, fmt.Errorf("%w: header length", errDamaged)
	}
	head, recs := data[1+k:1+k+int(n)], data[1+k+int(n):]
	var h Hub
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, err
	}
	if len(recs)%size != 0 {
		return nil, fmt.Errorf("%w: %d bytes of devices", errDamaged, len(recs))
	}
	h.Devs = make(map[uint64]*Device, len(recs)/size)
	for ; len(recs) > 0; recs = recs[size:] {
		d := &Device{Net: binary.BigEndian.Uint32(recs[8:]),
			Conn: int64(binary.BigEndian.Uint32(recs[12:])), Disc: int64(binary.BigEndian.Uint32(recs[16:])),
			Age: int64(binary.BigEndian.Uint32(recs[20:]))}
		if size == recordSize {
			d.Prev = int64(binary.BigEndian.Uint32(recs[24:]))
		}
		h.Devs[binary.BigEndian.Uint64(recs)] = d
	}
	return &h, nil
}

// decodeHubV1 reads the JSON form of version 1: devices by their IDs, and
// networks by name.
func decodeHubV1(data []byte) (*Hub, error) {
	var h Hub
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, err
	}
	var v1 struct {
		Devs map[string]struct {
			Net  string `json:"n"`
			Conn int64  `json:"c"`
			Disc int64  `json:"d"`
			Age  int64  `json:"a"`
		} `json:"devs"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	h.Devs = make(map[uint64]*Device, len(v1.Devs))
	for key, d := range v1.Devs {
		if k := keyHash(key); h.sampled(k) {
			h.Devs[k] = &Device{Net: netCode(d.Net), Conn: d.Conn, Disc: d.Disc, Age: d.Age}
		}
	}
	return &h, nil
}

// netCode is a network location (event.Network) in 4 bytes: an IPv4 /24
// "a.b.c" exactly (tag 0x01 in the top byte), anything else (an IPv6
// prefix) by a 31-bit hash with the top bit set; 0 is unknown. Two IPv6
// networks of one fleet colliding (odds ~n²/2^32) would count as one in
// the spread check.
func netCode(name string) uint32 {
	if name == "" {
		return 0
	}
	if p := strings.Split(name, "."); len(p) == 3 {
		code, ok := uint32(1)<<24, true
		for i, s := range p {
			v, err := strconv.ParseUint(s, 10, 8)
			ok = ok && err == nil && strconv.FormatUint(v, 10) == s
			code |= uint32(v) << (16 - 8*i)
		}
		if ok {
			return code
		}
	}
	f := fnv.New32a()
	f.Write([]byte(name))
	return 1<<31 | f.Sum32()&(1<<31-1)
}

// netText names a network code in evidence: "81.204.17.x" for an IPv4 /24,
// "network #…" for a hashed one.
func netText(code uint32) string {
	if code>>24 == 1 {
		return fmt.Sprintf("%d.%d.%d.x", code>>16&0xff, code>>8&0xff, code&0xff)
	}
	return fmt.Sprintf("network #%08x", code)
}
