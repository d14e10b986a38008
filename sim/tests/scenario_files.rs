//! Scenario files as a user writes them: each broken fixture gets exactly the
//! one-line message that names its file, line, field and what was expected;
//! the valid fixtures, the README's example and every file in `scenarios/`
//! load. Cargo runs integration tests from the package's folder (`sim/`),
//! so fixture paths are relative to it and messages name them that way.

use intent_sim::fault::Fault;
use intent_sim::plan::{
    Action, ArmKind, ByVariant, Condition, Expect, Expected, RequestKind, Responses,
};
use intent_sim::scenario::{discover, load_file, load_str, Scenario, ScenarioError};
use model::ids::{HostId, Millis, NexusId};
use model::states::AutoRestartPolicy;
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
    assert_eq!(e.position.map(|(line, _)| line), Some(22));
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
        Some(AutoRestartPolicy::Never)
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
        Some(Expect::Same(Responses(vec![
            Expected::Status(201),
            Expected::Status(503)
        ])))
    );
    assert!(db1.no_wait);
    assert!(matches!(
        &steps[5].action,
        Action::Arm {
            arm: ArmKind::Pause,
            ..
        }
    ));
    let reboot = request(&steps[7].action).expect.clone().unwrap();
    assert_eq!(reboot.for_variant(Variant::Legacy), [Expected::Status(503)]);
    assert_eq!(
        reboot,
        Expect::ByVariant(ByVariant {
            legacy: Some(Responses(vec![Expected::Status(503)])),
            omicron: Some(Responses(vec![Expected::Status(503), Expected::NoResponse])),
            fixed: Some(Responses(vec![Expected::Status(503)])),
        })
    );
    assert!(matches!(
        &steps[8].action,
        Action::Wait { wait, .. } if *wait == Condition::Point {
            point: "reincarnation.selected".into(),
            host: Some(HostId::Nexus(NexusId(1))),
        }
    ));
    assert!(matches!(&steps[10].action, Action::Unpause { .. }));
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
        Action::Arm { point, .. } if point == "start.MARK_AS_STARTING.after_action"
    ));
    assert_eq!(runs[1].case.as_deref(), Some("mark-as-starting"));
}

#[test]
fn readme_names_every_checker() {
    let readme = readme();
    for checker in intent_sim::checkers::NAMES {
        let listed = readme.contains(&format!("`{checker}`"));
        assert!(
            listed,
            "scenarios/README.md does not list the checker `{checker}`"
        );
    }
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
        Some(Expect::Same(Responses(vec![Expected::Status(503)])))
    );
}

/// A story around `steps` (line 8 on) with one instance, `web`, created
/// and started first; `tail` goes after the variants (cases).
fn story(steps: &str, tail: &str) -> String {
    format!(
        "description = \"t\"\n[[instance]]\nname = \"web\"\n[[step]]\nrequest = \"create\"\n\
         instance = \"web\"\nstart = true\n{steps}\n[variants.legacy]\n[variants.omicron]\n\
         [variants.fixed]\n{tail}"
    )
}

fn load(text: &str) -> Result<Scenario, ScenarioError> {
    load_str("t", Path::new("t.toml"), text)
}

