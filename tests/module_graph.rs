//! The model's module graph, read from `src/`: every path a module names
//! (`use crate::a::b`, `super::x`, `crate::a::f()` in code, `child::f()`
//! for a module it declares) is an edge to the longest module it names.
//! Two rules: no circle (a module never reaches itself), and the lower
//! layer (ids, states, rows, wire types, events, config) never names a
//! module above it (nexus, sagas, background tasks, the db host, sled
//! agent software).
//!
//! Why a test: seams rot silently; a circle or an upward import fails here
//! with the path that closes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The lower layer: data and wire types that everything else is built on.
const LOWER: &[&str] = &[
    "clock",
    "config",
    "event",
    "fixes",
    "ids",
    "points",
    "states",
    "variant",
    "db::protocol",
    "db::rows",
    "nexus::external_api",
    "nexus::internal_api",
    "sled_agent::api",
];

/// Module path (`nexus::sagas`) to its source text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src/") {
            let path = entry.expect("an entry").path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    p.push(name);
                }
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.insert(p.join("::"), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

/// The text without comments (so doc links and prose are not edges) and
/// without the `#[cfg(test)]` module at the end of a file.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the code names that starts with `crate::`, `super::` or one
/// of `children::`, as module segments (brace groups expanded one level).
fn named_paths(code: &str, children: &[String]) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        if !ident(chars[i]) || (i > 0 && (ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && ident(chars[j]) {
            j += 1;
        }
        let first: String = chars[i..j].iter().collect();
        let starts = first == "crate" || first == "super" || children.contains(&first);
        if !starts || chars.get(j..j + 2) != Some(&[':', ':']) {
            i = j;
            continue;
        }
        let mut segs = vec![first];
        let mut k = j;
        loop {
            if chars.get(k..k + 2) != Some(&[':', ':']) {
                break;
            }
            k += 2;
            if chars.get(k) == Some(&'{') {
                let end = chars[k..]
                    .iter()
                    .position(|c| *c == '}')
                    .map_or(chars.len(), |e| k + e);
                let inner: String = chars[k + 1..end].iter().collect();
                for item in inner.split(',') {
                    let mut s = segs.clone();
                    s.extend(
                        item.split("::")
                            .map(|x| x.trim().to_string())
                            .filter(|x| !x.is_empty() && x != "self"),
                    );
                    out.push(s);
                }
                segs.clear();
                k = end;
                break;
            }
            let start = k;
            while k < chars.len() && ident(chars[k]) {
                k += 1;
            }
            segs.push(chars[start..k].iter().collect());
        }
        if !segs.is_empty() {
            out.push(segs);
        }
        i = k.max(j);
    }
    out
}

/// The module graph: each module to the modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let known: BTreeSet<&String> = mods.keys().collect();
    let mut g = BTreeMap::new();
    for (m, text) in &mods {
        let here: Vec<String> = if m.is_empty() {
            Vec::new()
        } else {
            m.split("::").map(String::from).collect()
        };
        let children: Vec<String> = mods
            .keys()
            .filter_map(|k| {
                let rest = if m.is_empty() {
                    k.as_str()
                } else {
                    k.strip_prefix(m.as_str())?.strip_prefix("::")?
                };
                (!rest.is_empty() && !rest.contains("::")).then(|| rest.to_string())
            })
            .collect();
        let mut edges = BTreeSet::new();
        for path in named_paths(&code(text), &children) {
            let mut abs: Vec<String> = match path[0].as_str() {
                "crate" => Vec::new(),
                "super" => here[..here.len().saturating_sub(1)].to_vec(),
                _ => here.clone(),
            };
            let rest = if path[0] == "crate" || path[0] == "super" {
                &path[1..]
            } else {
                &path[..]
            };
            let mut best = abs.join("::");
            for seg in rest {
                abs.push(seg.clone());
                let name = abs.join("::");
                if known.contains(&name) {
                    best = name;
                }
            }
            let is_ancestor = best.is_empty() || m == &best || m.starts_with(&format!("{best}::"));
            if !is_ancestor {
                edges.insert(best);
            } else if m != &best && !best.is_empty() {
                // A child naming its parent's items is an edge too.
                edges.insert(best);
            }
        }
        g.insert(m.clone(), edges);
    }
    g
}

/// A path from `from` back to itself, if there is one.
fn circle(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for next in g.get(&m).into_iter().flatten() {
            if next == from {
                let mut p = path.clone();
                p.push(next.clone());
                return Some(p);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

/// No module of `src/` reaches itself: the shared types a child needs
/// live below it (`nexus::context`, `nexus::sagas::executor`,
/// `nexus::background::{activator, task_context}`), and only a module's
/// top (`nexus/mod.rs`, `sagas/mod.rs`'s recovery, `background/mod.rs`'s
/// driver) names the children it dispatches to (issue 7 item 6).
#[test]
fn no_module_circle() {
    let g = graph();
    let circles: Vec<String> = g
        .keys()
        .filter_map(|m| circle(&g, m))
        .map(|p| p.join(" -> "))
        .collect();
    assert!(
        circles.is_empty(),
        "modules on a circle in src/:\n{}",
        circles.join("\n")
    );
    assert!(
        !g["nexus::sagas::instance_start"].contains("nexus::instance"),
        "the start saga names the API handlers again (VMM updates live in nexus::vmm_update)"
    );
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let g = graph();
    let mut wrong = Vec::new();
    for low in LOWER {
        for to in g.get(*low).into_iter().flatten() {
            if !LOWER.contains(&to.as_str()) && !to.is_empty() {
                wrong.push(format!("{low} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "lower layers naming higher ones: {wrong:?}"
    );
}

#[test]
fn the_graph_sees_edges() {
    let g = graph();
    assert!(g["nexus::sagas::instance_start"].contains("db::protocol"));
    assert!(g["event"].contains("db::rows"));
    let start = &g["nexus::sagas::instance_start"];
    assert!(
        start.contains("nexus::sagas::executor"),
        "super::executor::Saga is an edge: {start:?}"
    );
    let update = &g["nexus::sagas::instance_update"];
    assert!(
        update.contains("nexus::context"),
        "crate::nexus::context::Nexus is an edge: {update:?}"
    );
    let nexus = &g["nexus"];
    assert!(
        nexus.contains("nexus::background"),
        "background::start_all (a child it declares) is an edge: {nexus:?}"
    );
}
