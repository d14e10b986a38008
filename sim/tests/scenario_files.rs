//! Scenario files as a user writes them: each broken fixture gets exactly the
//! one-line message that names its file, line, field and what was expected;
//! the valid fixtures, the README's example and every file in `scenarios/`
//! load. Cargo runs integration tests from the package's folder (`sim/`),
//! so fixture paths are relative to it and messages name them that way.

use intent_sim::fault::Fault;
use intent_sim::plan::{
    Action, ArmKind, Condition, Expect, ExpectByVariant, Expected, OneOrMany, PointCond,
    PolicySpec, RequestKind,
};
use intent_sim::scenario::{discover, load_file, load_str, Scenario, ScenarioError};
use model::ids::{HostId, Millis, NexusId};
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
         expected one of `host`, did you mean \"host\"?"
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        broken("wrong-type").to_string(),
        "tests/fixtures/broken/wrong-type.toml:14:10: step 2 field `within`: expected virtual \
         seconds 0..=86400 (a virtual day), whole or with up to 3 decimals"
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

fn request(a: &Action) -> &intent_sim::plan::Request {
    match a {
        Action::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn minimal_valid_fixture() {
    let s = valid("valid-minimal");
    assert_eq!(s.name, "valid-minimal");
    let plan = s.plan();
    assert_eq!(plan.topology.nexus, 1);
    assert_eq!(plan.topology.sleds, 1);
    let runs = s.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].case, None);
    assert_eq!(plan.steps.len(), 2);
    let create = request(&plan.steps[0].action);
    assert_eq!(create.request, RequestKind::Create);
    assert_eq!(create.start, Some(true));
    assert_eq!(s.step_line(0), Some(8));
    assert_eq!(s.step_line(1), Some(14));
    assert_eq!(s.step_line(2), None);
    for (_, e) in plan.variants.iter() {
        assert!(e.violates.is_empty());
        assert!(e.must_reach.is_empty());
    }
}

#[test]
fn complete_valid_fixture() {
    let s = valid("valid-complete");
    let plan = s.plan();
    assert_eq!(plan.topology.nexus, 2);
    assert_eq!(plan.topology.sleds, 3);
    assert_eq!(plan.topology.sled_capacity, 4);
    assert_eq!(plan.timings.cooldown, Some(Millis(0)));
    assert_eq!(plan.instances.len(), 3);
    assert_eq!(
        plan.instances[1].auto_restart_policy,
        Some(PolicySpec::Never)
    );
    assert_eq!(plan.instances[2].auto_restart_policy, None);

    let runs = s.runs();
    let cases: Vec<_> = runs.iter().map(|r| r.case.as_deref().unwrap()).collect();
    assert_eq!(cases, ["crash-db", "crash-nexus-1", "crash-sled-0"]);
    let crashed: Vec<_> = runs
        .iter()
        .map(|r| match &r.plan.steps[3].action {
            Action::Fault(Fault::Crash { host }) => host.name(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(crashed, ["db", "nexus-1", "sled-0"]);

    let steps = &runs[0].plan.steps;
    let db1 = request(&steps[1].action);
    assert_eq!(
        db1.expect,
        Some(Expect::Any(vec![
            Expected::Status(201),
            Expected::Status(503)
        ]))
    );
    assert!(db1.no_wait);
    assert!(matches!(&steps[5].action, Action::Arm(a) if a.arm == ArmKind::Pause));
    let reboot = request(&steps[7].action).expect.clone().unwrap();
    assert_eq!(reboot.for_variant(Variant::Legacy), [Expected::Status(503)]);
    assert_eq!(
        reboot,
        Expect::ByVariant(ExpectByVariant {
            legacy: Some(OneOrMany::One(Expected::Status(503))),
            omicron: Some(OneOrMany::Any(vec![
                Expected::Status(503),
                Expected::NoResponse
            ])),
            fixed: Some(OneOrMany::One(Expected::Status(503))),
        })
    );
    assert!(matches!(
        &steps[8].action,
        Action::Wait(w) if w.wait == Condition::Point(PointCond {
            point: "reincarnation.selected".into(),
            host: Some(HostId::Nexus(NexusId(1))),
        })
    ));
    assert!(matches!(&steps[10].action, Action::Unpause(_)));
    assert_eq!(steps[11].at, Some(Millis(400_000)));
    assert!(matches!(
        &steps[14].action,
        Action::Fault(Fault::Partition { oneway: true, .. })
    ));
    assert!(matches!(
        &steps[15].action,
        Action::Fault(Fault::Repair { oneway: true, .. })
    ));

    let legacy = runs[0].plan.variants.get(Variant::Legacy);
    assert_eq!(
        legacy.violates,
        ["no_unintended_restart", "stop_intent_honored"]
    );
    assert_eq!(legacy.must_reach.len(), 2);
    assert!(legacy.why.is_some());
    assert!(runs[0]
        .plan
        .variants
        .get(Variant::Fixed)
        .violates
        .is_empty());
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
    assert!(matches!(
        &runs[1].plan.steps[0].action,
        Action::Arm(a) if a.point == "start.MARK_AS_STARTING.after_action"
    ));
    assert_eq!(runs[1].case.as_deref(), Some("mark-as-starting"));
}

#[test]
fn readme_names_every_point() {
    let readme = readme();
    for point in model::nexus::sagas::named_points() {
        assert!(
            readme.contains(&format!("`{point}`")),
            "scenarios/README.md does not list the named point `{point}`"
        );
    }
}

#[test]
fn every_scenario_file_loads() {
    // A broken scenario fails here with its one-line message.
    for file in discover(Path::new("../scenarios")).unwrap_or_else(|e| panic!("{e}")) {
        if let Err(e) = file {
            panic!("{e}");
        }
    }
}

fn names(found: &[Result<Scenario, ScenarioError>]) -> Vec<String> {
    found
        .iter()
        .map(|f| match f {
            Ok(s) => s.name.clone(),
            Err(e) => format!("BROKEN {}", e.file.display()),
        })
        .collect()
}

#[test]
fn discover_finds_toml_files_sorted() {
    let found = discover(Path::new("tests/fixtures")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&found), ["valid-complete", "valid-minimal"]);
    // Each broken file is reported; none stops the others.
    let found = discover(Path::new("tests/fixtures/broken")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 6);
    assert!(found.iter().all(Result::is_err));
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
    assert_eq!(names(&found), ["create-expects-503", "never-reincarnated"]);
    let s = found[0].as_ref().unwrap();
    assert_eq!(
        request(&s.plan().steps[1].action).expect,
        Some(Expect::One(Expected::Status(503)))
    );
}
