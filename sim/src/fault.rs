//! The one fault vocabulary: a scenario file deserializes a [`Fault`], the
//! swarm draws one, the runner applies it ([`crate::faults`]) and the trace
//! records it. In a file the kind is `fault = "<kind>"` beside its fields.

use model::event::SledCall;
use model::ids::{HostId, SledId};
use serde::{de::Error, Deserialize, Deserializer, Serialize};
use std::fmt;
use strum::VariantNames;

/// A fault the harness injects; `Fault::VARIANTS` lists its kinds as a
/// file spells them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, VariantNames)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum Fault {
    /// The host's processes die; what it sent is still delivered.
    Crash {
        #[serde(with = "host_name")]
        host: HostId,
    },
    /// A power loss: the host is cut off from every other host, then
    /// crashed, so what it had in flight is lost in silence instead of
    /// closing cleanly (turmoil-notes section 1.4). A restart reconnects it.
    PowerLoss {
        #[serde(with = "host_name")]
        host: HostId,
    },
    /// The host boots again (a crashed one comes back; a running one
    /// bounces).
    Restart {
        #[serde(with = "host_name")]
        host: HostId,
    },
    /// A sled powered off for good: crashed, and mgs reports it off.
    LoseSled {
        #[serde(rename = "host", with = "sled_name")]
        sled: SledId,
    },
    /// Messages between the hosts (or from `a` to `b`, one way) are dropped.
    Partition {
        #[serde(rename = "host", with = "host_name")]
        a: HostId,
        #[serde(rename = "peer", with = "host_name")]
        b: HostId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        oneway: bool,
    },
    /// Ends a partition.
    Repair {
        #[serde(rename = "host", with = "host_name")]
        a: HostId,
        #[serde(rename = "peer", with = "host_name")]
        b: HostId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        oneway: bool,
    },
    /// Messages between the hosts are held (delayed, not lost). A request
    /// whose caller times out during the hold is lost with its connection,
    /// unless `deliver_late`: then the caller's connection outlives its
    /// timeout (a kept-alive connection whose request sits in the kernel's
    /// send buffer), and the request reaches its server on release, which
    /// acts on it though the caller already gave up (`model::rpc`'s late
    /// delivery; issue 7 item 3).
    Hold {
        #[serde(rename = "host", with = "host_name")]
        a: HostId,
        #[serde(rename = "peer", with = "host_name")]
        b: HostId,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        deliver_late: bool,
    },
    /// Held messages are delivered.
    Release {
        #[serde(rename = "host", with = "host_name")]
        a: HostId,
        #[serde(rename = "peer", with = "host_name")]
        b: HostId,
    },
    /// The guest of this instance's VMM powered itself off.
    GuestShutdown { instance: String },
    /// The sled agent forgot this instance's VMM (its Propolis died too).
    ForgetVmm { instance: String },
    /// The sled agent answers `call` with the HTTP error `status` (400..=599,
    /// not 404: that is `forget_vmm`) for `count` calls or `seconds` virtual
    /// seconds, or until heal (sled-agent errors, omicron #7928 / #4259).
    SledError {
        #[serde(rename = "host", with = "sled_name")]
        sled: SledId,
        #[serde(with = "sled_call")]
        call: SledCall,
        #[serde(deserialize_with = "sled_error_status")]
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "one_to::<_, u32, 4294967295>")]
        count: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "one_to::<_, u64, 86400>")]
        seconds: Option<u64>,
    },
    /// The sled agent never answers `call` (the caller's RPC times out) for
    /// `count` calls or `seconds` virtual seconds, or until heal.
    SledHang {
        #[serde(rename = "host", with = "sled_name")]
        sled: SledId,
        #[serde(with = "sled_call")]
        call: SledCall,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "one_to::<_, u32, 4294967295>")]
        count: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[serde(deserialize_with = "one_to::<_, u64, 86400>")]
        seconds: Option<u64>,
    },
    /// This instance's booting VMM fails: the sled publishes Failed.
    VmmFailsBooting { instance: String },
    /// The sled agent restarts with an empty table while its Propolis zones
    /// keep running (no start-up cleanup).
    SledAgentRestartKeepsVmms {
        #[serde(rename = "host", with = "sled_name")]
        sled: SledId,
    },
    /// PR #8053's offline upgrade: every Nexus down, the schema 140.0.0
    /// back-fill, every Nexus back in the run's variant (until then every
    /// Nexus runs `legacy`). The trace records it as
    /// [`crate::record::RecordKind::Upgrade`], which names the variant.
    Upgrade {},
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = |oneway: bool| if oneway { "->" } else { "<->" };
        match self {
            Fault::Crash { host } => write!(f, "crash {host}"),
            Fault::PowerLoss { host } => write!(f, "power loss on {host} (cut off, then crashed)"),
            Fault::Restart { host } => write!(f, "restart {host}"),
            Fault::LoseSled { sled } => write!(f, "{sled} lost (powered off for good)"),
            Fault::Partition { a, b, oneway } => write!(f, "partition {a} {} {b}", arrow(*oneway)),
            Fault::Repair { a, b, oneway } => write!(f, "repair {a} {} {b}", arrow(*oneway)),
            Fault::Hold { a, b, deliver_late } => {
                write!(f, "hold {a} <-> {b}")?;
                if *deliver_late {
                    f.write_str(" (requests held past their timeout are delivered late)")?;
                }
                Ok(())
            }
            Fault::Release { a, b } => write!(f, "release {a} <-> {b}"),
            Fault::GuestShutdown { instance } => write!(f, "guest of {instance:?} powers off"),
            Fault::ForgetVmm { instance } => write!(f, "sled agent forgets {instance:?}'s VMM"),
            Fault::SledError {
                sled,
                call,
                status,
                count,
                seconds,
            } => {
                write!(f, "{sled} answers {call} with {status}")?;
                lasting(f, *count, *seconds)
            }
            Fault::SledHang {
                sled,
                call,
                count,
                seconds,
            } => {
                write!(f, "{sled} never answers {call}")?;
                lasting(f, *count, *seconds)
            }
            Fault::VmmFailsBooting { instance } => {
                write!(f, "{instance:?}'s VMM fails while booting")
            }
            Fault::SledAgentRestartKeepsVmms { sled } => write!(
                f,
                "{sled} agent restarts with an empty table; its VMMs keep running"
            ),
            Fault::Upgrade {} => f.write_str("upgrade to schema 140.0.0 (PR #8053)"),
        }
    }
}

