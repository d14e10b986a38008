//! Scenario files as a user writes them: each broken fixture gets exactly the
//! one-line message that names its file, line, field and what was expected;
//! the valid fixtures, the README's example and every file in `scenarios/`
//! load. Cargo runs integration tests from the package's folder (`sim/`),
//! so fixture paths are relative to it and messages name them that way.

use intent_sim::scenario::spec::{
    ArmKind, Condition, Expect, ExpectOne, FaultKind, PolicySpec, RequestKind,
};
use intent_sim::scenario::{discover, load_file, load_str, Scenario, ScenarioError};
use model::variant::Variant;
use std::path::Path;

fn broken(name: &str) -> ScenarioError {
    let path = format!("tests/fixtures/broken/{name}.toml");
    match load_file(Path::new(&path)) {
        Ok(_) => panic!("{path} loaded, but it is broken on purpose"),
        Err(e) => e,
    }
}

fn valid(name: &str) -> Scenario {
    let path = format!("tests/fixtures/{name}.toml");
    load_file(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn typo_in_a_field_name() {
    assert_eq!(
        broken("typo-field").to_string(),
        "tests/fixtures/broken/typo-field.toml:14:1: step 2 field `hots`: unknown field `hots`, \
         expected one of `at`, `request`, `instance`, `start`, `expect`, `no_wait`, `fault`, \
         `host`, `peer`, `oneway`, `arm`, `point`, `unpause`, `wait`, `within`, `sleep`, \
         `call`, `status`, `count`, `seconds`, `through_heal`"
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        broken("wrong-type").to_string(),
        "tests/fixtures/broken/wrong-type.toml:14:10: step 2 field `within`: invalid type: \
         string \"sixty\", expected a non-negative whole number"
    );
}

#[test]
fn unknown_host() {
    let e = broken("unknown-host");
    assert_eq!(
        e.to_string(),
        "tests/fixtures/broken/unknown-host.toml:22:1: step 3 field `host`: unknown host \
         \"nexus-7\" (this scenario has nexus-0..nexus-0; hosts are db, mgs, nexus-N, sled-N)"
    );
    assert_eq!(e.line(), Some(22));
    assert_eq!(e.field.as_deref(), Some("step 3 field `host`"));
}

#[test]
fn unknown_named_point() {
    assert_eq!(
        broken("unknown-point").to_string(),
        "tests/fixtures/broken/unknown-point.toml:10:1: step 1 field `point`: unknown named \
         point \"start.MARK_AS_STARTNG.after_log\", did you mean \
         \"start.MARK_AS_STARTING.after_log\"? (scenarios/README.md lists them; saga node \
         points are <saga>.<NODE>.after_action or .after_log)"
    );
}

#[test]
fn step_before_its_instance_exists() {
    assert_eq!(
        broken("before-create").to_string(),
        "tests/fixtures/broken/before-create.toml:9:1: step 1 field `instance`: instance \
         \"web\" is used before step 2 creates it"
    );
}

#[test]
fn hold_with_a_one_way_partition() {
    assert_eq!(
        broken("hold-oneway").to_string(),
        "tests/fixtures/broken/hold-oneway.toml:27:1: step 4 field `oneway`: sled-0 -> nexus-0 \
         is partitioned one way, but step 2 holds messages between nexus-0 and sled-0: turmoil \
         does not support a hold and a one-way partition on the same pair of hosts (use a \
         two-way partition, or drop the hold)"
    );
}

#[test]
fn every_broken_fixture_is_tested() {
    let tested = [
        "before-create",
        "hold-oneway",
        "typo-field",
        "unknown-host",
        "unknown-point",
        "wrong-type",
    ];
    let mut found: Vec<String> = std::fs::read_dir("tests/fixtures/broken")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, tested);
    // Every message is one line.
    for name in tested {
        assert!(!broken(name).to_string().contains('\n'), "{name}");
    }
}

#[test]
fn minimal_valid_fixture() {
    let s = valid("valid-minimal");
    assert_eq!(s.name, "valid-minimal");
    assert_eq!(s.spec.topology.nexus, 1);
    assert_eq!(s.spec.topology.sleds, 1);
    let runs = s.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].case, None);
    assert_eq!(runs[0].steps.len(), 2);
    assert_eq!(runs[0].steps[0].request, Some(RequestKind::Create));
    assert_eq!(runs[0].steps[0].start, Some(true));
    assert_eq!(s.step_line(0), Some(8));
    assert_eq!(s.step_line(1), Some(14));
    assert_eq!(s.step_line(2), None);
    for (_, e) in runs[0].variants.iter() {
        assert!(e.violates.is_empty());
        assert!(e.must_reach.is_empty());
    }
}