fn error(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("loaded, but it is broken on purpose:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_unknown_step_kind_is_named_with_what_it_means() {
    let e = error(&story(
        "[[step]]\nreqest = \"stop\"\ninstance = \"web\"",
        "",
    ));
    assert_eq!(
        e,
        "t.toml:9:1: step 2 field `reqest`: unknown field `reqest`, did you mean \"request\"? \
         (no action: expected one of `request`, `fault`, `arm`, `unpause`, `wait`, `sleep` or \
         `inject`)"
    );
    let e = error(&story("[[step]]\nfault = \"crush\"\nhost = \"db\"", ""));
    assert!(
        e.starts_with("t.toml:9:9: step 2 field `fault`: unknown variant `crush`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean \"crash\"?"), "{e}");
}

#[test]
fn a_misspelt_field_gets_did_you_mean() {
    let e = error(&story(
        "[[step]]\nrequest = \"stop\"\ninstanse = \"web\"",
        "",
    ));
    assert!(
        e.starts_with(
            "t.toml:10:1: step 2 field `instanse`: unknown field `instanse`, expected one of"
        ),
        "{e}"
    );
    assert!(e.ends_with("did you mean \"instance\"?"), "{e}");
    let e = error(&story("[[step]]\nfault = \"crash\"\nhots = \"db\"", ""));
    assert!(
        e.starts_with("t.toml:10:1: step 2 field `hots`: unknown field `hots`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean \"host\"?"), "{e}");
}

#[test]
fn a_wrong_type_names_its_field() {
    let e = error(&story("[[step]]\nrequest = \"stop\"\ninstance = 3", ""));
    assert_eq!(
        e,
        "t.toml:10:12: step 2 field `instance`: invalid type: integer `3`, expected a string"
    );
}

#[test]
fn an_unknown_case_var_gets_did_you_mean() {
    let steps = "[[step]]\narm = \"crash\"\nhost = \"nexus-0\"\npoint = \"${piont}\"";
    let cases = "[[case]]\nname = \"a\"\nvars = { point = \"reincarnation.selected\" }\n";
    let e = error(&story(steps, cases));
    assert_eq!(
        e,
        "t.toml:11:1: step 2 field `point` (case `a`): `${piont}` names no var, did you mean \
         \"point\"?: case `a` sets `point`"
    );
    // A var nothing uses is an error too.
    let cases = "[[case]]\nname = \"a\"\nvars = { point = \"reincarnation.selected\", x = 1 }\n";
    let e = error(&story(steps.replace("piont", "point").as_str(), cases));
    assert!(
        e.contains("case 1 field `vars.x`: var `x` is never used"),
        "{e}"
    );
}

#[test]
fn unpause_of_a_host_not_paused_is_an_error() {
    let e = error(&story(
        "[[step]]\nunpause = true\nhost = \"nexus-0\"\npoint = \"reincarnation.selected\"",
        "",
    ));
    assert_eq!(
        e,
        "t.toml:11:1: step 2 field `point`: nexus-0 is not paused at \"reincarnation.selected\" \
         here: no earlier step arms a pause there (or it was already released)"
    );
    // Armed, then released twice: the second is the error.
    let arm = "[[step]]\narm = \"pause\"\nhost = \"nexus-0\"\npoint = \"reincarnation.selected\"\n";
    let unpause =
        "[[step]]\nunpause = true\nhost = \"nexus-0\"\npoint = \"reincarnation.selected\"\n";
    assert!(load(&story(&format!("{arm}{unpause}"), "")).is_ok());
    let e = error(&story(&format!("{arm}{unpause}{unpause}"), ""));
    assert!(
        e.contains("step 4 field `point`: nexus-0 is not paused"),
        "{e}"
    );
}

#[test]
fn violates_and_must_reach_may_differ_per_case() {
    let steps = "[[step]]\nfault = \"${what}\"\nhost = \"sled-0\"";
    let cases = "[[case]]\nname = \"crash\"\nvars = { what = \"crash\" }\n\
                 [case.variants.legacy]\nviolates = [\"no_unintended_restart\"]\n\
                 must_reach = [{ instance = \"web\", state = \"Failed\" }]\n\
                 [[case]]\nname = \"restart\"\nvars = { what = \"restart\" }\n";
    let s = load(&story(steps, cases)).unwrap_or_else(|e| panic!("{e}"));
    let legacy: Vec<_> = s
        .runs()
        .iter()
        .map(|r| r.plan.variants.get(Variant::Legacy).clone())
        .collect();
    assert_eq!(legacy[0].violates, ["no_unintended_restart"]);
    assert_eq!(legacy[0].must_reach.len(), 1);
    assert!(legacy[1].violates.is_empty() && legacy[1].must_reach.is_empty());
    // A case's expectation is checked like the file's.
    let cases = cases.replace("no_unintended_restart", "no_unintended_restrat");
    let e = error(&story(steps, &cases));
    assert!(e.contains("did you mean \"no_unintended_restart\"?"), "{e}");
}

#[test]
fn long_names_are_cut_in_messages() {
    let name = "w".repeat(100_000);
    let e = error(&story(
        &format!("[[step]]\nrequest = \"stop\"\ninstance = \"{name}\""),
        "",
    ));
    assert!(e.len() < 300, "{} characters", e.len());
    assert!(e.contains("... (100000 characters)"), "{e}");
    let e = error(&story(
        &format!("[[step]]\nfault = \"crash\"\nhost = \"{name}\""),
        "",
    ));
    assert!(e.len() < 300 && e.contains("(100000 characters)"), "{e}");
}

#[test]
fn ranges_in_messages_are_the_real_ones() {
    for (sleds, got) in [("9", "9"), ("300", "300"), ("0", "0"), ("-1", "-1")] {
        let e = error(&story("", "").replace(
            "description",
            &format!("topology = {{ sleds = {sleds} }}\ndescription"),
        ));
        assert!(
            e.ends_with(&format!(
                "field `topology.sleds`: expected 1 to 4, got {got}"
            )),
            "{e}"
        );
    }
    let huge = "[[step]]\nsleep = 9223372036854775807";
    let e = error(&story(huge, ""));
    assert!(
        e.contains("step 2 field `sleep`: expected virtual seconds 0..=86400 (a virtual day)"),
        "{e}"
    );
    let e = error(&story("", "[timings]\nwatcher_period = 0.5\n"));
    assert!(
        e.ends_with("field `timings.watcher_period`: expected a period of at least 1 second"),
        "{e}"
    );
}

#[test]
fn at_earlier_than_the_story_is_an_error() {
    let e = error(&story(
        "[[step]]\nsleep = 100\n[[step]]\nat = 5\nrequest = \"stop\"\ninstance = \"web\"",
        "",
    ));
    assert_eq!(
        e,
        "t.toml:11:1: step 3 field `at`: at 5s is earlier than the story can be by then (100s, \
         after the sleeps before it)"
    );
    assert!(load(&story(
        "[[step]]\nsleep = 100\n[[step]]\nat = 100\nsleep = 1",
        ""
    ))
    .is_ok());
}

#[test]
fn a_folder_named_toml_is_reported() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-files-folder");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("x.toml")).unwrap();
    std::fs::copy("tests/fixtures/valid-minimal.toml", dir.join("y.toml")).unwrap();
    let found = discover(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&found),
        [
            format!("BROKEN {}", dir.join("x.toml").display()),
            "y".to_string()
        ]
    );
    let e = found[0].as_ref().unwrap_err().to_string();
    assert!(e.ends_with("x.toml: not a file"), "{e}");
}

