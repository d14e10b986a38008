//! Typed identifiers, as omicron's `omicron_uuid_kinds` gives every kind of
//! id its own type. Ids are 64-bit values drawn from a host's seeded RNG, so
//! the same seed names the same objects and snapshots need no redactions.
//! They print as eight hex digits: short enough to read in a trace.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:08x}"), self.0 & 0xffff_ffff)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

typed_id!(
    /// An instance (`InstanceUuid`).
    InstanceId, "i-"
);
typed_id!(
    /// A VMM, named by its Propolis id (`PropolisUuid`).
    VmmId, "v-"
);
typed_id!(
    /// A saga (`steno::SagaId`).
    SagaId, "s-"
);
typed_id!(
    /// The id an update saga takes the instance-updater lock with.
    LockId, "l-"
);
typed_id!(
    /// An external API request, as omicron's request-id header names it.
    ReqId, "r-"
);

/// A sled, by its index in the rack (`sled-0`, `sled-1`, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct SledId(pub u8);

impl fmt::Display for SledId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sled-{}", self.0)
    }
}

/// A Nexus, by its index (`nexus-0`, ...). It is also the saga executor id
/// (`current_sec`) that owns the sagas this Nexus starts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub struct NexusId(pub u8);

impl fmt::Display for NexusId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nexus-{}", self.0)
    }
}

/// Every simulated host. Turmoil addresses hosts by these names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
pub enum HostId {
    /// The CockroachDB stand-in.
    Db,
    /// The management gateway stand-in (sled power state).
    Mgs,
    Nexus(NexusId),
    Sled(SledId),
    /// The API user and the operator's test hooks (omicron's sim sled-agent
    /// endpoints); owned by the harness.
    Workload,
}

impl HostId {
    /// The turmoil host name.
    pub fn name(self) -> String {
        self.to_string()
    }

    /// Parses a host name as written in traces and scenario files.
    pub fn parse(s: &str) -> Option<HostId> {
        match s {
            "db" => Some(HostId::Db),
            "mgs" => Some(HostId::Mgs),
            "workload" => Some(HostId::Workload),
            _ => {
                if let Some(n) = s.strip_prefix("nexus-") {
                    n.parse().ok().map(|n| HostId::Nexus(NexusId(n)))
                } else if let Some(n) = s.strip_prefix("sled-") {
                    n.parse().ok().map(|n| HostId::Sled(SledId(n)))
                } else {
                    None
                }
            }
        }
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostId::Db => f.write_str("db"),
            HostId::Mgs => f.write_str("mgs"),
            HostId::Nexus(n) => n.fmt(f),
            HostId::Sled(s) => s.fmt(f),
            HostId::Workload => f.write_str("workload"),
        }
    }
}

/// Virtual time in milliseconds since the simulation began. Timestamps such
/// as `time_last_auto_restarted` use it, never the wall clock.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug, Default,
)]
pub struct Millis(pub u64);

impl Millis {
    pub fn from_secs(s: u64) -> Millis {
        Millis(s * 1000)
    }
    pub fn saturating_sub(self, other: Millis) -> Millis {
        Millis(self.0.saturating_sub(other.0))
    }
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl std::ops::Add for Millis {
    type Output = Millis;
    fn add(self, o: Millis) -> Millis {
        Millis(self.0 + o.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of host, as turmoil, traces and scenario files name it.
    const HOSTS: [(HostId, &str); 8] = [
        (HostId::Db, "db"),
        (HostId::Mgs, "mgs"),
        (HostId::Workload, "workload"),
        (HostId::Nexus(NexusId(0)), "nexus-0"),
        (HostId::Nexus(NexusId(2)), "nexus-2"),
        (HostId::Sled(SledId(0)), "sled-0"),
        (HostId::Sled(SledId(17)), "sled-17"),
        (HostId::Sled(SledId(u8::MAX)), "sled-255"),
    ];

    #[test]
    fn host_names_parse_back_for_every_kind_of_host() {
        for (host, name) in HOSTS {
            assert_eq!(host.name(), name);
            assert_eq!(HostId::parse(name), Some(host), "{name}");
            assert_eq!(HostId::parse(&host.to_string()), Some(host), "{name}");
        }
    }

    #[test]
    fn names_of_no_host_are_rejected() {
        for bad in [
            "",
            "DB",
            "Mgs",
            "work",
            "workloads",
            "client",
            "nexus",
            "nexus-",
            "nexus-a",
            "nexus-256",
            "nexus--1",
            "sled",
            "sled-",
            "sled-x",
            "sled-256",
            "sled-1.5",
            "sled 1",
            " db",
        ] {
            assert_eq!(HostId::parse(bad), None, "{bad:?}");
        }
    }

    /// `Millis` prints as virtual seconds with exactly three decimals and
    /// an `s`, the form the CLI's `--at` and its messages use: reading the
    /// text back gives the same number of milliseconds.
    #[test]
    fn millis_print_as_seconds_with_three_decimals() {
        for (ms, text) in [
            (0, "0.000s"),
            (5, "0.005s"),
            (999, "0.999s"),
            (1_000, "1.000s"),
            (1_001, "1.001s"),
            (61_250, "61.250s"),
            (u64::MAX, "18446744073709551.615s"),
        ] {
            assert_eq!(Millis(ms).to_string(), text);
        }
        for ms in (0..5_000).chain([86_399_999, u64::MAX - 1]) {
            let text = Millis(ms).to_string();
            let (secs, frac) = text
                .strip_suffix('s')
                .and_then(|t| t.split_once('.'))
                .unwrap_or_else(|| panic!("{text:?} is not SECS.MMMs"));
            assert_eq!(frac.len(), 3, "{text}");
            let back = secs.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap();
            assert_eq!(back, ms, "{text}");
        }
        assert_eq!(Millis::from_secs(90).to_string(), "90.000s");
    }
}
