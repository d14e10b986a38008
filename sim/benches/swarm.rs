//! How fast the harness runs, in CPU time, and where the time goes.
//!
//! ```text
//! cargo bench -p intent-sim --bench swarm                  # every measurement, swarm seeds 0..40
//! cargo bench -p intent-sim --bench swarm -- 0..200        # another seed range
//! cargo bench -p intent-sim --bench swarm -- interleaved   # one measurement (see below)
//! ```
//!
//! The machine this runs on is a shared 2-core VM: wall time measures the
//! neighbours. Every figure here is therefore **CPU time** of the measuring
//! thread (`CLOCK_THREAD_CPUTIME_ID`), or of the process for the 2-thread
//! measurement (`CLOCK_PROCESS_CPUTIME_ID`); wall time is shown beside it
//! only where scaling needs it. A plain `main` (no bench framework): divan
//! and criterion time wall clock.
//!
//! Measurements (name them on the command line to run some only):
//!
//! - `swarm`: swarm seeds per CPU-second in each variant, one thread; and
//!   the mean seed's virtual seconds, steps and hosts.
//! - `scenarios`: seeds per CPU-second of every scenario case (fixed
//!   variant, seeds 0..4).
//! - `interleaved`: per swarm seed, in turn: the run with checking, the
//!   same run with checking off, and a bare turmoil world of the same
//!   hosts, tick and steps whose hosts do nothing. Gives the checking
//!   ratio and the ratio to bare turmoil; interleaving puts the three under
//!   the same machine load.
//! - `idle`: the share of steps in which nothing was recorded (no model
//!   event, request, fault or point).
//! - `threads`: the same seeds on 1 and on 2 threads: process CPU per seed
//!   (does a second thread cost CPU?) and wall speedup (noisy here).

use intent_sim::catalog;
use intent_sim::cli;
use intent_sim::runner::Checking;
use intent_sim::world::TICK;
use model::fixes::FixSet;
use model::variant::Variant;
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// The seed range measured unless one is given on the command line.
const DEFAULT_SEEDS: Range<u64> = 0..40;

/// Seeds per scenario case in `scenarios`.
const SCENARIO_SEEDS: Range<u64> = 0..4;

/// The target of issue 11: swarm seeds per CPU-second, one thread.
const TARGET: f64 = 40.0;

/// CPU time of a clock (`libc::CLOCK_THREAD_CPUTIME_ID` or
/// `libc::CLOCK_PROCESS_CPUTIME_ID`).
fn cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn thread_cpu() -> Duration {
    cpu(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Runs `f` and returns its result and the CPU time this thread spent.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = thread_cpu();
    let out = f();
    (out, thread_cpu() - t)
}

fn main() {
    let mut seeds = DEFAULT_SEEDS;
    let mut only = BTreeSet::new();
    const NAMES: [&str; 5] = ["swarm", "scenarios", "interleaved", "idle", "threads"];
    for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
        if NAMES.contains(&a.as_str()) {
            only.insert(a);
        } else {
            match cli::parse_seeds(&a) {
                Ok(r) => seeds = r,
                Err(e) => {
                    eprintln!("error: {e}; or name a measurement: {}", NAMES.join(", "));
                    std::process::exit(2);
                }
            }
        }
    }
    let wants = |n: &str| only.is_empty() || only.contains(n);
    println!(
        "intent-sim bench: swarm seeds {}..{}, tick {} ms, release build, CPU time",
        seeds.start,
        seeds.end,
        TICK.as_millis()
    );
    // Warm-up: page in the code and the allocator.
    let swarm = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    for seed in 0..2 {
        catalog::run(&swarm, None, Variant::Fixed, seed).expect("the swarm runs");
    }
    if wants("swarm") {
        swarm_rate(seeds.clone());
    }
    if wants("scenarios") {
        scenarios();
    }
    if wants("interleaved") {
        interleaved(seeds.clone());
    }
    if wants("idle") {
        idle(seeds.clone());
    }
    if wants("threads") {
        threads(seeds);
    }
}