#[test]
fn the_excerpt_shows_the_line_and_marks_the_field() {
    let e = broken("unknown-host");
    let plain = e.excerpt(false).expect("a placed error has an excerpt");
    let file = std::fs::read_to_string("tests/fixtures/broken/unknown-host.toml").unwrap();
    let line = file.lines().nth(21).unwrap();
    assert!(
        plain.starts_with(&format!("error: {}", e.message)),
        "{plain}"
    );
    assert!(
        plain.contains("--> tests/fixtures/broken/unknown-host.toml:22:1"),
        "{plain}"
    );
    assert!(plain.contains(&format!("22 | {line}")), "{plain}");
    assert!(plain.contains("^^^^ step 3 field `host`"), "{plain}");
    // Colours only when asked; an error without a position has none.
    assert!(e.excerpt(true).unwrap().contains('\u{1b}'));
    assert_eq!(
        ScenarioError::file(Path::new("a.toml"), "cannot read").excerpt(false),
        None
    );
}

/// Every step kind, fault kind, condition kind and field, as serde's own
/// messages list them from the types, is named in scenarios/README.md.
#[test]
fn readme_documents_every_step_kind_and_field() {
    use serde::de::DeserializeOwned;
    fn listed<T: DeserializeOwned + std::fmt::Debug>(toml: &str) -> Vec<String> {
        let e = toml::from_str::<T>(toml).unwrap_err().message().to_string();
        let list: Vec<String> = match e.split_once("available keys: ") {
            Some((_, keys)) => keys.split(", ").map(str::to_string).collect(),
            None => e
                .split_once("expected")
                .map_or("", |(_, t)| t)
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
        };
        list.into_iter()
            .filter(|k: &String| !k.is_empty())
            .collect()
    }
    use intent_sim::plan::{InjectNode, PlanStep};
    let readme = readme();
    let mut missing = Vec::new();
    let mut need = |what: String, forms: Vec<String>| {
        if !forms.iter().any(|f| readme.contains(f.as_str())) {
            missing.push(what);
        }
    };
    let field = |f: &str| vec![format!("`{f}`"), format!("`{f} =")];
    // A step's `action` is the nested form only: in the file its kind's
    // key sits beside `at`.
    let step = listed::<PlanStep>("zzz = 1")
        .into_iter()
        .filter(|f| f != "action");
    for f in step.chain(listed::<InjectNode>("zzz = 1")) {
        need(format!("field {f}"), field(&f));
    }
    let actions = listed::<Action>("zzz = 1");
    assert!(actions.len() >= 7, "{actions:?}");
    for kind in &actions {
        need(format!("step kind {kind}"), vec![format!("`{kind} =")]);
        if kind != "fault" {
            for f in listed::<Action>(&format!("[{kind}]\nzzz = 1")) {
                need(format!("field {f} of {kind}"), field(&f));
            }
        }
    }
    let faults = listed::<Fault>("zzz = 1");
    assert_eq!(faults, <Fault as strum::VariantNames>::VARIANTS);
    for kind in &faults {
        need(format!("fault kind {kind}"), vec![format!("\"{kind}\"")]);
        for f in listed::<Fault>(&format!("[{kind}]\nzzz = 1")) {
            need(format!("field {f} of fault {kind}"), field(&f));
        }
    }
    for kind in listed::<Condition>("zzz = 1") {
        need(format!("condition {kind}"), field(&kind));
        for f in listed::<Condition>(&format!("[{kind}]\nzzz = 1")) {
            need(format!("field {f} of condition {kind}"), field(&f));
        }
    }
    assert!(
        missing.is_empty(),
        "scenarios/README.md does not document: {missing:?}"
    );
}

