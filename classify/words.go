package classify

import (
	"fmt"
	"math"

	"github.com/disconnect-doctor/disconnect-doctor/internal/timetext"
)

func clamp01(x float64) float64 {
	return math.Max(0.05, math.Min(0.99, x))
}

// recommendation is the operator's next step for a verdict (PRODUCT.md §1).
func recommendation(c causeCode, class msgClass, back bool) string {
	switch c {
	case ccTokenExpiry:
		return "No action needed: the device's SAS token expired and its SDK renewed it and reconnected, which is expected. " +
			"If the volume of these disconnects matters, use a longer token lifetime, an SDK that renews before expiry, or AMQP, which refreshes tokens in the connection."
	case ccRenewalFailed:
		switch class {
		case mcClockDrift:
			return "The device's clock is more than 5 minutes off, so IoT Hub refuses every token it makes: synchronize its clock (NTP) and let it reconnect."
		case mcX509:
			return "The device's X.509 credential is refused: check that its certificate is valid and that the thumbprint or CA registered in IoT Hub matches it."
		case mcDeviceGone:
			return "IoT Hub no longer accepts this identity (the device was deleted or disabled): re-enable or re-register it, or retire the client that keeps trying."
		case mcNotAllowed:
			return "The credential the device presents is not allowed to connect as it: check the shared access policy or identity it uses."
		}
		return "The device cannot renew its SAS token: check how it generates tokens (key, resource URI, expiry), its connection string, that its SDK renews tokens, and its clock."
	case ccDuplicateIdentity:
		return "Two clients are using the same device identity and knock each other off: give each client its own device or module identity."
	case ccHubTransient:
		return "Nothing to fix on the device: this was a transient IoT Hub problem. Devices should retry with backoff; check Azure Resource Health and Azure Status, and consider a manual failover if it persists."
	case ccDeviceOrNetwork:
		r := "Device or network side: test the device's connectivity, check its MQTT keep-alive settings and update it to the latest SDK."
		if !back {
			r += " It did not come straight back: it may have crashed or lost power."
		}
		return r
	}
	return ""
}

func classWords(c msgClass) string {
	switch c {
	case mcNone, mcGeneric:
		return ""
	}
	return " (" + c.String() + ")"
}

// clock renders an event time as the operator reads it: "15:04:05 UTC" on
// ref's date, else with the date as well (ref 0: always dated), through the
// one formatter every message uses (internal/timetext).
func clock(t, ref int64) string { return timetext.Unix(t, ref) }

// relWords says how far a record is from the disconnect: "3s before",
// "0s before", "2s after".
func relWords(delta int64) string {
	if delta > 0 {
		return durWords(delta) + " after"
	}
	return durWords(-delta) + " before"
}

// durWords renders seconds compactly: 17s, 65m02s, 3h, 24h05m.
func durWords(s int64) string {
	if s < 0 {
		s = -s
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 7200: // minutes read better than hours up to two hours (65m02s)
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		h, m := s/3600, (s%3600)/60
		if m == 0 && s%60 == 0 {
			return fmt.Sprintf("%dh", h)
		}
		if s%60 == 0 {
			return fmt.Sprintf("%dh%02dm", h, m)
		}
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s%60)
	}
}
