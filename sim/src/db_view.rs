//! omdb's view of the db at one moment of a run: the `instance`, `vmm` and
//! `saga` tables as an operator reads them with `omdb db instances`, `omdb
//! db vmms` and `omdb db sagas running` (omicron
//! `dev-tools/omdb/src/bin/omdb/db.rs`, `db/saga.rs`), for `cargo sim run
//! ... --db [--at SECONDS]`.
//!
//! Why a copy: the runner takes a [`DbView`] of the db rows the harness
//! already reads for its final checks (read-only, through the db's public
//! getters) when virtual time first passes the moment asked for, so the
//! tables show exactly the rows the trace lines up to that moment wrote.
//! Columns and layout follow omdb (tabled, empty style, one space between
//! columns; the saga table in psql style); values are spelled as the trace
//! spells them (`Running`, `g3`, `v-1a2b3c4d`, `12.400s` of virtual time),
//! deleted rows included with their `TIME_DELETED` (omdb's
//! `--include-deleted`), sagas in every state (omdb lists the running).

use model::db::rows::{InstanceRow, NodeEventKind, SagaRow, SagaState, VmmRow};
use model::db::Db;
use model::ids::{InstanceId, Millis};
use model::nexus::decisions::compute_state;
use model::nexus::sagas::node_name;
use std::collections::BTreeMap;
use std::fmt::Write;
use tabled::settings::{Padding, Style};
use tabled::{Table, Tabled};

/// The three tables at virtual time `at`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DbView {
    /// The moment, in virtual ms from the start of the run: the tables hold
    /// every write whose trace line is stamped at or before it.
    pub at: Millis,
    /// The `instance` rows, deleted ones included, in id order.
    pub instances: Vec<InstanceRow>,
    /// The `vmm` rows, deleted ones included, in id order.
    pub vmms: Vec<VmmRow>,
    /// The `saga` rows with their last `saga_node_event`, oldest first.
    pub sagas: Vec<SagaView>,
}

/// One `saga` row and where its log stands.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SagaView {
    /// The `saga` row as the db holds it (its params are not shown).
    pub row: SagaRow,
    /// The last `saga_node_event`: the node's index and what happened.
    pub last_event: Option<(u16, NodeEventKind)>,
}

impl DbView {
    /// Copies the tables out of `db` (read-only), labelled `at`.
    pub fn of(db: &Db, at: Millis) -> DbView {
        let mut sagas: Vec<SagaView> = db
            .sagas()
            .map(|s| SagaView {
                row: s.clone(),
                last_event: db.saga_log(s.id).last().map(|e| (e.node, e.kind)),
            })
            .collect();
        sagas.sort_by_key(|s| (s.row.time_created, s.row.id));
        DbView {
            at,
            instances: db.instances().cloned().collect(),
            vmms: db.vmms().cloned().collect(),
            sagas,
        }
    }

