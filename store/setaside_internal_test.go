package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// TestAppendSetAsideAzurite: when the table service refuses one entity of
// a transaction (Azurite, like Azure, answers the whole transaction with
// HTTP 400 naming the operation), that operation is set aside with the
// reason and every other one is stored — in a transaction of 3 and across
// the chunks of 250 operations — instead of the append failing as a whole.
func TestAppendSetAsideAzurite(t *testing.T) {
	tb := azuriteTable(t)
	mk := func(n int, bad ...int) []op {
		ops := make([]op, n)
		for i := range ops {
			v := fmt.Sprintf("value %d", i)
			for _, b := range bad {
				if b == i {
					v = strings.Repeat("x", 40_000) // over the service's string property limit
				}
			}
			rk := fmt.Sprintf("r%04d", i)
			body, err := marshalEntity("p", rk, props{"V": v})
			if err != nil {
				t.Fatal(err)
			}
			ops[i] = op{pk: "p", rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body}
		}
		return ops
	}
	for _, c := range []struct {
		name  string
		table string
		n     int
		bad   []int
	}{
		{"one refused of three", "aside3", 3, []int{1}},
		{"two refused across chunks of 250", "aside250", 250, []int{5, 180}},
	} {
		t.Run(c.name, func(t *testing.T) {
			aside, err := tb.appendSetAside(t.Context(), c.table, mk(c.n, c.bad...))
			if err != nil {
				t.Fatalf("appendSetAside: %v", err)
			}
			if len(aside) != len(c.bad) {
				t.Fatalf("set aside %v, want %v", aside, c.bad)
			}
			for _, b := range c.bad {
				t.Logf("op %d set aside: %s", b, aside[b])
				if !strings.Contains(aside[b], "HTTP 400") {
					t.Errorf("op %d: reason %q", b, aside[b])
				}
			}
			n := 0
			err = tb.query(t.Context(), c.table, "PartitionKey eq 'p'", "RowKey", 0, func(ents []entity) (bool, error) {
				n += len(ents)
				return true, nil
			})
			if err != nil || n != c.n-len(c.bad) {
				t.Errorf("%d entities stored, want %d (%v)", n, c.n-len(c.bad), err)
			}
		})
	}
}
