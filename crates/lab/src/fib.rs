//! Watching a router's kernel FIB: every change of one prefix's next hops, timestamped, so a
//! fault's effect is counted where traffic feels it (a next hop removed is traffic lost).
//!
//! `ip monitor route nexthop` runs in the router's namespace; each event that names the prefix
//! or a nexthop object makes the watcher read the route again (`ip route show PREFIX`), and a
//! changed set of next hops is recorded. The resolution is the time of one `ip` run (a few
//! milliseconds): a next hop removed and put back faster than that could be missed, which FRR
//! does not do (a removal lasts at least until a new UPDATE is processed).

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fabric::parse_next_hops;
use crate::{LabError, Namespace, Result};

/// One recorded state: from `at` on, the prefix had these next hops (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FibState {
    pub at: Instant,
    pub next_hops: Vec<Ipv4Addr>,
}

/// A running watch of one prefix in one namespace. Dropping it stops `ip monitor` (by PID).
pub struct FibWatch {
    prefix: String,
    history: Arc<Mutex<Vec<FibState>>>,
    monitor: Child,
}

impl FibWatch {
    /// Starts watching `prefix` (an address, as `ip route show` takes it) in `namespace`.
    pub fn start(namespace: &Namespace, prefix: &str) -> Result<FibWatch> {
        let mut monitor = Command::new("ip")
            .args(["-n", namespace.name(), "monitor", "route", "nexthop"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| LabError(format!("cannot start ip monitor: {e}")))?;
        let stdout = monitor
            .stdout
            .take()
            .ok_or_else(|| LabError("ip monitor has no output".into()))?;
        let history = Arc::new(Mutex::new(Vec::new()));
        let read = {
            let namespace = namespace.clone();
            let prefix = prefix.to_string();
            move || {
                let hops = namespace
                    .ip(&["route", "show", &prefix])
                    .map(|text| parse_next_hops(&text))
                    .unwrap_or_default();
                (Instant::now(), hops)
            }
        };
        record(&history, read());
        {
            let history = history.clone();
            let prefix = prefix.to_string();
            let read = read.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let line = line.trim_start_matches("Deleted ").trim_start();
                    if line.starts_with(&prefix) || line.starts_with("id ") {
                        record(&history, read());
                    }
                }
            });
        }
        // The monitor is listening once it answers; a read after that catches what came
        // before it did.
        std::thread::sleep(Duration::from_millis(50));
        let now = read();
        record(&history, now);
        Ok(FibWatch {
            prefix: prefix.to_string(),
            history,
            monitor,
        })
    }

    /// Every recorded state, oldest first.
    pub fn history(&self) -> Vec<FibState> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The next hops now (as last recorded).
    pub fn current(&self) -> Vec<Ipv4Addr> {
        self.history()
            .last()
            .map(|state| state.next_hops.clone())
            .unwrap_or_default()
    }

    /// How many times `hop` left the set after `since`.
    pub fn removals(&self, hop: Ipv4Addr, since: Instant) -> usize {
        let history = self.history();
        history
            .windows(2)
            .filter(|pair| pair[1].at >= since)
            .filter(|pair| pair[0].next_hops.contains(&hop) && !pair[1].next_hops.contains(&hop))
            .count()
    }

    /// When, after `since`, the set first satisfied `condition` (the state recorded at or
    /// before `since` counts from `since`).
    pub fn first(
        &self,
        since: Instant,
        condition: impl Fn(&[Ipv4Addr]) -> bool,
    ) -> Option<Instant> {
        let history = self.history();
        let start = history
            .iter()
            .rposition(|state| state.at <= since)
            .unwrap_or(0);
        history[start..]
            .iter()
            .find(|state| condition(&state.next_hops))
            .map(|state| state.at.max(since))
    }

    /// Waits until the set satisfies `condition`, at most `timeout`; returns when it first
    /// did after `since`.
    pub fn wait(
        &self,
        what: &str,
        since: Instant,
        timeout: Duration,
        condition: impl Fn(&[Ipv4Addr]) -> bool,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.first(since, &condition) {
                return Ok(at);
            }
            if Instant::now() > deadline {
                return Err(LabError(format!(
                    "timed out after {timeout:?} waiting for {what} ({} via {:?})",
                    self.prefix,
                    self.current()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
    }
}

fn record(history: &Mutex<Vec<FibState>>, (at, next_hops): (Instant, Vec<Ipv4Addr>)) {
    let mut history = history.lock().unwrap_or_else(|e| e.into_inner());
    if history
        .last()
        .is_none_or(|last| last.next_hops != next_hops)
    {
        history.push(FibState { at, next_hops });
    }
}
