//! How fast the swarm runs, and how much of that is turmoil itself.
//!
//! ```text
//! cargo bench -p intent-sim --bench swarm            # seeds 0..40
//! cargo bench -p intent-sim --bench swarm -- 0..200  # another range
//! cargo bench -p intent-sim --bench swarm -- swarm    # one measurement (or turmoil)
//! ```
//!
//! **Target: 20 swarm seeds per second per core** (fixed variant, one
//! thread, release build), so that `cargo sim sweep --all --seeds 0..10000`
//! takes minutes, not hours, on a laptop. A sweep runs one seed per thread
//! and scales with cores (turmoil-notes section 3), so one thread is the
//! number to watch.
//!
//! Two measurements, each repeated [`REPS`] times (best and median shown):
//!
//! 1. `swarm`: `catalog::run` of the swarm scenario over a fixed seed range
//!    in the fixed variant on this thread: seeds per second, virtual
//!    seconds per wall second, turmoil steps per second.
//! 2. `turmoil alone`: the floor under it. A bare turmoil world at the
//!    swarm's largest topology (10 hosts: db, mgs, 3 nexus, 4 sleds and the
//!    workload) whose hosts do nothing, stepped for 900 virtual seconds at
//!    the harness's tick ([`intent_sim::world::TICK`]). Every step polls
//!    every host's runtime whether it has work or not, so this is the cost
//!    of virtual time alone; the model, the checkers and the recorder come
//!    on top.
//!
//! Wall-clock time is read here, outside every run: the runs themselves
//! stay deterministic. The machine matters (a shared 2-core VM is noisy);
//! run it when nothing else builds.

use intent_sim::catalog;
use intent_sim::cli;
use intent_sim::world::TICK;
use model::variant::Variant;
use std::ops::Range;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Repetitions of each measurement.
const REPS: usize = 3;

/// The seed range measured unless one is given on the command line.
const DEFAULT_SEEDS: Range<u64> = 0..40;

/// The baseline world: the swarm's largest topology, its usual length.
const IDLE_HOSTS: usize = 10;
const IDLE_VIRTUAL: Duration = Duration::from_secs(900);

/// The target this bench documents.
const TARGET_SEEDS_PER_SEC: f64 = 20.0;

fn main() {
    // `cargo bench` passes `--bench`; a range such as `0..200` picks seeds,
    // and `swarm` or `turmoil` runs that measurement alone.
    let mut seeds = DEFAULT_SEEDS;
    let (mut only_swarm, mut only_turmoil) = (false, false);
    for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        match a.as_str() {
            "swarm" => only_swarm = true,
            "turmoil" => only_turmoil = true,
            range => match cli::parse_seeds(range) {
                Ok(r) => seeds = r,
                Err(e) => {
                    eprintln!("error: {e}; or name a measurement, swarm or turmoil");
                    std::process::exit(2);
                }
            },
        }
    }
    let both = only_swarm == only_turmoil;
    let mean = (both || only_swarm).then(|| swarm(seeds));
    let per_host_step = (both || only_turmoil).then(turmoil_alone);
    // The floor under a mean swarm seed: its steps times its hosts times
    // what one idle host costs per step. An estimate: a crashed host is
    // not polled, so the swarm polls somewhat fewer hosts than it has.
    if let (Some(mean), Some(per_host_step)) = (mean, per_host_step) {
        let floor = per_host_step * mean.hosts * mean.steps;
        println!(
            "turmoil's floor under a mean swarm seed, best passes ({:.1} hosts x {:.0} steps): {:.1} ms of its {:.1} ms ({:.0}%)",
            mean.hosts,
            mean.steps,
            floor * 1000.0,
            mean.wall * 1000.0,
            100.0 * floor / mean.wall
        );
    }
}

/// A mean swarm seed of the best pass: hosts, steps, wall seconds.
struct Mean {
    hosts: f64,
    steps: f64,
    wall: f64,
}

/// One pass over the seeds.
struct Pass {
    wall: Duration,
    virtual_ms: u64,
    steps: u64,
    hosts: u64,
    slowest: (Duration, u64),
    unexpected: Vec<u64>,
}

