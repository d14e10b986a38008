//! A smoke run: a small story written as a scenario file, loaded into its
//! plan and run in one variant (`cargo run --example smoke -- legacy`).

use intent_sim::runner;
use intent_sim::scenario::load_str;
use model::variant::Variant;
use std::path::Path;

const STORY: &str = r#"
description = "The sled agent forgets web's VMM; a stop finds it gone."
[topology]
sleds = 2
[[instance]]
name = "web"
[[step]]
request = "create"
instance = "web"
start = true
expect = 201
[[step]]
wait = { instance = "web", state = "Running" }
within = 60
[[step]]
fault = "forget_vmm"
instance = "web"
[[step]]
request = "stop"
instance = "web"
expect = 503
[[step]]
wait = { instance = "web", state = "Failed" }
within = 60
[[step]]
sleep = 120
[variants.legacy]
[variants.omicron]
[variants.fixed]
"#;

fn main() {
    let s = load_str("smoke", Path::new("smoke.toml"), STORY).unwrap_or_else(|e| panic!("{e}"));
    let variant = Variant::parse(&std::env::args().nth(1).unwrap_or("omicron".into())).unwrap();
    let r = runner::run(s.plan(), "smoke", None, variant, 1);
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
