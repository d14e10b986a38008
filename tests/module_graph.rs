//! The model's module graph, read from `src/` with `syn`: every path a
//! module names (`use crate::a::{b, c::{d}}`, `super::x`, `self::y`,
//! `crate::a::f()` in code, in types and in macro calls, `child::f()` for a
//! module it declares; `#[cfg(test)]` items left out) is an edge to the
//! longest module it names.
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

/// Every path the file names that starts with `crate::`, `super::`,
/// `self::` or one of `children::`, as segments, read with `syn`: every
/// `use` tree (nested groups expanded), every path in code and types, and
/// the token streams of macro calls (`matches!(x, crate::a::B)`). Items
/// under `#[cfg(test)]` are left out wherever they are in the file.
fn named_paths(text: &str, children: &[String]) -> Vec<Vec<String>> {
    use syn::visit::Visit;

    struct Paths<'c> {
        children: &'c [String],
        out: Vec<Vec<String>>,
    }

    impl Paths<'_> {
        fn starts(&self, first: &str) -> bool {
            matches!(first, "crate" | "super" | "self") || self.children.iter().any(|c| c == first)
        }

        fn push(&mut self, segs: Vec<String>) {
            if segs.len() > 1 && self.starts(&segs[0]) {
                self.out.push(segs);
            }
        }

        fn tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
            match tree {
                syn::UseTree::Path(p) => {
                    prefix.push(p.ident.to_string());
                    self.tree(prefix, &p.tree);
                    prefix.pop();
                }
                syn::UseTree::Name(n) => {
                    let mut segs = prefix.clone();
                    if n.ident != "self" {
                        segs.push(n.ident.to_string());
                    }
                    self.push(segs);
                }
                syn::UseTree::Rename(r) => {
                    let mut segs = prefix.clone();
                    if r.ident != "self" {
                        segs.push(r.ident.to_string());
                    }
                    self.push(segs);
                }
                syn::UseTree::Glob(_) => {
                    let mut segs = prefix.clone();
                    segs.push("*".to_string());
                    self.push(segs);
                }
                syn::UseTree::Group(g) => {
                    for t in &g.items {
                        self.tree(prefix, t);
                    }
                }
            }
        }

        /// `a::b::c` sequences in a macro's tokens.
        fn tokens(&mut self, ts: proc_macro2::TokenStream) {
            use proc_macro2::TokenTree;
            let flat: Vec<TokenTree> = ts.into_iter().collect();
            let mut i = 0;
            while i < flat.len() {
                match &flat[i] {
                    TokenTree::Group(g) => {
                        self.tokens(g.stream());
                        i += 1;
                    }
                    TokenTree::Ident(id) if self.starts(&id.to_string()) => {
                        let mut segs = vec![id.to_string()];
                        let mut k = i + 1;
                        while let (
                            Some(TokenTree::Punct(a)),
                            Some(TokenTree::Punct(b)),
                            Some(TokenTree::Ident(n)),
                        ) = (flat.get(k), flat.get(k + 1), flat.get(k + 2))
                        {
                            if a.as_char() != ':' || b.as_char() != ':' {
                                break;
                            }
                            segs.push(n.to_string());
                            k += 3;
                        }
                        self.push(segs);
                        i = k.max(i + 1);
                    }
                    _ => i += 1,
                }
            }
        }
    }

    fn is_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|a| {
            a.path().is_ident("cfg")
                && a.parse_args::<syn::Meta>()
                    .is_ok_and(|m| m.path().is_ident("test"))
        })
    }

    impl<'ast> Visit<'ast> for Paths<'_> {
        fn visit_item(&mut self, item: &'ast syn::Item) {
            let attrs = match item {
                syn::Item::Mod(m) => &m.attrs,
                syn::Item::Fn(f) => &f.attrs,
                syn::Item::Use(u) => &u.attrs,
                syn::Item::Impl(i) => &i.attrs,
                syn::Item::Struct(s) => &s.attrs,
                syn::Item::Enum(e) => &e.attrs,
                syn::Item::Const(c) => &c.attrs,
                syn::Item::Static(s) => &s.attrs,
                _ => return syn::visit::visit_item(self, item),
            };
            if !is_test(attrs) {
                syn::visit::visit_item(self, item);
            }
        }

        fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
            self.tree(&mut Vec::new(), &u.tree);
        }

        fn visit_path(&mut self, p: &'ast syn::Path) {
            let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.push(segs);
            syn::visit::visit_path(self, p);
        }

        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            self.visit_path(&m.path);
            self.tokens(m.tokens.clone());
        }
    }

    let file = syn::parse_file(text).expect("src/ parses");
    let mut v = Paths {
        children,
        out: Vec::new(),
    };
    v.visit_file(&file);
    v.out
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
        for path in named_paths(text, &children) {
            let supers = path.iter().take_while(|s| *s == "super").count();
            let (mut abs, rest): (Vec<String>, &[String]) = match path[0].as_str() {
                "crate" => (Vec::new(), &path[1..]),
                "super" => (
                    here[..here.len().saturating_sub(supers)].to_vec(),
                    &path[supers..],
                ),
                "self" => (here.clone(), &path[1..]),
                _ => (here.clone(), &path[..]),
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

/// The shapes a text scan missed (a fresh user's walk of issue 7): a
/// `use` after a nested group, imports after a `#[cfg(test)]` item, a
/// `self::` path, a path inside a macro call, two `super`s.
#[test]
fn the_parser_sees_nested_groups_test_items_self_and_macros() {
    let text = r#"
        #[cfg(test)]
        mod tests { use crate::hidden::Thing; }
        use crate::{ids::{InstanceId as _I}, nexus::sagas as _S};
        fn f() -> bool { matches!(1, crate::states::X) && self::child::g() }
        use super::super::config::Timings;
    "#;
    let got = named_paths(text, &["child".to_string()]);
    let has = |p: &[&str]| {
        got.iter()
            .any(|g| g.iter().map(String::as_str).eq(p.iter().copied()))
    };
    assert!(has(&["crate", "ids", "InstanceId"]), "{got:?}");
    assert!(has(&["crate", "nexus", "sagas"]), "{got:?}");
    assert!(has(&["crate", "states", "X"]), "{got:?}");
    assert!(has(&["self", "child", "g"]), "{got:?}");
    assert!(has(&["super", "super", "config", "Timings"]), "{got:?}");
    assert!(
        !got.iter().any(|g| g.contains(&"hidden".to_string())),
        "{got:?}"
    );
}
