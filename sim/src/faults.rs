//! The faults in force during a run: crashed hosts, lost sleds, partitions,
//! holds and power-cut links. [`Faults::apply`] injects one [`Fault`] into
//! the turmoil world and records it; [`Faults::heal`] ends them all (every
//! host but lost sleds up, the network whole).

use crate::fault::Fault;
use crate::record::RecordKind;
use crate::recorder::Recorder;
use crate::workload::Command;
use crate::world::World;
use model::ids::{HostId, InstanceId, NexusId, SledId};
use model::mgs::PowerState;
use model::probe::SledFault;
use model::sled_agent::api::SledRequest;
use std::collections::BTreeSet;
use std::time::Duration;

/// What is broken right now.
#[derive(Default)]
pub struct Faults {
    /// Hosts down (crashed, powered off, halted at a point, or lost).
    pub crashed: BTreeSet<HostId>,
    /// Sleds powered off for good (until a restart names them).
    pub lost: BTreeSet<SledId>,
    partitions: Vec<(HostId, HostId, bool)>,
    /// The links a power loss cut, per host, repaired when it restarts.
    powered_off: Vec<(HostId, Vec<HostId>)>,
    holds: Vec<(HostId, HostId)>,
}

impl Faults {
    /// Sleds up: neither lost nor crashed.
    pub fn sleds_up(&self, sleds: u8) -> BTreeSet<SledId> {
        (0..sleds)
            .map(SledId)
            .filter(|s| !self.lost.contains(s) && !self.crashed.contains(&HostId::Sled(*s)))
            .collect()
    }

    /// A host halted at an armed point: it is down like a crash.
    pub fn halted(&mut self, world: &mut World<'_>, recorder: &Recorder, host: HostId) {
        world.sim.crash(host.name());
        model::probe::clear_halted(host);
        self.crashed.insert(host);
        recorder.record(host, RecordKind::Fault(Fault::Crash { host }));
    }

    /// Injects `f` and records it.
    pub fn apply(&mut self, world: &mut World<'_>, recorder: &Recorder, f: &Fault) {
        let on = match f {
            Fault::Crash { host } => {
                if self.crashed.insert(*host) {
                    world.sim.crash(host.name());
                }
                *host
            }
            Fault::PowerLoss { host } => {
                let others: Vec<HostId> = all_hosts(&world.config)
                    .into_iter()
                    .filter(|o| o != host)
                    .collect();
                for o in &others {
                    world.sim.partition(host.name(), o.name());
                }
                self.powered_off.push((*host, others));
                if self.crashed.insert(*host) {
                    world.sim.crash(host.name());
                }
                *host
            }
            Fault::Restart { host } => {
                self.reconnect(world, *host);
                world.sim.bounce(host.name());
                model::probe::clear_halted(*host);
                self.crashed.remove(host);
                // Restarting a lost sled means its power came back.
                if let HostId::Sled(s) = host {
                    if self.lost.remove(s) {
                        world.workload.borrow_mut().push(Command::SetPower {
                            sled: *s,
                            state: PowerState::A0,
                        });
                    }
                }
                *host
            }
            Fault::LoseSled { sled } => {
                let h = HostId::Sled(*sled);
                if self.crashed.insert(h) {
                    world.sim.crash(h.name());
                }
                self.lost.insert(*sled);
                world.workload.borrow_mut().push(Command::SetPower {
                    sled: *sled,
                    state: PowerState::A2,
                });
                h
            }
            Fault::Partition { a, b, oneway } => {
                if *oneway {
                    world.sim.partition_oneway(a.name(), b.name());
                } else {
                    world.sim.partition(a.name(), b.name());
                }
                self.partitions.push((*a, *b, *oneway));
                *a
            }
            Fault::Repair { a, b, oneway } => {
                if *oneway {
                    world.sim.repair_oneway(a.name(), b.name());
                } else {
                    world.sim.repair(a.name(), b.name());
                }
                self.partitions
                    .retain(|(x, y, _)| !((x == a && y == b) || (!*oneway && x == b && y == a)));
                *a
            }
            Fault::Hold { a, b, deliver_late } => {
                world.sim.hold(a.name(), b.name());
                self.holds.push((*a, *b));
                if *deliver_late {
                    recorder.set_delivers_late(*a, *b, true);
                }
                *a
            }
            Fault::Release { a, b } => {
                world.sim.release(a.name(), b.name());
                self.holds.retain(|(x, y)| !(x == a && y == b));
                recorder.set_delivers_late(*a, *b, false);
                *a
            }
            Fault::GuestShutdown { instance }
            | Fault::ForgetVmm { instance }
            | Fault::VmmFailsBooting { instance } => {
                recorder.record(HostId::Workload, RecordKind::Fault(f.clone()));
                if let Some((sled, id)) = placement(world, recorder, instance) {
                    let request = match f {
                        Fault::GuestShutdown { .. } => {
                            SledRequest::SimGuestShutdown { instance: id }
                        }
                        Fault::VmmFailsBooting { .. } => {
                            SledRequest::SimFailBooting { instance: id }
                        }
                        _ => SledRequest::SimForgetVmm { instance: id },
                    };
                    world
                        .workload
                        .borrow_mut()
                        .push(Command::SledHook { sled, request });
                }
                return;
            }
            Fault::SledError {
                sled,
                call,
                count,
                seconds,
                ..
            }
            | Fault::SledHang {
                sled,
                call,
                count,
                seconds,
            } => {
                let fault = match f {
                    Fault::SledError { status, .. } => SledFault::Status(*status),
                    _ => SledFault::Hang,
                };
                recorder.arm_sled_fault(
                    *sled,
                    *call,
                    fault,
                    *count,
                    seconds.map(Duration::from_secs),
                );
                HostId::Sled(*sled)
            }
            Fault::SledAgentRestartKeepsVmms { sled } => {
                // Only the sled agent's process restarts: no Crash or
                // Restart is recorded, so the checkers' view of the sled
                // keeps its VMMs, which run on with nobody managing them.
                let h = HostId::Sled(*sled);
                recorder.record(h, RecordKind::Fault(f.clone()));
                world.sim.bounce(h.name());
                return;
            }
            Fault::Upgrade {} => {
                self.upgrade(world, recorder);
                return;
            }
        };
        recorder.record(on, RecordKind::Fault(f.clone()));
    }

