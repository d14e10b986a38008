use intent_sim::plan::*;
use intent_sim::runner;
use model::event::ApiOp;
use model::states::ExternalState;
use model::variant::Variant;
use std::time::Duration;

fn main() {
    let plan = Plan {
        name: "smoke".into(),
        nexus_count: 1,
        sled_count: 2,
        sled_capacity: 4,
        timings: Default::default(),
        instances: [("web".to_string(), None)].into_iter().collect(),
        steps: vec![
            PlanStep {
                at: None,
                action: Action::Request {
                    op: ApiOp::Create {
                        start: true,
                        auto_restart_policy: None,
                    },
                    instance: "web".into(),
                    expect: vec![Expected::Status(201)],
                    wait: true,
                },
            },
            PlanStep {
                at: None,
                action: Action::Wait {
                    cond: Condition::State {
                        instance: "web".into(),
                        state: ExternalState::Running,
                    },
                    within: Duration::from_secs(60),
                },
            },
            PlanStep {
                at: None,
                action: Action::Fault(FaultAction::ForgetVmm("web".into())),
            },
            PlanStep {
                at: None,
                action: Action::Request {
                    op: ApiOp::Stop,
                    instance: "web".into(),
                    expect: vec![Expected::Status(503)],
                    wait: true,
                },
            },
            PlanStep {
                at: None,
                action: Action::Wait {
                    cond: Condition::State {
                        instance: "web".into(),
                        state: ExternalState::Failed,
                    },
                    within: Duration::from_secs(60),
                },
            },
            PlanStep {
                at: None,
                action: Action::Sleep(Duration::from_secs(120)),
            },
        ],
        expected_violations: Default::default(),
        must_reach: vec![],
        is_swarm: false,
        without_fixes: Default::default(),
    };
    let variant = Variant::parse(&std::env::args().nth(1).unwrap_or("omicron".into())).unwrap();
    let r = runner::run(&plan, "smoke", None, variant, 1);
    for rec in &r.records {
        println!("{}", intent_sim::trace::render(rec, &r.names));
    }
    println!(
        "verdict {} div {:?} hung {:?} crash {:?} steps {} end {}",
        r.verdict(),
        r.divergences,
        r.hung,
        r.crash,
        r.steps,
        r.ended_at
    );
}
