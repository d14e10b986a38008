//! The `mgs` host: a stand-in for the management gateway service, which the
//! instance watcher asks whether an unreachable sled is powered on before
//! failing its VMMs (#10334).

use crate::event::Event;
use crate::ids::{HostId, SledId};
use crate::probe;
use crate::rpc;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A sled's power state as MGS reports it.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub enum PowerState {
    /// Powered on (`A0`).
    A0,
    /// Powered off (`A2`).
    A2,
}

#[derive(Clone, Serialize, Deserialize, Debug)]
pub enum MgsRequest {
    /// What power state is this sled in?
    SledPowerState { sled: SledId },
    /// Test hook, called by the harness's workload host: the sled's power
    /// went off (or came back).
    SimSetPower { sled: SledId, state: PowerState },
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq, Eq)]
pub enum MgsResponse {
    Power(PowerState),
    Ok,
}

/// Runs the `mgs` host: answers `SledPowerState` from its table and lets
/// the harness change it with `SimSetPower`.
///
/// The table is mgs's own in-memory state, seeded from `initial` each time
/// the host starts (a restarted mgs has forgotten any `SimSetPower`; the
/// harness sets power again if it restarts mgs). It is not derived from
/// whether a sled host is up: in omicron MGS asks the service processor,
/// which knows the power state even when the sled agent is unreachable, and
/// here the harness tells mgs through `SimSetPower` when it powers a sled
/// off or on. A sled mgs was never told about is reported `A0`, the state
/// of every sled in a working rack.
pub async fn run(initial: BTreeMap<SledId, PowerState>) -> turmoil::Result {
    probe::emit(HostId::Mgs, Event::HostStarted);
    let table = Rc::new(RefCell::new(initial));
    rpc::serve(HostId::Mgs, rpc::port::MGS, move |req: MgsRequest| {
        let table = table.clone();
        async move {
            match req {
                MgsRequest::SledPowerState { sled } => {
                    MgsResponse::Power(table.borrow().get(&sled).copied().unwrap_or(PowerState::A0))
                }
                MgsRequest::SimSetPower { sled, state } => {
                    table.borrow_mut().insert(sled, state);
                    MgsResponse::Ok
                }
            }
        }
    })
    .await?;
    Ok(())
}