fn swarm(seeds: Range<u64>) -> Mean {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let n = seeds.end - seeds.start;
    // Warm-up: page in the code and the allocator.
    for seed in seeds.clone().take(2) {
        catalog::run(&s, None, Variant::Fixed, seed).expect("the swarm runs");
    }
    let mut passes = Vec::new();
    for _ in 0..REPS {
        let mut pass = Pass {
            wall: Duration::ZERO,
            virtual_ms: 0,
            steps: 0,
            hosts: 0,
            slowest: (Duration::ZERO, 0),
            unexpected: Vec::new(),
        };
        for seed in seeds.clone() {
            let t = Instant::now(); // determinism-ok: a benchmark times wall clock, outside the runs
            let (r, shape) = catalog::run(&s, None, Variant::Fixed, seed).expect("the swarm runs");
            let took = t.elapsed();
            pass.wall += took;
            pass.virtual_ms += r.ended_at.0;
            pass.steps += r.steps;
            // db, mgs and the workload, plus the drawn Nexus and sleds.
            pass.hosts += shape.map_or(0, |sh| 3 + u64::from(sh.nexus) + u64::from(sh.sleds));
            if took > pass.slowest.0 {
                pass.slowest = (took, seed);
            }
            if !r.matches_expectation() {
                pass.unexpected.push(seed);
            }
        }
        passes.push(pass);
    }
    passes.sort_by_key(|p| p.wall);
    let best = &passes[0];
    let median = &passes[passes.len() / 2];
    let rate = |p: &Pass| n as f64 / p.wall.as_secs_f64();
    let virt = |p: &Pass| p.virtual_ms as f64 / 1000.0 / p.wall.as_secs_f64();
    println!(
        "swarm, fixed variant, seeds {}..{} ({n} seeds), 1 thread, tick {} ms, {REPS} passes",
        seeds.start,
        seeds.end,
        TICK.as_millis()
    );
    println!(
        "  seeds/s:                    best {:>8.1}   median {:>8.1}   (target {TARGET_SEEDS_PER_SEC}/s per core: {})",
        rate(best),
        rate(median),
        if rate(median) >= TARGET_SEEDS_PER_SEC {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  wall ms per seed:           best {:>8.1}   median {:>8.1}   slowest seed {} ({:.1} ms)",
        best.wall.as_secs_f64() * 1000.0 / n as f64,
        median.wall.as_secs_f64() * 1000.0 / n as f64,
        median.slowest.1,
        median.slowest.0.as_secs_f64() * 1000.0
    );
    println!(
        "  virtual s per wall s:       best {:>8.0}   median {:>8.0}",
        virt(best),
        virt(median)
    );
    println!(
        "  turmoil steps per wall s:   best {:>8.0}   median {:>8.0}",
        best.steps as f64 / best.wall.as_secs_f64(),
        median.steps as f64 / median.wall.as_secs_f64()
    );
    println!(
        "  per seed: {:.0} virtual s, {:.0} steps, {:.1} hosts (mean)",
        median.virtual_ms as f64 / 1000.0 / n as f64,
        median.steps as f64 / n as f64,
        median.hosts as f64 / n as f64
    );
    if !median.unexpected.is_empty() {
        println!(
            "  note: not as expected in seeds {:?} (`cargo sim run swarm --seed N` shows why)",
            median.unexpected
        );
    }
    Mean {
        hosts: best.hosts as f64 / n as f64,
        steps: best.steps as f64 / n as f64,
        wall: best.wall.as_secs_f64() / n as f64,
    }
}

/// A bare world of `IDLE_HOSTS` idle hosts stepped for `IDLE_VIRTUAL`.
fn idle_world() -> (Duration, u64) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(0)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(TICK)
        .min_message_latency(Duration::ZERO)
        .max_message_latency(TICK)
        .simulation_duration(IDLE_VIRTUAL + Duration::from_secs(3600))
        .tcp_capacity(4096)
        .build();
    for i in 0..IDLE_HOSTS - 1 {
        sim.host(format!("host-{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    sim.client("workload", async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let t = Instant::now(); // determinism-ok: a benchmark times wall clock, outside the runs
    let mut steps = 0;
    while sim.elapsed() < IDLE_VIRTUAL {
        sim.step().expect("idle hosts do not fail");
        steps += 1;
    }
    (t.elapsed(), steps)
}

/// Returns the wall seconds one idle host costs per step (best pass).
fn turmoil_alone() -> f64 {
    idle_world();
    const WORLDS: usize = 10;
    let mut passes: Vec<(Duration, u64)> = (0..REPS)
        .map(|_| {
            (0..WORLDS).fold((Duration::ZERO, 0), |(w, s), _| {
                let (w1, s1) = idle_world();
                (w + w1, s + s1)
            })
        })
        .collect();
    passes.sort();
    let (best, steps) = passes[0];
    let (median, _) = passes[passes.len() / 2];
    let per = |d: Duration| d.as_secs_f64() / WORLDS as f64;
    let steps = steps / WORLDS as u64;
    println!(
        "turmoil alone: {IDLE_HOSTS} idle hosts, {} virtual s, tick {} ms ({steps} steps), {WORLDS} worlds x {REPS} passes",
        IDLE_VIRTUAL.as_secs(),
        TICK.as_millis()
    );
    println!(
        "  wall ms per world:          best {:>8.2}   median {:>8.2}   (best: {:.2} us per step, {:.3} us per host-step)",
        per(best) * 1000.0,
        per(median) * 1000.0,
        per(best) * 1e6 / steps as f64,
        per(best) * 1e6 / steps as f64 / IDLE_HOSTS as f64
    );
    println!(
        "  worlds/s:                   best {:>8.1}   median {:>8.1}",
        1.0 / per(best),
        1.0 / per(median)
    );
    println!(
        "  virtual s per wall s:       best {:>8.0}   median {:>8.0}",
        IDLE_VIRTUAL.as_secs_f64() / per(best),
        IDLE_VIRTUAL.as_secs_f64() / per(median)
    );
    per(best) / steps as f64 / IDLE_HOSTS as f64
}