    /// The three tables, each under an omdb-style banner, with instance
    /// names from `names` (the trace's). Without `tracks_intent` (the
    /// `legacy` variant: before PR #8053 the column does not exist) the
    /// INTENT column shows omdb's `-`.
    pub fn render(&self, names: &BTreeMap<InstanceId, String>, tracks_intent: bool) -> String {
        let name = |id: InstanceId| names.get(&id).cloned().unwrap_or_else(|| "-".into());
        let vmm = |id| self.vmms.iter().find(|v| v.id == id);
        let instances = self.instances.iter().map(|i| {
            let active = i.runtime.propolis_id.and_then(vmm);
            InstanceLine {
                id: i.id.to_string(),
                state: compute_state(i, active).to_string(),
                intent: if tracks_intent {
                    i.intended_state.to_string()
                } else {
                    "-".into()
                },
                nexus_state: i.runtime.nexus_state.to_string(),
                gen: i.runtime.gen.to_string(),
                propolis_id: or_dash(i.runtime.propolis_id),
                sled_id: or_dash(active.map(|v| v.sled_id)),
                updater_lock: match i.updater_id {
                    Some(l) => format!("LOCKED by {l}"),
                    None => "UNLOCKED".into(),
                },
                updater_gen: i.updater_gen.to_string(),
                time_updated: i.runtime.time_updated.to_string(),
                time_deleted: or_dash(i.time_deleted),
                name: name(i.id),
            }
        });
        let vmms = self.vmms.iter().map(|v| VmmLine {
            instance_id: v.instance_id.to_string(),
            id: v.id.to_string(),
            state: v.runtime.state.to_string(),
            failure_reason: or_dash(v.failure_reason),
            gen: v.runtime.gen.to_string(),
            sled: v.sled_id.to_string(),
            time_deleted: or_dash(v.time_deleted),
            instance: name(v.instance_id),
        });
        let sagas = self.sagas.iter().map(|s| {
            let (last_node_event, next_node) = s.progress();
            SagaLine {
                id: s.row.id.to_string(),
                current_sec: s.row.current_sec.to_string(),
                time_created: s.row.time_created.to_string(),
                name: s.row.name.to_string(),
                state: format!("{:?}", s.row.state),
                instance: name(s.row.instance_id),
                last_node_event,
                next_node,
            }
        });
        let plain = |t: &mut Table| {
            t.with(Style::empty()).with(Padding::new(0, 1, 0, 0));
        };
        let mut out = String::new();
        let mut section = |title: &str, table: Table| {
            let _ = writeln!(out, "\n{:=<80}", format!("== {title} "));
            // omdb's padding leaves a space after the last column: trimmed.
            for line in table.to_string().lines() {
                let _ = writeln!(out, "{}", line.trim_end());
            }
        };
        let mut t = Table::new(instances);
        plain(&mut t);
        section("INSTANCES (omdb db instances)", t);
        let mut t = Table::new(vmms);
        plain(&mut t);
        section("VMMS (omdb db vmms --include-deleted)", t);
        let mut t = Table::new(sagas);
        t.with(Style::psql());
        section("SAGAS (omdb db sagas, every state)", t);
        out
    }
}

impl SagaView {
    /// The last logged node event (`MARK_AS_STARTING done`) and, while the
    /// saga runs forward, the node it is at: the one after the last done.
    fn progress(&self) -> (String, String) {
        let Some((node, kind)) = self.last_event else {
            let first = node_name(self.row.name, 0).unwrap_or("-");
            let next = match self.row.state {
                SagaState::Running => first,
                _ => "-",
            };
            return ("-".into(), next.into());
        };
        let named = node_name(self.row.name, node).unwrap_or("?");
        let what = match kind {
            NodeEventKind::Done => "done",
            NodeEventKind::Failed => "failed",
            NodeEventKind::UndoDone => "undone",
            NodeEventKind::UndoFailed => "undo failed",
        };
        let next = match (self.row.state, kind) {
            (SagaState::Running, NodeEventKind::Done) => {
                node_name(self.row.name, node + 1).unwrap_or("-")
            }
            _ => "-",
        };
        (format!("{named} {what}"), next.into())
    }
}

/// A value, or omdb's `-` for NULL.
fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A row of `omdb db instances` (its `CustomerInstanceRow`, with the
/// runtime columns `omdb db instance info` shows).
#[derive(Tabled)]
#[tabled(rename_all = "SCREAMING_SNAKE_CASE")]
struct InstanceLine {
    id: String,
    /// The external API state (`InstanceAndActiveVmm::effective_state`).
    state: String,
    intent: String,
    nexus_state: String,
    gen: String,
    propolis_id: String,
    sled_id: String,
    updater_lock: String,
    updater_gen: String,
    time_updated: String,
    time_deleted: String,
    name: String,
}

/// A row of `omdb db vmms --include-deleted` (`VmmRow`, `VmmStateRow`,
/// `WithDeleted`).
#[derive(Tabled)]
#[tabled(rename_all = "SCREAMING_SNAKE_CASE")]
struct VmmLine {
    instance_id: String,
    id: String,
    state: String,
    failure_reason: String,
    gen: String,
    sled: String,
    time_deleted: String,
    instance: String,
}

/// A row of `omdb db sagas running` (`SagaRow`), with where its log stands.
#[derive(Tabled)]
struct SagaLine {
    id: String,
    current_sec: String,
    time_created: String,
    name: String,
    state: String,
    instance: String,
    last_node_event: String,
    next_node: String,
}
