//! Loading scenario files: parse, check, and expand cases into runs.
//!
//! Every problem is a [`ScenarioError`] whose one line names the file, the
//! line and column, the field, and what was expected; nothing a user writes
//! makes the loader panic.

use super::error::ScenarioError;
use super::locate::{FieldPath, Source};
use super::spec::{ScenarioSpec, Step, VariantExpectations};
use super::subst::{self, Vars};
use super::validate::{self, Ctx};
use std::path::{Path, PathBuf};

/// A checked scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's stem: what `cargo sim run <name>` takes.
    pub name: String,
    pub path: PathBuf,
    /// The file as written (before any case's vars are substituted).
    pub spec: ScenarioSpec,
    runs: Vec<ScenarioRun>,
    step_lines: Vec<Option<usize>>,
}

/// One run of a scenario: its timeline with one case's vars written in (or
/// the timeline as written, when the scenario has no cases).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioRun {
    /// The case's name; `None` when the scenario has no cases.
    pub case: Option<String>,
    pub steps: Vec<Step>,
    /// The per-variant expectations, with the case's vars written into
    /// `must_reach` conditions.
    pub variants: VariantExpectations,
}

impl Scenario {
    /// One run per case, in file order; one run when there are no cases.
    /// (The swarm scenario has one run with no steps.)
    pub fn runs(&self) -> Vec<ScenarioRun> {
        self.runs.clone()
    }

    /// The line of the `index`th (0-based) step in the file, to point a
    /// reader at the step a run diverged on.
    pub fn step_line(&self, index: usize) -> Option<usize> {
        self.step_lines.get(index).copied().flatten()
    }

    /// Whether this is the swarm scenario (its plan is drawn from the seed).
    pub fn is_swarm(&self) -> bool {
        self.spec.swarm.is_some()
    }
}

/// Loads and checks one scenario file. Its name is the file's stem.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::file(path, format!("cannot read: {e}")))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    load_str(&name, path, &text)
}

/// Loads and checks a scenario from `text`; `path` names it in messages.
pub fn load_str(name: &str, path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source::parse(path, text)?;
    let spec: ScenarioSpec = toml::from_str(text).map_err(|e| src.serde_error(&e))?;
    validate::spec(&src, &spec)?;

    let mut runs = Vec::new();
    if spec.cases.is_empty() {
        runs.push(expand(&src, &spec, None)?);
    } else {
        for (i, case) in spec.cases.iter().enumerate() {
            let mut vars = Vars::new(Some(case));
            let run = expand_with(&src, &spec, Some(&case.name), &mut vars)?;
            if let Some(unused) = case.vars.keys().find(|v| !vars.used.contains(*v)) {
                let path = FieldPath::root()
                    .key("case")
                    .index(i)
                    .key("vars")
                    .key(unused);
                return Err(src.error(
                    &path,
                    format!("var `{unused}` is never used: no step writes `${{{unused}}}`"),
                ));
            }
            runs.push(run);
        }
    }

    let step_lines = (0..spec.steps.len())
        .map(|i| {
            src.span(&FieldPath::step(i))
                .map(|s| super::error::line_col(text, s.start).0)
        })
        .collect();
    Ok(Scenario {
        name: name.to_string(),
        path: path.to_path_buf(),
        spec,
        runs,
        step_lines,
    })
}

fn expand(
    src: &Source<'_>,
    spec: &ScenarioSpec,
    case: Option<&str>,
) -> Result<ScenarioRun, ScenarioError> {
    expand_with(src, spec, case, &mut Vars::new(None))
}

fn expand_with(
    src: &Source<'_>,
    spec: &ScenarioSpec,
    case: Option<&str>,
    vars: &mut Vars<'_>,
) -> Result<ScenarioRun, ScenarioError> {
    let steps = subst::steps(src, vars, &spec.steps)?;
    let variants = subst::variants(src, vars, &spec.variants)?;
    let ctx = Ctx { src, case };
    validate::run(&ctx, spec, &steps, &variants)?;
    Ok(ScenarioRun {
        case: case.map(str::to_string),
        steps,
        variants,
    })
}

