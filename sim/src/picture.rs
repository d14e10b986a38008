//! Pictures of one run: the story as a Mermaid sequence diagram (hosts as
//! participants; requests and responses as arrows, saga milestones, db
//! writes, VMM changes, faults and decisions as notes, the violation
//! marked), and the whole trace as JSON lines.

use crate::record::{Record, RecordKind, WorkloadEvent};
use crate::trace;
use crate::verdict::RunReport;
use model::event::Event;
use model::ids::{HostId, ReqId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The longest a diagram's message may be, in characters.
const MAX_TEXT: usize = 90;

/// Text Mermaid shows as written: no statement separators, entity codes or
/// line breaks; cut to [`MAX_TEXT`].
fn clean(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("--> ")
        .or_else(|| s.strip_prefix("<-- "))
        .unwrap_or(s)
        .replace("->", "→");
    let s: String = s
        .chars()
        .map(|c| match c {
            ';' => ',',
            '#' => 'n',
            '\n' | '\r' | '\t' => ' ',
            '<' => '(',
            '>' => ')',
            c => c,
        })
        .collect();
    let s = s.trim();
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// A participant id for a host (`nexus-0` becomes `nexus_0`).
fn id(h: &HostId) -> String {
    h.to_string().replace('-', "_")
}

/// The text of a record after its time and host.
fn text(r: &Record, report: &RunReport) -> String {
    let line = trace::render(r, &report.names);
    // `render` writes the time (9 wide), the host (9 wide), then the text.
    line.get(20..).unwrap_or(&line).trim().to_string()
}

/// The run's story as a Mermaid sequence diagram.
pub fn mermaid(report: &RunReport) -> String {
    let story: Vec<&Record> = report
        .records
        .iter()
        .filter(|r| trace::in_story(r))
        .filter(|r| !matches!(r.kind, RecordKind::Model(Event::HostStarted)))
        .collect();
    // Which Nexus answered each request, to draw the arrow to it.
    let mut answered: BTreeMap<ReqId, HostId> = BTreeMap::new();
    for r in &report.records {
        if let RecordKind::Model(Event::ApiAccepted { req, .. } | Event::ApiRejected { req, .. }) =
            &r.kind
        {
            answered.entry(*req).or_insert(r.host);
        }
    }
    let mut hosts: Vec<HostId> = report.records.iter().map(|r| r.host).collect();
    hosts.extend(answered.values().copied());
    hosts.sort();
    hosts.dedup();
    let mut out = String::from("sequenceDiagram\n");
    for h in &hosts {
        let _ = writeln!(out, "    participant {} as {h}", id(h));
    }
    let first_nexus = hosts
        .iter()
        .find(|h| matches!(h, HostId::Nexus(_)))
        .copied()
        .unwrap_or(HostId::Db);
    for r in story {
        let at = format!("{}ms", r.at.0);
        let here = id(&r.host);
        match &r.kind {
            RecordKind::Workload(WorkloadEvent::RequestSent { req, .. }) => {
                let to = id(answered.get(req).unwrap_or(&first_nexus));
                let _ = writeln!(out, "    {here}->>{to}: {at} {}", clean(&text(r, report)));
            }
            RecordKind::Workload(WorkloadEvent::Outcome { req, .. }) => {
                let from = id(answered.get(req).unwrap_or(&first_nexus));
                let _ = writeln!(
                    out,
                    "    {from}-->>{here}: {at} {}",
                    clean(&text(r, report))
                );
            }
            RecordKind::Model(Event::InstanceWrite { .. } | Event::VmmWrite { .. })
                if r.host != HostId::Db =>
            {
                let _ = writeln!(out, "    {here}->>db: {at} {}", clean(&text(r, report)));
            }
            RecordKind::Model(Event::SledPutState { sled, .. }) => {
                let to = id(&HostId::Sled(*sled));
                if to == here {
                    let _ = writeln!(
                        out,
                        "    Note over {here}: {at} {}",
                        clean(&text(r, report))
                    );
                } else {
                    let _ = writeln!(out, "    {here}->>{to}: {at} {}", clean(&text(r, report)));
                }
            }
            _ => {
                let _ = writeln!(
                    out,
                    "    Note over {here}: {at} {}",
                    clean(&text(r, report))
                );
            }
        }
    }
    let (first, last) = (id(&hosts[0]), id(&hosts[hosts.len() - 1]));
    for v in &report.violations {
        let _ = writeln!(
            out,
            "    Note over {first},{last}: {}ms VIOLATED {}",
            v.at.0,
            clean(&v.signature())
        );
    }
    for d in report.divergences.iter().take(1) {
        let _ = writeln!(out, "    Note over {first},{last}: DIVERGED {}", clean(d));
    }
    if let Some(h) = &report.hung {
        let _ = writeln!(out, "    Note over {first},{last}: HUNG {}", clean(h));
    }
    if let Some(c) = &report.crash {
        let _ = writeln!(out, "    Note over {first},{last}: CRASHED {}", clean(c));
    }
    out
}

/// One trace record as JSON.
#[derive(Serialize)]
struct JsonRecord {
    /// Virtual ms.
    at_ms: u64,
    host: String,
    /// The trace line's text (after time and host).
    text: String,
    /// Whether the story (a snapshot) keeps it.
    story: bool,
}

/// The whole trace as JSON lines, one object per record.
pub fn json_lines(report: &RunReport) -> String {
    let mut out = String::new();
    for r in &report.records {
        let rec = JsonRecord {
            at_ms: r.at.0,
            host: r.host.to_string(),
            text: text(r, report),
            story: trace::in_story(r),
        };
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(&rec).expect("a record serialises")
        );
    }
    out
}
