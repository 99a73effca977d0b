package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

func TestChunkOps(t *testing.T) {
	mk := func(pk string, n, size int) []op {
		ops := make([]op, n)
		for i := range ops {
			ops[i] = op{pk: pk, rk: strings.Repeat("r", i+1), typ: aztables.TransactionTypeInsertReplace, body: make([]byte, size)}
		}
		return ops
	}
	cases := []struct {
		name  string
		ops   []op
		sizes []int
	}{
		{"empty", nil, nil},
		{"one", mk("a", 1, 10), []int{1}},
		{"exactly 100", mk("a", 100, 10), []int{100}},
		{"101", mk("a", 101, 10), []int{100, 1}},
		{"250", mk("a", 250, 10), []int{100, 100, 50}},
		{"two partitions", append(mk("a", 3, 10), mk("b", 2, 10)...), []int{3, 2}},
		{"interleaved partitions", append(append(mk("a", 2, 10), mk("b", 2, 10)...), mk("a", 1, 10)...), []int{3, 2}},
		{"by size: 2 MiB of base64 per transaction", mk("a", 5, 600_000), []int{2, 2, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chunks := chunkOps(c.ops)
			var sizes []int
			for _, ch := range chunks {
				sizes = append(sizes, len(ch))
				for _, o := range ch {
					if o.pk != ch[0].pk {
						t.Fatalf("chunk mixes partitions %q and %q", ch[0].pk, o.pk)
					}
				}
			}
			if len(sizes) != len(c.sizes) {
				t.Fatalf("chunk sizes %v, want %v", sizes, c.sizes)
			}
			for i := range sizes {
				if sizes[i] != c.sizes[i] {
					t.Fatalf("chunk sizes %v, want %v", sizes, c.sizes)
				}
			}
		})
	}
}

// TestSubmitLimits: what Azurite accepts but Azure refuses is refused here,
// before any request (the client is never used).
func TestSubmitLimits(t *testing.T) {
	ops := make([]op, 101)
	for i := range ops {
		ops[i] = op{pk: "a", rk: strings.Repeat("r", i+1), typ: aztables.TransactionTypeDelete}
	}
	for name, c := range map[string][]op{
		"101 operations": ops,
		"two partitions": {{pk: "a", rk: "1", typ: aztables.TransactionTypeDelete}, {pk: "b", rk: "1", typ: aztables.TransactionTypeDelete}},
		"key too long":   {{pk: "a", rk: strings.Repeat("k", 1025), typ: aztables.TransactionTypeDelete}},
	} {
		err := submit(t.Context(), nil, c)
		var ie *inputError
		if err == nil || !errors.As(err, &ie) {
			t.Errorf("%s: submit = %v, want an input error", name, err)
		}
	}
}

func TestMarshalEntityLimits(t *testing.T) {
	many := props{}
	for i := range 253 {
		many["P"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = int32(i)
	}
	huge := props{}
	for i := range 20 {
		huge["S"+string(rune('a'+i))] = strings.Repeat("x", 30000)
	}
	for name, p := range map[string]props{"253 properties": many, "1.2 MB of strings": huge} {
		if _, err := marshalEntity("p", "r", p); err == nil {
			t.Errorf("%s: marshalEntity accepted it", name)
		}
	}
	if _, err := marshalEntity("p", "r", props{"A": "ok", "B": int64(1 << 60), "C": []byte("x"), "D": true}); err != nil {
		t.Errorf("a small entity: %v", err)
	}
}

func TestValidPrefix(t *testing.T) {
	for p, ok := range map[string]bool{"dcdoctor": true, "a": true, "A1b2": true, "": false, "1abc": false, "dc-doctor": false,
		"dc_doctor": false, strings.Repeat("a", 52): true, strings.Repeat("a", 53): false, "ünï": false} {
		if err := ValidPrefix(p); (err == nil) != ok {
			t.Errorf("ValidPrefix(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}
