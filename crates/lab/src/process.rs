//! Processes started inside namespaces, stopped by PID.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{LabError, Namespace, Result};

/// A process the lab started. Clones share the same child.
#[derive(Clone)]
pub struct Process {
    pid: u32,
    child: Arc<Mutex<Option<Child>>>,
}

impl Process {
    pub(crate) fn spawn(
        namespace: &Namespace,
        program: &str,
        args: &[&str],
        log: &Path,
    ) -> Result<Self> {
        let output = std::fs::File::create(log)
            .map_err(|e| LabError(format!("cannot create {}: {e}", log.display())))?;
        let errors = output.try_clone().map_err(|e| LabError(e.to_string()))?;
        // `ip netns exec` execs the program, so the PID is the program's own.
        let child = Command::new("ip")
            .args(["netns", "exec", namespace.name(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|e| LabError(format!("cannot start {program}: {e}")))?;
        Ok(Process {
            pid: child.id(),
            child: Arc::new(Mutex::new(Some(child))),
        })
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a signal by PID (`TERM`, `KILL`, `STOP`, `CONT`, ...).
    pub fn signal(&self, signal: &str) {
        if self.is_running() {
            let _ = crate::run("kill", &[&format!("-{signal}"), &self.pid.to_string()]);
        }
    }

    /// SIGTERM, up to 3 s to exit, then SIGKILL; always reaps.
    pub fn stop(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut child) = guard.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let _ = crate::run("kill", &["-TERM", &self.pid.to_string()]);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}