/// Runs a story's one plan in `fixed` from seed 1.
fn run_story(steps: &str) -> intent_sim::verdict::RunReport {
    let s = load(&story(steps, "")).unwrap_or_else(|e| panic!("{e}"));
    intent_sim::runner::run(s.plan(), "t", None, Variant::Fixed, 1)
}

#[test]
fn a_wait_for_a_point_counts_only_passes_after_it_was_armed() {
    // The start saga passes MARK_AS_STARTING once; the instance is then
    // stopped, and the pause armed there.
    let before = "[[step]]\nwait = { instance = \"web\", state = \"Running\" }\nwithin = 120\n\
                  [[step]]\nrequest = \"stop\"\ninstance = \"web\"\n\
                  [[step]]\nwait = { instance = \"web\", state = \"Stopped\" }\nwithin = 120\n\
                  [[step]]\narm = \"pause\"\nhost = \"nexus-0\"\npoint = \"start.MARK_AS_STARTING.after_log\"\n";
    let wait = "[[step]]\nwait = { point = \"start.MARK_AS_STARTING.after_log\", host = \"nexus-0\" }\nwithin = 30\n";
    // Nothing passes the point after the arm: the wait is not satisfied by
    // the start saga's pass before it.
    let r = run_story(&format!("{before}{wait}"));
    assert!(
        r.divergences
            .iter()
            .any(|d| d.starts_with("waited for nexus-0 reaches start.MARK_AS_STARTING.after_log")),
        "{:?}",
        r.divergences
    );
    // A start after the arm passes it: the wait ends there, paused.
    let start = "[[step]]\nrequest = \"start\"\ninstance = \"web\"\nno_wait = true\n";
    let unpause = "[[step]]\nunpause = true\nhost = \"nexus-0\"\npoint = \"start.MARK_AS_STARTING.after_log\"\n";
    let r = run_story(&format!("{before}{start}{wait}{unpause}"));
    assert!(r.divergences.is_empty(), "{:?}", r.divergences);
}

#[test]
fn a_turmoil_limit_is_a_harness_limit_not_a_crash() {
    // More requests at once than turmoil queues on Nexus's listening
    // socket (`tcp_capacity`, 4096).
    let get = "[[step]]\nrequest = \"get\"\ninstance = \"web\"\nno_wait = true\n";
    let r = run_story(&get.repeat(4200));
    assert_eq!(
        r.verdict(),
        intent_sim::verdict::Verdict::HarnessLimit,
        "{:?}",
        r.crash
    );
    assert_eq!(r.crash, None);
    let limit = r.limit.as_deref().unwrap();
    assert!(
        limit.contains("server socket buffer full") && limit.contains("not a model crash"),
        "{limit}"
    );
    assert!(r
        .mismatch()
        .unwrap()
        .starts_with("harness limit: turmoil's network ran out of room"));
}

#[test]
fn an_expect_table_without_every_variant_round_trips() {
    // `expect`'s table by variant leaves a variant out (no expectation
    // there); writing the plan back keeps it out, and the text loads into
    // the same plan.
    let steps = "[[step]]\nrequest = \"stop\"\ninstance = \"web\"\nexpect = { legacy = 503, fixed = [202, \"none\"] }";
    let plan = load(&story(steps, ""))
        .unwrap_or_else(|e| panic!("{e}"))
        .plan()
        .clone();
    let expect = request(&plan.steps[1].action).expect.clone().unwrap();
    assert_eq!(expect.for_variant(Variant::Omicron), []);
    assert_eq!(
        expect.for_variant(Variant::Fixed),
        [Expected::Status(202), Expected::NoResponse]
    );
    let text = intent_sim::scenario::to_toml(&plan).unwrap();
    assert!(!text.contains("omicron = "), "{text}");
    let back = load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.plan().steps, plan.steps);
}

