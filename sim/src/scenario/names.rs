//! The names a scenario file may use (instance and case names), and "did
//! you mean" suggestions for typos, from strsim.

/// omicron's `Name`: lowercase ASCII letters, digits and '-', starting with
/// a letter, at most 63 characters.
pub(crate) fn is_omicron_name(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && (s.chars()).all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Case names end up in test and snapshot names: letters, digits, '_', '-'
/// and '.', at most 64 characters.
pub(crate) fn is_case_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && (s.chars()).all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `, did you mean "x"?` when one candidate is close to `s` (Levenshtein
/// distance at most a quarter of its length, and at least 2).
pub(crate) fn did_you_mean<'c>(s: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    let limit = (s.chars().count() / 4).max(2);
    let best = (candidates.into_iter())
        .map(|c| (strsim::levenshtein(s, c), c))
        .filter(|(d, _)| *d <= limit)
        .min();
    best.map_or(String::new(), |(_, c)| format!(", did you mean {c:?}?"))
}

/// Adds "did you mean" to serde's `unknown field `x`, expected one of `a`,
/// `b`` and `unknown variant ...` messages, and to toml's `unexpected keys
/// in table: x, available keys: a, b` (an enum's struct variant), which it
/// words as serde does; `x` is cut (a 100,000-character key is not echoed).
pub(crate) fn suggest(message: &str) -> String {
    if let Some((keys, available)) = (message.strip_prefix("unexpected keys in table: "))
        .and_then(|m| m.split_once(", available keys: "))
    {
        let first = keys.split(", ").next().unwrap_or_default();
        let expected = match available {
            "" => "there are no fields".to_string(),
            _ => format!("expected one of `{}`", available.replace(", ", "`, `")),
        };
        return suggest(&format!("unknown field `{first}`, {expected}"));
    }
    let kinds = ["unknown field `", "unknown variant `"].into_iter();
    let mut found = kinds.filter_map(|k| Some((k, message.strip_prefix(k)?.split_once('`')?)));
    match found.next() {
        Some((kind, (word, tail))) => {
            let candidates = tail.split('`').skip(1).step_by(2);
            let hint = did_you_mean(word, candidates);
            format!("{kind}{}`{tail}{hint}", crate::fault::cut(word))
        }
        None => message.to_string(),
    }
}
