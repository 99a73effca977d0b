package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// connEnv names the environment variable holding an Event Hubs connection
// string for `simulate --eventhub`. A variable, not a flag: a flag would
// leave the key in shell history and process listings.
const connEnv = "SIMULATE_EVENTHUB_CONNECTION"

// simFlags are the fleet options shared by run and simulate.
type simFlags struct {
	seed      int64
	devices   int
	hours     float64
	incidents int
	hub       string
	// shape overrides the simulator's fleet shares (-1: its default), to
	// try the product on fleets unlike the default one.
	unauthorized, flaky, customTTL, loss float64
	tokenPerConnect, cutDelayPerCut      bool
}

func (f *simFlags) register(fs *flag.FlagSet, devices int, hours float64) {
	fs.Int64Var(&f.seed, "seed", 1, "simulation seed (same seed, same fleet)")
	fs.IntVar(&f.devices, "devices", devices, "number of devices")
	fs.Float64Var(&f.hours, "hours", hours, "simulated hours")
	fs.IntVar(&f.incidents, "incidents", 1, "hub incidents to inject")
	fs.StringVar(&f.hub, "hub", "", "hub name (default: the simulator's)")
	fs.Float64Var(&f.unauthorized, "unauthorized-share", -1, "share of token cut-offs the hub logs a 401003 for (default: the simulator's, 0.8)")
	fs.Float64Var(&f.flaky, "flaky-share", -1, "share of devices on an unreliable network (default: the simulator's, 0.06)")
	fs.Float64Var(&f.loss, "loss-rate", -1, "share of resource-log records never delivered (default: the simulator's, 0.005)")
	fs.BoolVar(&f.tokenPerConnect, "token-per-connect", false, "every SDK signs a new token on every connect, restarting its token clock (default: only C does; the others reuse a still-valid token after a network drop)")
	fs.BoolVar(&f.cutDelayPerCut, "cut-delay-per-cut", false, "the hub cuts an expired token 5-10 min late, drawn afresh for every cut-off (default: once per device)")
	fs.Float64Var(&f.customTTL, "custom-ttl-share", -1, "share of .NET/Java devices with a 20 min, 3 h or 24 h token (default: the simulator's, 0.08)")
}

// config turns the flags into a simulator configuration starting at start.
func (f *simFlags) config(start time.Time) (sim.Config, error) {
	if f.devices < 1 || f.hours <= 0 || f.incidents < 0 {
		return sim.Config{}, errors.New("--devices, --hours must be positive and --incidents not negative")
	}
	c := sim.DefaultConfig(f.seed)
	c.Devices = f.devices
	c.Duration = time.Duration(f.hours * float64(time.Hour))
	c.Incidents = f.incidents
	if f.hub != "" {
		c.Hub = f.hub
	}
	for _, o := range []struct {
		v   float64
		dst *float64
	}{{f.unauthorized, &c.UnauthorizedShare}, {f.flaky, &c.FlakyShare}, {f.customTTL, &c.CustomTTLShare}, {f.loss, &c.LossRate}} {
		if o.v > 1 {
			return sim.Config{}, errors.New("--unauthorized-share, --flaky-share, --custom-ttl-share and --loss-rate are shares in [0, 1]")
		}
		if o.v >= 0 {
			*o.dst = o.v
		}
	}
	c.TokenPerConnect, c.CutDelayPerCut = f.tokenPerConnect, f.cutDelayPerCut
	if !start.IsZero() {
		c.Start = start
	}
	return c, nil
}

// simulate writes a simulated fleet's bodies to files, or sends them to an
// Event Hub so a deployed app can be tested end to end.
func simulate(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	var f simFlags
	f.register(fs, 300, 2)
	out := fs.String("out", "", "write the bodies under this folder (eventhub/, eventgrid/, diagnostics/)")
	toHub := fs.Bool("eventhub", false, "send the diagnostic bodies to an Event Hub")
	ns := fs.String("namespace", "", "Event Hubs namespace host (<ns>.servicebus.windows.net), with your Azure login or managed identity; or set "+connEnv)
	name := fs.String("name", "insights-logs-connections", "Event Hub name")
	noWait := fs.Bool("no-wait", false, "send everything at once instead of in real time (use with WATERMARK=eventtime)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*out == "") == !*toHub {
		return errors.New("simulate: give exactly one of --out DIR or --eventhub")
	}
	start := time.Time{}
	if *toHub {
		// Records must be recent for the deployed app (wallclock watermark,
		// STALE_AFTER): the fleet starts now and is sent as it happens.
		start = time.Now().UTC().Truncate(time.Second)
	}
	cfg, err := f.config(start)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	fleet := sim.Generate(cfg)
	if *out != "" {
		if err := sim.WriteFiles(*out, fleet); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		fmt.Fprintf(w, "wrote %d diagnostic bodies, %d Event Grid deliveries, %d metric alerts under %s (hub %s, %d disconnects 404104)\n",
			len(fleet.Diagnostics), len(fleet.EventGrid), len(fleet.MetricAlerts), *out, cfg.Hub, len(fleet.Truth))
		return nil
	}
	prod, err := newProducer(*ns, *name)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	defer prod.Close(context.Background())
	pace := realTime()
	if *noWait {
		pace = nil
	}
	st, err := sendAll(ctx, &sdkBatcher{p: prod}, fleet.Diagnostics, pace)
	fmt.Fprintf(w, "sent %d bodies in %d batches to %s (hub %s)\n", st.bodies, st.batches, *name, cfg.Hub)
	return err
}

