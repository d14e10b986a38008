//! The names a scenario file may use: checkers, instance and VMM states,
//! instance and case names; and "did you mean" suggestions for typos.

/// The checkers of design section 3, by the names scenario files use in
/// `violates`.
pub const CHECKERS: [&str; 12] = crate::checkers::NAMES;

/// `ExternalState`'s variants: what `state` in a condition may name.
pub(crate) const EXTERNAL_STATES: [&str; 10] = [
    "Creating",
    "Starting",
    "Running",
    "Stopping",
    "Stopped",
    "Rebooting",
    "Migrating",
    "Repairing",
    "Failed",
    "Destroyed",
];

/// `VmmState`'s variants: what `vmm_state` in a condition may name.
pub(crate) const VMM_STATES: [&str; 10] = [
    "Creating",
    "Starting",
    "Running",
    "Stopping",
    "Stopped",
    "Rebooting",
    "Migrating",
    "Failed",
    "Destroyed",
    "SagaUnwound",
];

/// omicron's `Name`: lowercase ASCII letters, digits and '-', starting with
/// a letter, at most 63 characters.
pub(crate) fn is_omicron_name(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Case names end up in test and snapshot names.
pub(crate) fn is_case_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// ` (did you mean "x"?)` when one candidate is close to `s`.
pub(crate) fn did_you_mean<'c>(s: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    let limit = (s.chars().count() / 4).max(2);
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(s, c), c))
        .filter(|(d, _)| *d <= limit)
        .min();
    match best {
        Some((_, c)) => format!(", did you mean {c:?}?"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::states::{ExternalState, VmmState};
    use serde::de::IntoDeserializer;
    use serde::Deserialize;

    #[test]
    fn state_lists_are_the_model_enums() {
        for s in EXTERNAL_STATES {
            let r: Result<ExternalState, serde::de::value::Error> =
                ExternalState::deserialize(s.into_deserializer());
            assert!(r.is_ok(), "{s}");
        }
        for s in VMM_STATES {
            let r: Result<VmmState, serde::de::value::Error> =
                VmmState::deserialize(s.into_deserializer());
            assert!(r.is_ok(), "{s}");
        }
        // serde lists every variant when a name is unknown: the lists are
        // complete exactly when they match.
        let quoted = |l: &[&str]| {
            l.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let e = ExternalState::deserialize("x".into_deserializer())
            .map_err(|e: serde::de::value::Error| e.to_string())
            .unwrap_err();
        assert!(e.ends_with(&quoted(&EXTERNAL_STATES)), "{e}");
        let e = VmmState::deserialize("x".into_deserializer())
            .map_err(|e: serde::de::value::Error| e.to_string())
            .unwrap_err();
        assert!(e.ends_with(&quoted(&VMM_STATES)), "{e}");
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(
            did_you_mean("Runing", EXTERNAL_STATES),
            ", did you mean \"Running\"?"
        );
        assert_eq!(did_you_mean("zzzzzz", EXTERNAL_STATES), "");
    }

    #[test]
    fn names() {
        assert!(is_omicron_name("web-1"));
        assert!(!is_omicron_name("Web"));
        assert!(!is_omicron_name("1web"));
        assert!(!is_omicron_name(""));
        assert!(is_case_name("start.MARK_AS_STARTING.after_log"));
        assert!(!is_case_name("a b"));
    }
}

#[cfg(test)]
mod state_names {
    /// The state lists in messages name states the parser accepts.
    #[test]
    fn every_listed_state_parses() {
        for s in super::EXTERNAL_STATES {
            assert!(crate::plan::parse_external_state(s).is_some(), "{s}");
        }
        for s in super::VMM_STATES {
            assert!(crate::plan::parse_vmm_state(s).is_some(), "{s}");
        }
    }
}