/// A name as a message shows it: at most 64 characters (a 100,000-character
/// host or instance name is not echoed whole).
pub fn cut(s: &str) -> String {
    match s.char_indices().nth(64) {
        None => s.to_string(),
        Some(_) => {
            let head: String = s.chars().take(60).collect();
            format!("{head}... ({} characters)", s.chars().count())
        }
    }
}

/// How long a sled fault lasts, as the trace says it.
fn lasting(f: &mut fmt::Formatter<'_>, count: Option<u32>, seconds: Option<u64>) -> fmt::Result {
    if let Some(n) = count {
        write!(f, " ({n} calls)")?;
    }
    if let Some(t) = seconds {
        write!(f, " (for {t}s)")?;
    }
    Ok(())
}

/// A sled error's HTTP status: 400..=599, and not 404 (a VMM the sled does
/// not know is `forget_vmm`).
fn sled_error_status<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let range =
        "a sled error is 400..=599 and not 404 (a VMM the sled does not know is `forget_vmm`)";
    let status =
        i64::deserialize(d).map_err(|_| Error::custom(format!("expected a status: {range}")))?;
    let ok = u16::try_from(status)
        .ok()
        .filter(|s| (400..=599).contains(s) && *s != 404);
    ok.ok_or_else(|| Error::custom(format!("status {status}: {range}")))
}

/// A sled fault's `count` (calls, up to `u32::MAX`) or `seconds` (virtual
/// seconds, up to a virtual day): a whole number from 1 to `MAX`.
fn one_to<'de, D, T, const MAX: u64>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let range = || Error::custom(format!("expected a whole number 1..={MAX}"));
    let v = i128::deserialize(d).map_err(|_| range())?;
    let ok = u64::try_from(v).ok().filter(|v| (1..=MAX).contains(v));
    ok.and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(range)
}

/// A sled-agent call as a file spells it (`register`, `put_state`,
/// `get_state`).
pub mod sled_call {
    use super::SledCall;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Spelling {
        Register,
        PutState,
        GetState,
    }

    /// Deserializes a call's name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SledCall, D::Error> {
        Ok(match Spelling::deserialize(d)? {
            Spelling::Register => SledCall::Register,
            Spelling::PutState => SledCall::PutState,
            Spelling::GetState => SledCall::GetState,
        })
    }

    /// Serializes a call as its name.
    pub fn serialize<S: Serializer>(c: &SledCall, s: S) -> Result<S::Ok, S::Error> {
        match c {
            SledCall::Register => Spelling::Register,
            SledCall::PutState => Spelling::PutState,
            SledCall::GetState => Spelling::GetState,
        }
        .serialize(s)
    }
}

/// A host by its trace name (`db`, `mgs`, `workload`, `nexus-N`,
/// `sled-N`), canonical spelling only (`nexus-00` would not match traces).
pub mod host_name {
    use model::ids::HostId;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Parses a host name.
    pub fn parse(s: &str) -> Result<HostId, String> {
        HostId::parse(s).filter(|h| h.name() == s).ok_or_else(|| {
            format!(
                "unknown host {:?} (hosts are db, mgs, workload, nexus-N, sled-N)",
                super::cut(s)
            )
        })
    }

    /// Deserializes a host name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HostId, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    /// Serializes a host as its name.
    pub fn serialize<S: Serializer>(h: &HostId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.name())
    }

    /// An optional host.
    pub mod opt {
        use model::ids::HostId;
        use serde::{Deserializer, Serializer};

        /// Deserializes a present host name.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HostId>, D::Error> {
            super::deserialize(d).map(Some)
        }

        /// Serializes a host (callers skip `None`).
        pub fn serialize<S: Serializer>(h: &Option<HostId>, s: S) -> Result<S::Ok, S::Error> {
            match h {
                Some(h) => super::serialize(h, s),
                None => s.serialize_none(),
            }
        }
    }
}

/// A sled by its host name (`sled-N`).
pub mod sled_name {
    use model::ids::{HostId, SledId};
    use serde::{de::Error, Deserializer, Serializer};

    /// Deserializes a sled's host name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SledId, D::Error> {
        match super::host_name::deserialize(d)? {
            HostId::Sled(s) => Ok(s),
            other => Err(D::Error::custom(format!(
                "this fault needs a sled (sled-N), not {:?}",
                other.name()
            ))),
        }
    }

    /// Serializes a sled as its host name.
    pub fn serialize<S: Serializer>(sled: &SledId, s: S) -> Result<S::Ok, S::Error> {
        super::host_name::serialize(&HostId::Sled(*sled), s)
    }
}