/// One swarm run: (CPU time, virtual ms, steps, hosts).
fn one_swarm(variant: Variant, seed: u64, checking: Checking) -> (Duration, u64, u64, u64) {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let ((r, shape), took) = timed(|| {
        catalog::run_with(&s, None, variant, &FixSet::none(), seed, checking)
            .expect("the swarm runs")
    });
    let hosts = shape.map_or(0, |sh| 3 + u64::from(sh.nexus) + u64::from(sh.sleds));
    (took, r.ended_at.0, r.steps, hosts)
}

fn swarm_rate(seeds: Range<u64>) {
    let n = (seeds.end - seeds.start) as f64;
    println!("\n[swarm] seeds per CPU-second, one thread (target {TARGET} in the fixed variant)");
    for variant in Variant::ALL {
        let (mut cpu, mut virt, mut steps, mut hosts) = (Duration::ZERO, 0, 0, 0);
        for seed in seeds.clone() {
            let (c, v, s, h) = one_swarm(variant, seed, Checking::On);
            cpu += c;
            virt += v;
            steps += s;
            hosts += h;
        }
        println!(
            "  {variant:<8} {:>6.1} seeds/CPU-s  {:>5.1} ms/seed  mean seed: {:.0} virtual s, {:.0} steps, {:.1} hosts, {:.1} us/step",
            n / cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / n,
            virt as f64 / 1000.0 / n,
            steps as f64 / n,
            hosts as f64 / n,
            cpu.as_secs_f64() * 1e6 / steps as f64,
        );
    }
}

fn scenarios() {
    println!(
        "\n[scenarios] seeds per CPU-second, fixed variant, seeds {}..{} per case",
        SCENARIO_SEEDS.start, SCENARIO_SEEDS.end
    );
    for s in catalog::all().unwrap_or_else(|e| panic!("{e}")) {
        if s.plan().is_swarm() {
            continue;
        }
        let cases = catalog::cases(&s);
        let mut cpu = Duration::ZERO;
        let mut runs = 0u32;
        for case in &cases {
            for seed in SCENARIO_SEEDS {
                let (_, took) = timed(|| {
                    catalog::run(&s, case.as_deref(), Variant::Fixed, seed).expect("it runs")
                });
                cpu += took;
                runs += 1;
            }
        }
        println!(
            "  {:<42} {:>2} cases {:>7.1} runs/CPU-s  {:>5.1} ms/run",
            s.name,
            cases.len(),
            f64::from(runs) / cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / f64::from(runs)
        );
    }
}

/// A bare turmoil world of `hosts` idle hosts (one of them the client),
/// the harness's tick and latencies, stepped `steps` times; with
/// `skip_idle` its idle hosts are skipped (vendored turmoil patch 3, as the
/// harness runs), without it every host runs every step (turmoil as
/// published).
fn bare_turmoil(hosts: u64, steps: u64, skip_idle: bool) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(0)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(TICK)
        .min_message_latency(Duration::ZERO)
        .max_message_latency(TICK)
        .simulation_duration(TICK * (steps as u32 + 10))
        .tcp_capacity(4096)
        .skip_idle_hosts(skip_idle)
        .build();
    for i in 0..hosts - 1 {
        sim.host(format!("host-{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    sim.client("workload", async {
        std::future::pending::<()>().await;
        Ok(())
    });
    for _ in 0..steps {
        sim.step().expect("idle hosts do not fail");
    }
}

