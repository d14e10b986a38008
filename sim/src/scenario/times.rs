//! Times in a file: virtual seconds, whole (`5`) or with milliseconds
//! (`5.25`), from 0 to a virtual day. Checked at load, so no sum of times
//! can overflow and no run is silently "hung" by a huge period.

use model::ids::Millis;

/// The largest time a file may write: one virtual day, in seconds.
pub const MAX_SECS: u64 = 86_400;

fn range_error() -> String {
    format!(
        "expected virtual seconds 0..={MAX_SECS} (a virtual day), whole or with up to 3 decimals"
    )
}

/// Seconds to milliseconds, checked.
fn from_f64(v: f64) -> Result<Millis, String> {
    let ms = (v * 1000.0).round();
    if !v.is_finite() || v < 0.0 || v > MAX_SECS as f64 || (ms - v * 1000.0).abs() > 1e-6 {
        return Err(format!("{}, got {v}", range_error()));
    }
    Ok(Millis(ms as u64))
}

/// A required time.
pub mod secs {
    use model::ids::Millis;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
    }

    /// Deserializes virtual seconds into milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let raw = Raw::deserialize(d).map_err(|_| D::Error::custom(super::range_error()))?;
        match raw {
            Raw::Int(v) if (0..=super::MAX_SECS as i64).contains(&v) => {
                Ok(Millis::from_secs(v as u64))
            }
            Raw::Int(v) => Err(D::Error::custom(format!(
                "{}, got {v}",
                super::range_error()
            ))),
            Raw::Float(v) => super::from_f64(v).map_err(D::Error::custom),
        }
    }

    /// Serializes whole seconds as an integer, others with decimals.
    pub fn serialize<S: Serializer>(m: &Millis, s: S) -> Result<S::Ok, S::Error> {
        if m.0.is_multiple_of(1000) {
            s.serialize_u64(m.0 / 1000)
        } else {
            s.serialize_f64(m.0 as f64 / 1000.0)
        }
    }
}

/// An optional time.
pub mod secs_opt {
    use model::ids::Millis;
    use serde::{Deserializer, Serializer};

    /// Deserializes a present time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        super::secs::deserialize(d).map(Some)
    }

    /// Serializes a time (callers skip `None`).
    pub fn serialize<S: Serializer>(m: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => super::secs::serialize(m, s),
            None => s.serialize_none(),
        }
    }
}