#[test]
fn complete_valid_fixture() {
    let s = valid("valid-complete");
    let spec = &s.spec;
    assert_eq!(spec.topology.nexus, 2);
    assert_eq!(spec.topology.sleds, 3);
    assert_eq!(spec.topology.sled_capacity, Some(4));
    assert_eq!(spec.timings.cooldown, Some(0));
    assert_eq!(spec.instances.len(), 3);
    assert_eq!(
        spec.instances[1].auto_restart_policy,
        Some(PolicySpec::Never)
    );
    assert_eq!(spec.instances[2].auto_restart_policy, None);

    let runs = s.runs();
    let cases: Vec<_> = runs.iter().map(|r| r.case.as_deref().unwrap()).collect();
    assert_eq!(cases, ["crash-db", "crash-nexus-1", "crash-sled-0"]);
    let crashed: Vec<_> = runs
        .iter()
        .map(|r| r.steps[3].host.as_deref().unwrap())
        .collect();
    assert_eq!(crashed, ["db", "nexus-1", "sled-0"]);
    // The spec keeps the file as written.
    assert_eq!(spec.steps[3].host.as_deref(), Some("${host}"));

    let steps = &runs[0].steps;
    assert_eq!(
        steps[1].expect,
        Some(Expect::Any(vec![
            ExpectOne::Status(201),
            ExpectOne::Status(503)
        ]))
    );
    assert!(steps[1].no_wait);
    assert_eq!(steps[3].fault, Some(FaultKind::Crash));
    assert_eq!(steps[5].arm, Some(ArmKind::Pause));
    let reboot = steps[7].expect.as_ref().unwrap();
    assert_eq!(
        reboot.for_variant(Variant::Legacy),
        Some(&[ExpectOne::Status(503)][..])
    );
    let omicron = reboot.for_variant(Variant::Omicron).unwrap();
    assert_eq!(omicron.len(), 2);
    assert!(omicron[1].is_none());
    assert_eq!(
        steps[8].wait,
        Some(Condition {
            point: Some("reincarnation.selected".into()),
            host: Some("nexus-1".into()),
            ..Condition::default()
        })
    );
    assert!(steps[10].unpause);
    assert_eq!(steps[11].at, Some(400));
    assert!(steps[15].oneway);

    let legacy = runs[0].variants.get(Variant::Legacy);
    assert_eq!(
        legacy.violates,
        ["no_unintended_restart", "stop_intent_honored"]
    );
    assert_eq!(legacy.must_reach.len(), 2);
    assert!(legacy.why.is_some());
    assert!(runs[0].variants.get(Variant::Fixed).violates.is_empty());
}

/// The README's first TOML block, so the documented example always loads.
fn readme() -> String {
    std::fs::read_to_string("../scenarios/README.md").unwrap()
}

#[test]
fn readme_example_loads() {
    let readme = readme();
    let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
    let len = readme[start..].find("```").unwrap();
    let example = &readme[start..start + len];
    let s = load_str("readme-example", Path::new("scenarios/README.md"), example)
        .unwrap_or_else(|e| panic!("{e}"));
    let runs = s.runs();
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs[1].steps[0].point.as_deref(),
        Some("start.MARK_AS_STARTING.after_action")
    );
    assert_eq!(runs[1].case.as_deref(), Some("mark-as-starting"));
}

#[test]
fn readme_names_every_point() {
    let readme = readme();
    for point in model::points::all() {
        assert!(
            readme.contains(&format!("`{point}`")),
            "scenarios/README.md does not list the named point `{point}`"
        );
    }
}

#[test]
fn every_scenario_file_loads() {
    // A broken scenario fails here with its one-line message.
    if let Err(e) = discover(Path::new("../scenarios")) {
        panic!("{e}");
    }
}

#[test]
fn discover_finds_toml_files_sorted() {
    let found = discover(Path::new("tests/fixtures")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = found.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["valid-complete", "valid-minimal"]);
    let e = discover(Path::new("tests/fixtures/broken")).unwrap_err();
    // The first file by name is the error.
    assert!(
        e.to_string()
            .starts_with("tests/fixtures/broken/before-create.toml:"),
        "{e}"
    );
    let e = discover(Path::new("tests/no-such-folder")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("tests/no-such-folder: cannot read folder:"),
        "{e}"
    );
}

#[test]
fn diverging_fixture_loads() {
    // They are valid; only running them shows that their stories cannot
    // happen (`tests/scenarios.rs` runs them).
    let found = discover(Path::new("tests/fixtures/diverging")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = found.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["create-expects-503", "never-reincarnated"]);
    let runs = found[0].runs();
    assert_eq!(
        runs[0].steps[1].expect,
        Some(Expect::One(ExpectOne::Status(503)))
    );
}