fn interleaved(seeds: Range<u64>) {
    let n = (seeds.end - seeds.start) as f64;
    let (mut on, mut off) = (Duration::ZERO, Duration::ZERO);
    let (mut bare, mut stepping) = (Duration::ZERO, Duration::ZERO);
    for seed in seeds.clone() {
        let (c_on, _, steps, hosts) = one_swarm(Variant::Fixed, seed, Checking::On);
        let (c_off, ..) = one_swarm(Variant::Fixed, seed, Checking::Off);
        let ((), c_bare) = timed(|| bare_turmoil(hosts, steps, false));
        let ((), c_stepping) = timed(|| bare_turmoil(hosts, steps, true));
        on += c_on;
        off += c_off;
        bare += c_bare;
        stepping += c_stepping;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    println!("\n[interleaved] fixed variant, per seed in turn: checked, unchecked, bare turmoil (every host every step, and skipping idle hosts)");
    println!("  checked:    {:>6.2} ms/seed", ms(on));
    println!(
        "  unchecked:  {:>6.2} ms/seed   checking ratio {:.3} (target <= 1.1)",
        ms(off),
        on.as_secs_f64() / off.as_secs_f64()
    );
    println!(
        "  bare turmoil, same hosts/tick/steps: {:>6.2} ms/seed   swarm / bare {:.2}x (bare is {:.0}% of a seed)",
        ms(bare),
        on.as_secs_f64() / bare.as_secs_f64(),
        100.0 * bare.as_secs_f64() / on.as_secs_f64()
    );
    // What a stepper that jumps straight to the next event would save is
    // the cost of stepping through idle ticks: the bare world with every
    // host idle and skipped. Without it, a seed costs its events only.
    let limit = on.saturating_sub(stepping);
    println!(
        "  bare turmoil skipping idle hosts: {:>6.2} ms/seed (the cost of stepping through idle ticks)",
        ms(stepping)
    );
    println!(
        "  event-driven limit (checked minus that): {:>6.2} ms/seed   swarm / limit {:.2}x (target <= 2)",
        ms(limit),
        on.as_secs_f64() / limit.as_secs_f64()
    );
}

fn idle(seeds: Range<u64>) {
    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
    let (mut steps, mut busy) = (0u64, 0u64);
    for seed in seeds {
        let (r, _) = catalog::run(&s, None, Variant::Fixed, seed).expect("the swarm runs");
        let ticks: BTreeSet<u64> = r.records.iter().map(|x| x.at.0).collect();
        steps += r.steps;
        busy += ticks.len() as u64;
    }
    println!("\n[idle] fixed variant: steps in which nothing was recorded");
    println!(
        "  {:.1}% of {steps} steps idle ({busy} steps with a record)",
        100.0 * (steps - busy) as f64 / steps as f64
    );
}

fn threads(seeds: Range<u64>) {
    let run_on = |jobs: u64| {
        let next = AtomicU64::new(seeds.start);
        let p0 = cpu(libc::CLOCK_PROCESS_CPUTIME_ID);
        let w0 = Instant::now(); // determinism-ok: a benchmark, outside every run
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    let s = catalog::find("swarm").unwrap_or_else(|e| panic!("{e}"));
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds.end {
                            break;
                        }
                        catalog::run(&s, None, Variant::Fixed, seed).expect("the swarm runs");
                    }
                });
            }
        });
        (cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - p0, w0.elapsed())
    };
    let n = (seeds.end - seeds.start) as f64;
    let (c1, w1) = run_on(1);
    let (c2, w2) = run_on(2);
    println!("\n[threads] fixed variant swarm, process CPU and wall");
    println!(
        "  1 thread:  {:>6.2} CPU-ms/seed  wall {:>6.2} s",
        c1.as_secs_f64() * 1000.0 / n,
        w1.as_secs_f64()
    );
    println!(
        "  2 threads: {:>6.2} CPU-ms/seed  wall {:>6.2} s   CPU per seed ratio {:.2}, wall speedup {:.2}x (wall is shared-machine noise)",
        c2.as_secs_f64() * 1000.0 / n,
        w2.as_secs_f64(),
        c2.as_secs_f64() / c1.as_secs_f64(),
        w1.as_secs_f64() / w2.as_secs_f64()
    );
}
