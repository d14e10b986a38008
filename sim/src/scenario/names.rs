//! The names a scenario file may use (checkers, instance and case names),
//! "did you mean" suggestions for typos, and long names cut in messages.

/// The checkers of design section 3, by the names scenario files use in
/// `violates`.
pub const CHECKERS: [&str; 12] = crate::checkers::NAMES;

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
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `, did you mean "x"?` when one candidate is close to `s` (Levenshtein
/// distance at most a quarter of its length, and at least 2).
pub(crate) fn did_you_mean<'c>(s: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    let limit = (s.chars().count() / 4).max(2);
    let best = candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(s, c), c))
        .filter(|(d, _)| *d <= limit)
        .min();
    match best {
        Some((_, c)) => format!(", did you mean {c:?}?"),
        None => String::new(),
    }
}

/// Adds "did you mean" to serde's `unknown field `x`, expected one of `a`,
/// `b`` and `unknown variant ...` messages.
pub(crate) fn suggest(message: &str) -> String {
    // toml's own form, for fields of an enum's struct variant.
    if let Some((keys, available)) = message
        .strip_prefix("unexpected keys in table: ")
        .and_then(|m| m.split_once(", available keys: "))
    {
        let quote = |l: &str| {
            l.split(", ")
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let first = keys.split(", ").next().unwrap_or_default();
        return suggest(&format!(
            "unknown field `{first}`, expected one of {}",
            quote(available)
        ));
    }
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_string();
    };
    let Some((word, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    format!("{message}{}", did_you_mean(word, candidates))
}

/// A name as a message shows it: at most 64 characters.
pub fn cut(s: &str) -> String {
    if s.chars().count() <= 64 {
        return s.to_string();
    }
    let head: String = s.chars().take(60).collect();
    format!("{head}... ({} characters)", s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("Runing", ["Running", "Stopped"]),
            ", did you mean \"Running\"?"
        );
        assert_eq!(did_you_mean("zzzzzz", ["Running"]), "");
        assert_eq!(
            suggest("unknown field `hots`, expected one of `host`, `peer`"),
            "unknown field `hots`, expected one of `host`, `peer`, did you mean \"host\"?"
        );
        assert_eq!(suggest("missing field `x`"), "missing field `x`");
    }

    #[test]
    fn names() {
        assert!(is_omicron_name("web-1"));
        assert!(!is_omicron_name("Web"));
        assert!(!is_omicron_name("1web"));
        assert!(!is_omicron_name(""));
        assert!(is_case_name("start.MARK_AS_STARTING.after_log"));
        assert!(!is_case_name("a b"));
        assert_eq!(
            cut(&"x".repeat(100_000)).len(),
            60 + " (100000 characters)".len() + 3
        );
    }
}