#[test]
fn a_bad_expect_says_what_it_takes() {
    for bad in [
        "700",
        "\"nope\"",
        "[]",
        "{ legacy = 99 }",
        "{ legasy = 503 }",
    ] {
        let steps = format!("[[step]]\nrequest = \"stop\"\ninstance = \"web\"\nexpect = {bad}");
        let e = error(&story(&steps, ""));
        let want = match bad {
            "[]" => "an empty list accepts no response",
            _ => {
                "expected a status code 100..=599, \"none\", a list of those, or a table by variant"
            }
        };
        assert!(e.starts_with("t.toml:11:"), "{e}");
        assert!(e.contains(&format!("step 2 field `expect`: {want}")), "{e}");
    }
}

/// A sled fault's own fields check themselves as they deserialize
/// (`crate::fault`), each at its field with its real range: the status
/// 400..=599 but not 404, `count` at least 1, `seconds` 1 to a virtual day.
#[test]
fn a_sled_faults_own_fields_are_checked_at_their_field() {
    let fault = "[[step]]\nfault = \"sled_error\"\nhost = \"sled-0\"\ncall = \"put_state\"";
    let range = "a sled error is 400..=599 and not 404";
    for (fields, want) in [
        (
            "status = 404",
            format!("step 2 field `status`: status 404: {range}"),
        ),
        (
            "status = 200",
            format!("step 2 field `status`: status 200: {range}"),
        ),
        (
            "status = \"x\"",
            format!("step 2 field `status`: expected a status: {range}"),
        ),
        (
            "status = 500\ncount = 0",
            "step 2 field `count`: expected a whole number 1..=4294967295".into(),
        ),
        (
            "status = 500\ncount = 99999999999",
            "step 2 field `count`: expected a whole number 1..=".into(),
        ),
        (
            "status = 500\nseconds = 0",
            "step 2 field `seconds`: expected a whole number 1..=86400".into(),
        ),
        (
            "status = 500\nseconds = 86401",
            "step 2 field `seconds`: expected a whole number 1..=86400".into(),
        ),
    ] {
        let e = error(&story(&format!("{fault}\n{fields}"), ""));
        assert!(e.starts_with("t.toml:1"), "{e}");
        assert!(e.contains(&want), "{fields}: {e}");
    }
    let hang = "[[step]]\nfault = \"sled_hang\"\nhost = \"sled-0\"\ncall = \"register\"\ncount = 0";
    let e = error(&story(hang, ""));
    assert!(
        e.contains("step 2 field `count`: expected a whole number 1.."),
        "{e}"
    );
    let ok = format!("{fault}\nstatus = 503\ncount = 2\nseconds = 86400");
    load(&story(&ok, "")).unwrap_or_else(|e| panic!("{e}"));
}

/// An unknown key, kind or var name of any length is cut in the message,
/// and a field on a fault that takes none says so.
#[test]
fn long_unknown_names_are_cut_and_fieldless_faults_say_so() {
    let long = "x".repeat(100_000);
    for steps in [
        format!("[[step]]\nsleep = 1\n{long} = 1"),
        format!("[[step]]\nrequest = \"{long}\"\ninstance = \"web\""),
        format!("[[step]]\nfault = \"{long}\""),
        format!("[[step]]\nrequest = \"stop\"\ninstance = \"${{{long}}}\""),
    ] {
        let e = error(&story(&steps, ""));
        assert!(e.len() < 1_000, "{} characters: {}", e.len(), &e[..300]);
        assert!(e.contains("(100000 characters)"), "{}", &e[..300]);
    }
    let unused = format!("[[case]]\nname = \"a\"\n[case.vars]\n{long} = 1");
    let unterminated = format!("[[step]]\nrequest = \"stop\"\ninstance = \"${{{long}\"");
    for e in [error(&story("", &unused)), error(&story(&unterminated, ""))] {
        let head = &e[..e.len().min(300)];
        assert!(e.len() < 1_000, "{} characters: {head}", e.len());
        assert!(e.contains("characters)"), "{head}");
    }
    let e = error(&story("[[step]]\nfault = \"upgrade\"\nhost = \"db\"", ""));
    assert!(
        e.contains("unknown field `host`, there are no fields"),
        "{e}"
    );
}