    /// PR #8053's offline upgrade: every Nexus down, the schema update's
    /// back-fill on the db (`model::db::schema_update`), every Nexus back
    /// in the run's variant.
    fn upgrade(&mut self, world: &mut World<'_>, recorder: &Recorder) {
        let nexuses: Vec<HostId> = (0..world.config.nexus_count)
            .map(|n| HostId::Nexus(NexusId(n)))
            .collect();
        for h in &nexuses {
            if self.crashed.insert(*h) {
                world.sim.crash(h.name());
            }
        }
        let mut events = Vec::new();
        world
            .db
            .borrow_mut()
            .migrate_instance_intended_state(&mut events);
        for e in events {
            recorder.record(HostId::Db, RecordKind::Model(e));
        }
        let to = world.variant;
        world.nexus_variant.set(to);
        world.config.variant = to;
        recorder.record(HostId::Db, RecordKind::Upgrade { to });
        for h in nexuses {
            self.reconnect(world, h);
            world.sim.bounce(h.name());
            model::probe::clear_halted(h);
            self.crashed.remove(&h);
        }
    }

    /// Repairs the links a power loss of `h` cut.
    fn reconnect(&mut self, world: &mut World<'_>, h: HostId) {
        let (cut, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.powered_off)
            .into_iter()
            .partition(|(x, _)| *x == h);
        self.powered_off = kept;
        for (_, others) in cut {
            for o in others {
                world.sim.repair(h.name(), o.name());
            }
        }
    }

    /// The heal: faults stop, every host but lost sleds is up, the network
    /// is whole, paused hosts go on.
    pub fn heal(&mut self, world: &mut World<'_>, recorder: &Recorder) {
        for (host, point) in recorder.disarm_all() {
            recorder.record(host, RecordKind::Unpause { host, point });
        }
        for (a, b, oneway) in std::mem::take(&mut self.partitions) {
            if oneway {
                world.sim.repair_oneway(a.name(), b.name());
            } else {
                world.sim.repair(a.name(), b.name());
            }
        }
        for (a, b) in std::mem::take(&mut self.holds) {
            world.sim.release(a.name(), b.name());
            recorder.set_delivers_late(a, b, false);
        }
        let crashed: Vec<HostId> = self.crashed.iter().copied().collect();
        for h in crashed {
            self.reconnect(world, h);
            if matches!(h, HostId::Sled(s) if self.lost.contains(&s)) {
                continue;
            }
            world.sim.bounce(h.name());
            model::probe::clear_halted(h);
            self.crashed.remove(&h);
        }
        recorder.record(HostId::Workload, RecordKind::Heal);
    }
}

fn all_hosts(config: &model::config::ModelConfig) -> Vec<HostId> {
    let mut hosts = vec![HostId::Db, HostId::Mgs, HostId::Workload];
    hosts.extend((0..config.nexus_count).map(|n| HostId::Nexus(NexusId(n))));
    hosts.extend((0..config.sled_count).map(|s| HostId::Sled(SledId(s))));
    hosts
}

/// The sled of an instance's newest VMM.
fn placement(world: &World<'_>, recorder: &Recorder, name: &str) -> Option<(SledId, InstanceId)> {
    let id = recorder.id_of(name)?;
    let vmm = recorder.newest_vmm(id)?;
    let db = world.db.borrow();
    Some((db.vmm(vmm)?.sled_id, id))
}
