package classify

import "strings"

// sdkFamily is the device SDK a successful deviceConnect's sdkVersion names
// (reference/iothub-telemetry.md §6.5). It matters because SDKs renew SAS
// tokens differently (§6.1): the hub cuts .NET and Java off over MQTT at
// token lifespan plus its enforcement delay (401003 → 404104), while C, Node
// and Python renew before expiry with a clean MQTT DISCONNECT that logs no
// 404104 (§6.4).
type sdkFamily uint8

const (
	sdkUnknown sdkFamily = iota
	sdkDotNet
	sdkJava
	sdkC
	sdkNode
	sdkPython
)

// sdkAMQP marks a connect over AMQP (or AMQP over WebSockets): tokens are
// refreshed inside the connection, so no token cut-off happens (§6.1).
const sdkAMQP = 0x10

var sdkNames = [...]string{"", ".NET", "Java", "C", "Node.js", "Python"}

func (f sdkFamily) String() string {
	if int(f) < len(sdkNames) {
		return sdkNames[f]
	}
	return ""
}

// parseSDK maps a connect record's sdkVersion and protocol to the byte kept
// in the connect's timeline entry: the family in the low nibble, sdkAMQP
// for AMQP. Prefixes follow reference §6.5; the Python prefix is checked
// before Node's because it extends it.
func parseSDK(sdkVersion, protocol string) uint8 {
	s := strings.TrimSpace(sdkVersion)
	var f sdkFamily
	switch {
	case s == "":
	case hasPrefixFold(s, ".net"), hasPrefixFold(s, "microsoft.azure.devices.client"):
		f = sdkDotNet
	case hasPrefixFold(s, "com.microsoft.azure.sdk.iot"), hasPrefixFold(s, "com.microsoft.azure.iothub-java-client"),
		containsFold(s, "iothub-java-client"):
		f = sdkJava
	case hasPrefixFold(s, "azure-iot-device-iothub-py"):
		f = sdkPython
	case hasPrefixFold(s, "azure-iot-device"):
		f = sdkNode
	case hasPrefixFold(s, "iothubclient"), len(s) == 1 && hasPrefixFold(s, "c"), hasPrefixFold(s, "c/"), hasPrefixFold(s, "c +"),
		hasPrefixFold(s, "c+"), hasPrefixFold(s, "c ("):
		f = sdkC
	}
	b := uint8(f)
	if hasPrefixFold(protocol, "amqp") {
		b |= sdkAMQP
	}
	return b
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case, without
// allocating: parseSDK runs on every successful connect on the ingest hot
// path, and lower-casing the whole sdkVersion cost an allocation per event.
// The documented sdkVersion names (reference §6.5) are ASCII; prefix must be
// lower-case ASCII.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// containsFold is strings.Contains ignoring ASCII case, without
// allocating; sub must be lower-case ASCII.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return true
		}
	}
	return false
}

// connSDK is what a connect entry says about the client that made it.
type connSDK uint8

func (c connSDK) family() sdkFamily { return sdkFamily(c &^ sdkAMQP) }
func (c connSDK) amqp() bool        { return c&sdkAMQP != 0 }

// hubCut reports whether IoT Hub itself ends this client's sessions at token
// expiry: .NET and Java over MQTT (reference §6.1, §6.2 "the SDKs that don't
// renew proactively … are then cut by the hub (401003 → 404104)").
func (c connSDK) hubCut() bool {
	f := c.family()
	return (f == sdkDotNet || f == sdkJava) && !c.amqp()
}

// cleanRenew reports whether the client renews its token before expiry with
// a clean disconnect (C, Node, Python over MQTT), so that a renewal never
// shows as a 404104 (reference §6.1, §6.4).
func (c connSDK) cleanRenew() bool {
	f := c.family()
	return f == sdkC || f == sdkNode || f == sdkPython
}

// Hub-cut SDK window (reference/iothub-telemetry.md §6.1, §6.2, §9): a
// default .NET or Java token lives 60 minutes, and the hub enforces its
// expiry on an open MQTT connection "within 5–10 minutes after the sas
// token actually expires" (a Java SDK maintainer; the docs say "lifespan
// plus a 10-minute grace period", and a user log shows 65 min). That delay
// is the hub's own tolerance of clock skew (a .NET SDK maintainer), so a
// healthy device is cut 65–70 min after its connect, as the hub's clock
// counts. The window widens that by hubCutSkew below, for a device clock a
// little behind the hub's (its token's expiry is written on its clock), and
// by hubCutSlack above, for second-precision records and the hub's sweep.
//
// It used to start at 59 min — the token's lifespan with no enforcement
// delay at all, which the reference contradicts — and so claimed as token
// expiries network drops 59–63 min into a session. A device whose clock is
// further off shows its own period with its first 401003, and reviseEarlier
// then revises the earlier verdicts that period explains; the prior is only
// the typical case while nothing better is known.
const (
	hubCutLifespan = 60 * 60 // default SAS token TTL of .NET and Java (§6.1)
	hubCutDelayMin = 5 * 60  // the hub's enforcement delay after expiry (§6.2)
	hubCutDelayMax = 10 * 60
	hubCutSkew     = 2 * 60 // device clock behind the hub's
	hubCutSlack    = 2 * 60 // second-precision records, the hub's sweep

	// HubCutMin and HubCutMax bound, in seconds, the session age at which
	// the hub cuts a default .NET or Java token: the window the SDK prior
	// uses here and package suspect's token-wave rule uses for Event Grid
	// sessions.
	HubCutMin = hubCutLifespan + hubCutDelayMin - hubCutSkew  // 63 min
	HubCutMax = hubCutLifespan + hubCutDelayMax + hubCutSlack // 72 min
)

// sdkAt returns what the device's connect records say about its client for
// a disconnect at t: the connect that opened the session (the newest
// successful connect before t) or, failing that, the reconnect after it.
func (d *device) sdkAt(t int64) connSDK {
	if c := d.lastConnectBefore(t); c >= 0 && d.entries[c].class != 0 {
		return connSDK(d.entries[c].class)
	}
	for i := lowerBound(d.entries, t); i < len(d.entries); i++ {
		if x := &d.entries[i]; x.isSuccessConnect() && x.class != 0 {
			return connSDK(x.class)
		}
	}
	return 0
}