// newProducer connects with the connection string in connEnv, or with
// azidentity (az login locally, managed identity in Azure) to the namespace.
func newProducer(namespace, name string) (*azeventhubs.ProducerClient, error) {
	if cs := os.Getenv(connEnv); cs != "" {
		p, err := azeventhubs.NewProducerClientFromConnectionString(cs, name, nil)
		if err != nil {
			// The SDK's parse errors may quote the string: say only where it came from.
			return nil, fmt.Errorf("event hubs connection string in %s is not valid", connEnv)
		}
		return p, nil
	}
	if namespace == "" {
		return nil, fmt.Errorf("--eventhub needs --namespace or %s", connEnv)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	return azeventhubs.NewProducerClient(namespace, name, cred, nil)
}

// batcher is the Event Hubs boundary: everything up to it (turning a fleet
// into bodies, sizing and splitting batches, pacing) is tested offline; the
// SDK's batch cannot even be created without a live hub (it asks the hub
// for its size limit).
type batcher interface {
	NewBatch(ctx context.Context) (batch, error)
	Send(ctx context.Context, b batch) error
}

// batch collects bodies; Add returns azeventhubs.ErrEventDataTooLarge when
// the body does not fit.
type batch interface {
	Add(body []byte) error
	Len() int
}

type sendStats struct{ bodies, batches int }

// pacer makes sending follow the simulated enqueue times (real time): a body
// goes out when its time comes. Clock and sleep are fields so tests run it
// on a fake clock.
type pacer struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func realTime() *pacer {
	return &pacer{now: time.Now, sleep: func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}}
}

// sendAll sends msgs in order, in as few batches as the hub's size limit
// allows. With a pacer, the batch so far is sent before waiting for the next
// body's time, so that nothing is held back.
func sendAll(ctx context.Context, bt batcher, msgs []sim.Message, p *pacer) (sendStats, error) {
	var st sendStats
	var cur batch
	flush := func() error {
		if cur == nil || cur.Len() == 0 {
			return nil
		}
		if err := bt.Send(ctx, cur); err != nil {
			return fmt.Errorf("send batch %d: %w", st.batches+1, err)
		}
		st.batches++
		cur = nil
		return nil
	}
	for i, m := range msgs {
		if p != nil {
			if d := m.Enqueued.Sub(p.now()); d > 0 {
				if err := flush(); err != nil {
					return st, err
				}
				if err := p.sleep(ctx, d); err != nil {
					return st, err
				}
			}
		}
		if cur == nil {
			b, err := bt.NewBatch(ctx)
			if err != nil {
				return st, fmt.Errorf("new batch: %w", err)
			}
			cur = b
		}
		err := cur.Add(m.Body)
		if errors.Is(err, azeventhubs.ErrEventDataTooLarge) && cur.Len() > 0 {
			// The batch is full: send it and put the body in a new one.
			if err = flush(); err != nil {
				return st, err
			}
			if cur, err = bt.NewBatch(ctx); err != nil {
				return st, fmt.Errorf("new batch: %w", err)
			}
			err = cur.Add(m.Body)
		}
		if err != nil {
			return st, fmt.Errorf("body %d (%d bytes): %w", i, len(m.Body), err)
		}
		st.bodies++
	}
	return st, flush()
}

// sdkBatcher adapts the SDK's producer to batcher.
type sdkBatcher struct{ p *azeventhubs.ProducerClient }

type sdkBatch struct{ b *azeventhubs.EventDataBatch }

func (s *sdkBatcher) NewBatch(ctx context.Context) (batch, error) {
	b, err := s.p.NewEventDataBatch(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sdkBatch{b}, nil
}

func (s *sdkBatcher) Send(ctx context.Context, b batch) error {
	return s.p.SendEventDataBatch(ctx, b.(sdkBatch).b, nil)
}

func (b sdkBatch) Add(body []byte) error {
	return b.b.AddEventData(&azeventhubs.EventData{Body: body, ContentType: ptr("application/json")}, nil)
}

func (b sdkBatch) Len() int { return int(b.b.NumEvents()) }

func ptr[T any](v T) *T { return &v }
