package store

import (
	"slices"
	"sort"
)

// keyIndex is an ordered index of Memory's row keys (Table's RowKey order):
// its events', and each diagnosis index's.
// Keys mostly arrive in order; those that do not are appended unsorted and
// merged in at the next read, so a read costs the few new keys' sort and a
// linear merge, not a sort of every key the store holds.
type keyIndex struct {
	keys   []string
	sorted int // keys[:sorted] are in order
}

// add appends a key the index does not hold yet.
func (x *keyIndex) add(k string) {
	if x.sorted == len(x.keys) && (x.sorted == 0 || k >= x.keys[x.sorted-1]) {
		x.sorted++
	}
	x.keys = append(x.keys, k)
}

// ordered returns every key in order.
func (x *keyIndex) ordered() []string {
	if x.sorted == len(x.keys) {
		return x.keys
	}
	tail := x.keys[x.sorted:]
	sort.Strings(tail)
	if x.sorted > 0 && tail[0] < x.keys[x.sorted-1] {
		merged := make([]string, 0, len(x.keys))
		head := x.keys[:x.sorted]
		for len(head) > 0 && len(tail) > 0 {
			if tail[0] < head[0] {
				merged, tail = append(merged, tail[0]), tail[1:]
			} else {
				merged, head = append(merged, head[0]), head[1:]
			}
		}
		x.keys = append(append(merged, head...), tail...)
	}
	x.sorted = len(x.keys)
	return x.keys
}

// search returns the position of the first key >= k.
func (x *keyIndex) search(k string) int {
	return sort.SearchStrings(x.ordered(), k)
}

// dropBefore removes the keys < k, calling gone for each.
func (x *keyIndex) dropBefore(k string, gone func(string)) {
	i := x.search(k)
	for _, old := range x.keys[:i] {
		gone(old)
	}
	x.keys = slices.Delete(x.keys, 0, i)
	x.sorted = len(x.keys)
}
