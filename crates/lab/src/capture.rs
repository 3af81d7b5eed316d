//! BGP withdrawals on the wire: `tshark` on a router's `eth0`, every UPDATE that withdraws
//! something recorded with its packet time, source and withdrawn prefixes. Benches time
//! "endpoint gone → withdrawal on the wire" with it. Dropping it stops tshark (by PID).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{LabError, Result};

/// One withdrawing UPDATE: packet time (seconds since the epoch), source address, the
/// withdrawn prefixes as tshark prints them (comma separated).
pub type Withdrawal = (f64, String, String);

/// A running capture of withdrawals in one namespace.
pub struct WithdrawalCapture {
    child: Child,
    withdrawals: Arc<Mutex<Vec<Withdrawal>>>,
}

impl WithdrawalCapture {
    /// Starts tshark on `eth0` in namespace `namespace` (BGP only, UPDATEs only); returns once
    /// it captures (it needs about 2 s).
    pub fn start(namespace: &str) -> Result<WithdrawalCapture> {
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", namespace, "tshark", "-i", "eth0", "-l", "-n",
            ])
            .args(["-f", "tcp port 179", "-Y", "bgp.type == 2"])
            .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src"])
            .args(["-e", "bgp.withdrawn_prefix"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError(format!("cannot start tshark: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LabError("tshark has no output".into()))?;
        let withdrawals = Arc::new(Mutex::new(Vec::new()));
        let sink = withdrawals.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                let fields: Vec<&str> = line.split('\t').collect();
                if let [time, source, withdrawn] = fields[..]
                    && !withdrawn.is_empty()
                    && let Ok(time) = time.parse::<f64>()
                {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push((
                        time,
                        source.to_string(),
                        withdrawn.to_string(),
                    ));
                }
            }
        });
        std::thread::sleep(Duration::from_secs(2));
        Ok(WithdrawalCapture { child, withdrawals })
    }

    /// The packet time of the first withdrawal of `prefix` (an address, as tshark prints it)
    /// from `source` at or after `after` (seconds since the epoch).
    pub fn first_withdrawal_after(&self, after: f64, source: &str, prefix: &str) -> Option<f64> {
        self.withdrawals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(time, from, prefixes)| {
                *time >= after && from == source && prefixes.split(',').any(|p| p == prefix)
            })
            .map(|(time, _, _)| *time)
    }
}

impl Drop for WithdrawalCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