/// Loads every `*.toml` in `dir`, sorted by file name. The first broken
/// file is the error.
pub fn discover(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| ScenarioError::file(dir, format!("cannot read folder: {e}")))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::spec::{Expect, ExpectOne};

    const VARIANTS: &str = "\n[variants.legacy]\n[variants.omicron]\n[variants.fixed]\n";

    /// A scenario with one instance `web` created by its first step, then
    /// `body`, then the variants, then `tail`.
    fn with(body: &str, tail: &str) -> String {
        format!(
            "description = \"t\"\n\n[[instance]]\nname = \"web\"\n\n[[step]]\nrequest = \"create\"\ninstance = \"web\"\nstart = true\n\n{body}{VARIANTS}{tail}"
        )
    }

    fn load(text: &str) -> Result<Scenario, ScenarioError> {
        load_str("t", Path::new("t.toml"), text)
    }

    fn err(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("loaded:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn substitutes_every_string_of_steps_and_must_reach() {
        let text = with(
            "[[step]]\narm = \"crash\"\nhost = \"${nexus}\"\npoint = \"start.${node}.after_log\"\n\n\
             [[step]]\nrequest = \"stop\"\ninstance = \"${inst}\"\nexpect = { legacy = [\"${none}\"], fixed = 503 }\n\n\
             [[step]]\nwait = { point = \"start.${node}.after_log\", host = \"${nexus}\" }\nwithin = 5\n",
            "\n[[case]]\nname = \"a\"\nvars = { nexus = \"nexus-0\", node = \"ALLOC_SERVER\", inst = \"web\", none = \"none\" }\n\n\
             [[case]]\nname = \"b\"\nvars = { nexus = \"nexus-0\", node = \"ENSURE_RUNNING\", inst = \"web\", none = \"none\" }\n",
        )
        .replace(
            "[variants.fixed]",
            "[variants.fixed]\nmust_reach = [{ point = \"start.${node}.after_log\" }]",
        );
        let s = load(&text).unwrap_or_else(|e| panic!("{e}"));
        let runs = s.runs();
        assert_eq!(runs.len(), 2);
        let b = &runs[1];
        assert_eq!(b.case.as_deref(), Some("b"));
        assert_eq!(b.steps[1].host.as_deref(), Some("nexus-0"));
        assert_eq!(
            b.steps[1].point.as_deref(),
            Some("start.ENSURE_RUNNING.after_log")
        );
        assert_eq!(b.steps[2].instance.as_deref(), Some("web"));
        let Some(Expect::ByVariant(t)) = &b.steps[2].expect else {
            panic!("{:?}", b.steps[2].expect)
        };
        assert!(t["legacy"].accepted()[0].is_none());
        assert_eq!(t["fixed"].accepted(), [ExpectOne::Status(503)]);
        let wait = b.steps[3].wait.as_ref().unwrap();
        assert_eq!(
            wait.point.as_deref(),
            Some("start.ENSURE_RUNNING.after_log")
        );
        assert_eq!(
            b.variants.fixed.must_reach[0].point.as_deref(),
            Some("start.ENSURE_RUNNING.after_log")
        );
        // Case a got its own values; the spec keeps the raw text.
        assert_eq!(
            runs[0].steps[1].point.as_deref(),
            Some("start.ALLOC_SERVER.after_log")
        );
        assert_eq!(
            s.spec.steps[1].point.as_deref(),
            Some("start.${node}.after_log")
        );
    }

    #[test]
    fn a_var_without_a_case_is_an_error() {
        let text = with("[[step]]\nfault = \"crash\"\nhost = \"${h}\"\n", "");
        assert_eq!(
            err(&text),
            "t.toml:13:1: step 2 field `host`: `${h}` names no var: this scenario has no [[case]] to set it"
        );
    }

    #[test]
    fn a_var_the_case_does_not_set_is_an_error() {
        let text = with(
            "[[step]]\nfault = \"crash\"\nhost = \"${h}\"\n",
            "\n[[case]]\nname = \"one\"\nvars = { host = \"db\" }\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:13:1: step 2 field `host`: `${h}` names no var: case `one` sets `host`"
        );
    }

    #[test]
    fn an_unused_var_is_an_error() {
        let text = with(
            "[[step]]\nfault = \"crash\"\nhost = \"${h}\"\n",
            "\n[[case]]\nname = \"one\"\n[case.vars]\nh = \"db\"\nspare = \"x\"\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:23:1: case 1 field `vars.spare`: var `spare` is never used: no step writes `${spare}`"
        );
    }

    #[test]
    fn malformed_vars() {
        let text = with("[[step]]\nfault = \"crash\"\nhost = \"${h\"\n", "");
        assert!(
            err(&text).ends_with(
                "step 2 field `host`: unterminated `${` in \"${h\": a var is written `${name}`"
            ),
            "{}",
            err(&text)
        );
        let text = with("[[step]]\nfault = \"crash\"\nhost = \"${1h}\"\n", "");
        assert!(err(&text).contains("`${1h}` is not a var name"));
        let text = with(
            "[[step]]\nsleep = 1\n",
            "\n[[case]]\nname = \"one\"\nvars = { \"a b\" = \"x\" }\n",
        );
        assert!(
            err(&text).contains("case 1 field `vars.a b`: \"a b\" is not a var name"),
            "{}",
            err(&text)
        );
    }

    #[test]
    fn values_are_not_expanded_again() {
        let case = crate::scenario::spec::Case {
            name: "c".into(),
            vars: [("a".to_string(), "${b}".to_string())]
                .into_iter()
                .collect(),
        };
        let mut vars = subst::Vars::new(Some(&case));
        assert_eq!(vars.expand("x-${a}-y").unwrap(), "x-${b}-y");
        assert_eq!(vars.expand("no vars").unwrap(), "no vars");
        assert_eq!(vars.expand("$a {a}").unwrap(), "$a {a}");
    }

    #[test]
    fn a_bad_value_from_a_case_names_the_case() {
        let text = with(
            "[[step]]\narm = \"crash\"\nhost = \"nexus-0\"\npoint = \"${p}\"\n",
            "\n[[case]]\nname = \"good\"\nvars = { p = \"update.after_snapshot\" }\n\
             \n[[case]]\nname = \"bad\"\nvars = { p = \"update.after_snapshto\" }\n",
        );
        assert!(
            err(&text).starts_with(
                "t.toml:14:1: step 2 field `point` (case `bad`): unknown named point \"update.after_snapshto\", did you mean \"update.after_snapshot\"?"
            ),
            "{}",
            err(&text)
        );
    }

    #[test]
    fn topology_ranges() {
        let text = with("", "").replace(
            "description = \"t\"\n",
            "description = \"t\"\n[topology]\nnexus = 4\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:3:1: field `topology.nexus`: expected 1 to 3 Nexus hosts, got 4"
        );
        let text = with("", "").replace(
            "description = \"t\"\n",
            "description = \"t\"\n[topology]\nsleds = 0\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:3:1: field `topology.sleds`: expected 1 to 4 sleds, got 0"
        );
        let text = with("", "").replace(
            "description = \"t\"\n",
            "description = \"t\"\n[timings]\nwatcher_period = 0\n",
        );
        assert!(err(&text)
            .contains("field `timings.watcher_period`: expected a period of at least 1 second"));
    }

    #[test]
    fn one_action_per_step() {
        assert_eq!(
            err(&with("[[step]]\nat = 5\n", "")),
            "t.toml:11:1: step 2: no action: a step sets one of `request`, `fault`, `arm`, `unpause`, `wait` or `sleep`"
        );
        assert_eq!(
            err(&with("[[step]]\nsleep = 5\nfault = \"crash\"\nhost = \"db\"\n", "")),
            "t.toml:12:1: step 2 field `sleep`: a step does one thing, and this one also sets `fault`: split it into two steps"
        );
    }

    #[test]
    fn fields_an_action_needs_and_takes() {
        assert_eq!(
            err(&with("[[step]]\nrequest = \"stop\"\n", "")),
            "t.toml:12:1: step 2 field `instance`: missing: a `stop` request needs `instance`"
        );
        assert_eq!(
            err(&with(
                "[[step]]\nrequest = \"create\"\ninstance = \"web\"\n",
                ""
            )),
            "t.toml:12:1: step 2 field `start`: missing: a `create` request needs `start`"
        );
        assert_eq!(
            err(&with("[[step]]\nrequest = \"stop\"\ninstance = \"web\"\nstart = true\n", "")),
            "t.toml:14:1: step 2 field `start`: `start` does not apply to a `stop` request (it takes `instance`, `expect`, `no_wait`)"
        );
        assert_eq!(
            err(&with(
                "[[step]]\nfault = \"partition\"\nhost = \"db\"\n",
                ""
            )),
            "t.toml:12:1: step 2 field `peer`: missing: a `partition` fault needs `peer`"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"crash\"\n", "")),
            "t.toml:12:1: step 2 field `host`: missing: a `crash` fault needs `host`"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"forget_vmm\"\nhost = \"sled-0\"\n", "")),
            "t.toml:13:1: step 2 field `host`: `host` does not apply to a `forget_vmm` fault (it takes `instance`)"
        );
        assert_eq!(
            err(&with("[[step]]\narm = \"pause\"\nhost = \"nexus-0\"\n", "")),
            "t.toml:12:1: step 2 field `point`: missing: an `arm = \"pause\"` step needs `point`"
        );
        assert_eq!(
            err(&with(
                "[[step]]\nunpause = true\npoint = \"update.after_snapshot\"\n",
                ""
            )),
            "t.toml:12:1: step 2 field `host`: missing: an `unpause` step needs `host`"
        );
        assert_eq!(
            err(&with(
                "[[step]]\nwait = { instance = \"web\", state = \"Running\" }\n",
                ""
            )),
            "t.toml:12:1: step 2 field `within`: missing: a `wait` step needs `within`"
        );
        assert!(err(&with(
            "[[step]]\nwait = { state = \"Running\" }\ninstance = \"web\"\nwithin = 1\n",
            ""
        ))
        .contains("`instance` does not apply to a `wait` step (it takes `within`); a wait names its instance inside the condition"));
        assert_eq!(
            err(&with("[[step]]\nsleep = 5\nwithin = 3\n", "")),
            "t.toml:13:1: step 2 field `within`: `within` does not apply to a `sleep` step (it takes only `at`)"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"hold\"\nhost = \"db\"\npeer = \"nexus-0\"\noneway = true\n", "")),
            "t.toml:15:1: step 2 field `oneway`: `oneway` does not apply to a `hold` fault (it takes `host`, `peer`)"
        );
    }

    #[test]
    fn hosts() {
        let two_sleds = |body: &str| {
            with(body, "").replace(
                "description = \"t\"\n",
                "description = \"t\"\n[topology]\nsleds = 2\n",
            )
        };
        assert_eq!(
            err(&two_sleds("[[step]]\nfault = \"lose_sled\"\nhost = \"sled-2\"\n")),
            "t.toml:15:1: step 2 field `host`: unknown host \"sled-2\" (this scenario has sled-0..sled-1; hosts are db, mgs, nexus-N, sled-N)"
        );
        assert_eq!(
            err(&two_sleds("[[step]]\nfault = \"lose_sled\"\nhost = \"db\"\n")),
            "t.toml:15:1: step 2 field `host`: a `lose_sled` fault needs a sled (sled-0..sled-1), not \"db\""
        );
        assert_eq!(
            err(&two_sleds("[[step]]\nfault = \"crash\"\nhost = \"router\"\n")),
            "t.toml:15:1: step 2 field `host`: unknown host \"router\" (this scenario has nexus-0..nexus-0 and sled-0..sled-1; hosts are db, mgs, nexus-N, sled-N)"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"crash\"\nhost = \"nexus-00\"\n", "")),
            "t.toml:13:1: step 2 field `host`: unknown host \"nexus-00\" (this scenario has nexus-0..nexus-0; hosts are db, mgs, nexus-N, sled-N)"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"crash\"\nhost = \"workload\"\n", "")),
            "t.toml:13:1: step 2 field `host`: a `crash` fault takes db, mgs, nexus-N or sled-N, not \"workload\" (the harness's API client)"
        );
        assert_eq!(
            err(&with("[[step]]\narm = \"crash\"\nhost = \"sled-0\"\npoint = \"update.after_snapshot\"\n", "")),
            "t.toml:13:1: step 2 field `host`: named points are reached only on Nexus hosts (nexus-0..nexus-0), not \"sled-0\""
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"partition\"\nhost = \"db\"\npeer = \"db\"\n", "")),
            "t.toml:14:1: step 2 field `peer`: a `partition` fault needs two different hosts, got db twice"
        );
        assert_eq!(
            err(&with("[[step]]\nfault = \"partition\"\nhost = \"db\"\npeer = \"nexus-3\"\n", "")),
            "t.toml:14:1: step 2 field `peer`: unknown host \"nexus-3\" (this scenario has nexus-0..nexus-0; hosts are db, mgs, workload, nexus-N, sled-N)"
        );
        // The workload may be partitioned from a Nexus.
        load(&with(
            "[[step]]\nfault = \"partition\"\nhost = \"workload\"\npeer = \"nexus-0\"\n",
            "",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn hold_before_a_one_way_partition_is_reported_at_the_later_step() {
        let text = with(
            "[[step]]\nfault = \"partition\"\nhost = \"nexus-0\"\npeer = \"db\"\noneway = true\n\n\
             [[step]]\nfault = \"hold\"\nhost = \"db\"\npeer = \"nexus-0\"\n",
            "",
        );
        assert!(
            err(&text).starts_with(
                "t.toml:18:1: step 3 field `fault`: holds messages between db and nexus-0, but step 2 has nexus-0 -> db partitioned one way:"
            ),
            "{}",
            err(&text)
        );
        // A hold and a one-way partition of different pairs are fine.
        load(&with(
            "[[step]]\nfault = \"partition\"\nhost = \"nexus-0\"\npeer = \"db\"\noneway = true\n\n\
             [[step]]\nfault = \"hold\"\nhost = \"sled-0\"\npeer = \"nexus-0\"\n",
            "",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn checkers() {
        let text = with("[[step]]\nsleep = 1\n", "").replace(
            "[variants.omicron]",
            "[variants.omicron]\nviolates = [\"sagas_settle\", \"no_unintended_restrat\"]",
        );
        assert!(
            err(&text).starts_with(
                "t.toml:16:29: field `variants.omicron.violates[2]`: unknown checker \"no_unintended_restrat\", did you mean \"no_unintended_restart\"? (checkers are no_unintended_restart, "
            ),
            "{}",
            err(&text)
        );
        let text = with("[[step]]\nsleep = 1\n", "").replace(
            "[variants.fixed]",
            "[variants.fixed]\nviolates = [\"sagas_settle\", \"sagas_settle\"]",
        );
        assert!(err(&text).ends_with("checker \"sagas_settle\" is listed twice"));
    }

    #[test]
    fn conditions() {
        let wait = |cond: &str| with(&format!("[[step]]\nwait = {cond}\nwithin = 5\n"), "");
        assert_eq!(
            err(&wait("{ instance = \"web\", state = \"Runing\" }")),
            "t.toml:12:28: step 2 field `wait.state`: unknown instance state \"Runing\", did you mean \"Running\"? (instance states are Creating, Starting, Running, Stopping, Stopped, Rebooting, Migrating, Repairing, Failed, Destroyed)"
        );
        assert!(
            err(&wait("{ instance = \"web\", vmm_state = \"Unwound\" }"))
                .contains("step 2 field `wait.vmm_state`: unknown VMM state \"Unwound\"")
        );
        assert_eq!(
            err(&wait("{ state = \"Running\" }")),
            "t.toml:12:10: step 2 field `wait.instance`: missing: a `state` condition needs `instance`"
        );
        assert_eq!(
            err(&wait("{ instance = \"web\", state = \"Running\", trace = \"x\" }")),
            "t.toml:12:47: step 2 field `wait.trace`: a condition is one thing, and this one also sets `state`: expected one of `state`, `vmm_state`, `point` or `trace`"
        );
        assert!(
            err(&wait("{ instance = \"web\" }")).contains("step 2 field `wait`: empty condition")
        );
        assert!(err(&wait("{ trace = \"x\", host = \"nexus-0\" }"))
            .contains("`host` does not apply to a `trace` condition"));
        assert!(err(&wait("{ instance = \"api\", state = \"Running\" }"))
            .contains("step 2 field `wait.instance`: unknown instance \"api\" (declared in [[instance]]: web)"));
        load(&wait(
            "{ point = \"update.after_snapshot\", host = \"nexus-0\" }",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        // must_reach: any step may create the instance, but some step must.
        let text = with("[[step]]\nsleep = 1\n", "")
            .replace(
                "name = \"web\"\n",
                "name = \"web\"\n[[instance]]\nname = \"api\"\n",
            )
            .replace(
                "[variants.legacy]",
                "[variants.legacy]\nmust_reach = [{ instance = \"api\", state = \"Running\" }]",
            );
        assert!(
            err(&text).contains(
                "field `variants.legacy.must_reach[1].instance`: instance \"api\" is never created"
            ),
            "{}",
            err(&text)
        );
    }

    #[test]
    fn instances() {
        assert_eq!(
            err(&with("[[step]]\nrequest = \"get\"\ninstance = \"api\"\n", "")),
            "t.toml:13:1: step 2 field `instance`: unknown instance \"api\" (declared in [[instance]]: web)"
        );
        let text = with("", "").replace("name = \"web\"\n", "name = \"Web\"\n");
        assert!(err(&text)
            .starts_with("t.toml:4:1: instance 1 field `name`: \"Web\" is not an omicron name"));
        let text = with("", "").replace(
            "name = \"web\"\n",
            "name = \"web\"\n[[instance]]\nname = \"web\"\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:6:1: instance 2 field `name`: instance \"web\" is declared twice"
        );
        assert!(err(&with(
            "[[step]]\nfault = \"guest_shutdown\"\ninstance = \"api\"\n",
            ""
        ))
        .contains("unknown instance \"api\""));
    }

    #[test]
    fn expectations() {
        let stop = |expect: &str| {
            with(
                &format!("[[step]]\nrequest = \"stop\"\ninstance = \"web\"\nexpect = {expect}\n"),
                "",
            )
        };
        assert_eq!(
            err(&stop("700")),
            "t.toml:14:10: step 2 field `expect`: invalid value: integer `700`, expected a status code 100..=599 or \"none\""
        );
        assert_eq!(
            err(&stop("\"nope\"")),
            "t.toml:14:1: step 2 field `expect`: expected a status code 100..=599 or \"none\", got \"nope\""
        );
        assert!(err(&stop("[]")).contains("an empty list accepts no response"));
        assert_eq!(
            err(&stop("[502, 99]")),
            "t.toml:14:16: step 2 field `expect[2]`: invalid value: integer `99`, expected a status code 100..=599 or \"none\""
        );
        assert_eq!(
            err(&stop("true")),
            "t.toml:14:10: step 2 field `expect`: invalid type: boolean `true`, expected a status code 100..=599, \"none\", a list of those, or a table by variant (legacy, omicron, fixed)"
        );
        assert_eq!(
            err(&stop("{ legacy = 503, fixd = 202 }")),
            "t.toml:14:26: step 2 field `expect.fixd`: unknown variant \"fixd\" (expected legacy, omicron or fixed)"
        );
        assert!(err(&stop("{ legacy = { a = 1 } }")).contains(
            "step 2 field `expect.legacy`: invalid type: map, expected a status code 100..=599, \"none\", or a list of those"
        ));
        assert!(err(&stop("{}")).contains("an empty table expects nothing"));
        let s = load(&stop("{ legacy = [202, \"none\"], fixed = 503 }"))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = s.runs()[0].steps[1].expect.clone().unwrap();
        assert_eq!(e.for_variant(model::variant::Variant::Omicron), None);
        assert_eq!(
            e.for_variant(model::variant::Variant::Fixed),
            Some(&[ExpectOne::Status(503)][..])
        );
    }

    #[test]
    fn toml_and_serde_errors() {
        assert_eq!(
            err("description = \"t\"\n[variants.legacy\n"),
            "t.toml:2:17: invalid TOML: unclosed table, expected `]`"
        );
        assert_eq!(
            err(
                "description = \"t\"\n[[step]]\nsleep = 1\n[variants.legacy]\n[variants.omicron]\n"
            ),
            "t.toml:4:2: field `variants`: missing field `fixed`"
        );
        assert_eq!(
            err("[[step]]\nsleep = 1\n"),
            "t.toml:1:1: missing field `description`"
        );
        assert!(err(&with("[[step]]\nrequest = \"crate\"\ninstance = \"web\"\n", ""))
            .starts_with("t.toml:12:11: step 2 field `request`: unknown variant `crate`, expected one of `create`,"));
        assert!(err(&with("", "").replace(
            "[variants.fixed]",
            "[variants.fixed]\nmust_reach = [{ stat = \"x\" }]"
        ))
        .contains("field `variants.fixed.must_reach[1].stat`: unknown field `stat`"));
        assert_eq!(
            err("description = \"t\"\n[topology]\nnexus = 300\n"),
            "t.toml:3:9: field `topology.nexus`: invalid value: integer `300`, expected a whole number 0..=255"
        );
    }

    #[test]
    fn swarm_and_empty_timelines() {
        assert_eq!(
            err(&format!("description = \"t\"\n{VARIANTS}")),
            "t.toml: no [[step]]: a scenario tells its story in steps (only the swarm scenario, with [swarm], has none)"
        );
        let swarm = format!(
            "description = \"t\"\n[swarm]\nfault_phase = 600\nmax_instances = 4\n{VARIANTS}"
        );
        let s = load(&swarm).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.is_swarm());
        assert_eq!(s.runs().len(), 1);
        assert!(err(&with(
            "",
            "\n[swarm]\nfault_phase = 600\nmax_instances = 4\n"
        ))
        .contains("step 1: the swarm scenario draws its plan from the seed: it has no [[step]]"));
    }

    #[test]
    fn cases_are_named_once() {
        let text = with(
            "[[step]]\nsleep = 1\n",
            "\n[[case]]\nname = \"a\"\n[[case]]\nname = \"a\"\n",
        );
        assert_eq!(
            err(&text),
            "t.toml:21:1: case 2 field `name`: case \"a\" is named twice"
        );
    }

    /// No input makes the loader panic: every prefix of a complete file,
    /// and the file with each line dropped or mangled.
    #[test]
    fn no_panics_on_broken_input() {
        let text = with(
            "[[step]]\narm = \"crash\"\nhost = \"${n}\"\npoint = \"start.MARK_AS_STARTING.after_log\"\n\n\
             [[step]]\nrequest = \"stop\"\ninstance = \"web\"\nexpect = { legacy = [503, \"none\"], fixed = 202 }\n\n\
             [[step]]\nwait = { instance = \"web\", state = \"Stopped\" }\nwithin = 10\n\n\
             [[step]]\nfault = \"partition\"\nhost = \"nexus-0\"\npeer = \"sled-0\"\noneway = true\n",
            "\n[[case]]\nname = \"a\"\nvars = { n = \"nexus-0\" }\n",
        )
        .replace(
            "[variants.legacy]",
            "[variants.legacy]\nviolates = [\"sagas_settle\"]\nmust_reach = [{ instance = \"web\", state = \"Failed\" }]",
        );
        load(&text).unwrap_or_else(|e| panic!("{e}"));
        for (i, _) in text.char_indices() {
            let _ = load(&text[..i]);
        }
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            let dropped: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, l)| *l)
                .collect();
            let _ = load(&dropped.join("\n"));
            for junk in [
                "= 1",
                "x = ",
                "é = \"${\"",
                "[[step]]",
                "[step]",
                "}",
                "\"${",
            ] {
                let mut mangled = lines.clone();
                mangled[i] = junk;
                let _ = load(&mangled.join("\n"));
            }
        }
    }
}
