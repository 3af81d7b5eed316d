//! A Kubernetes control plane (`tools/kube`), on loopback or inside a lab namespace, whose
//! etcd and kube-apiserver can be killed (SIGKILL: no goodbye to any client) and started again
//! with the same command line and the same data, for the Kubernetes fault tests: the API
//! server restarting, etcd restarting while the API server keeps answering (errors).
//!
//! Its state lives on tmpfs (`/dev/shm`) when there is one: etcd's fsyncs are then free, so
//! thousands of writes measure the API server and IronLB, not the disk (a quarter faster here).
//!
//! `up.sh` starts the processes, so they are not this process's children; a process started
//! again here is one, and is reaped. Everything is stopped by PID when the plane is dropped:
//! `down.sh` reads `DIR/pids`, where a restarted process replaces the one it stands for.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Namespace;

/// A process of the control plane that a test can kill and start again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
}

impl Component {
    /// Its program's name, as `DIR/pids` and `down.sh` know it.
    pub fn program(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
        }
    }
}

/// How a killed component is started again: its command line as it ran.
#[derive(Clone, Debug)]
pub struct Stopped {
    pub component: Component,
    pub command_line: Vec<String>,
}

/// A control plane serving at one address, of this process's network namespace or of a lab
/// namespace (where the lab's node namespaces reach it; kubectl then runs inside it too).
pub struct Plane {
    pub dir: PathBuf,
    pub bin: PathBuf,
    namespace: Option<Namespace>,
    /// Processes started again by [`Plane::start_again`], reaped on drop.
    restarted: Vec<Child>,
}

type Result<T> = std::result::Result<T, String>;

impl Plane {
    /// Builds the control plane (cached) and starts etcd and kube-apiserver, inside
    /// `namespace` if given, serving at `address` (an address of that namespace, e.g.
    /// 127.0.0.1); state in a fresh directory named after `name`.
    pub fn start(name: &str, namespace: Option<&Namespace>, address: &str) -> Result<Plane> {
        let bin = crate::kube::build(false)?;
        let tmpfs = Path::new("/dev/shm");
        let base = if tmpfs.is_dir() {
            tmpfs.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("ironlb-kfaults-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut up = match namespace {
            Some(namespace) => namespace.command("env"),
            None => Command::new("env"),
        };
        let up = up
            .arg(format!("IRONLB_KUBE_BIN={}", bin.display()))
            .arg(crate::kube::tools().join("up.sh"))
            .arg(&dir)
            .arg(address)
            .output()
            .map_err(|e| format!("cannot run tools/kube/up.sh: {e}"))?;
        let plane = Plane {
            dir,
            bin,
            namespace: namespace.cloned(),
            restarted: Vec::new(),
        };
        if !up.status.success() {
            return Err(format!(
                "tools/kube/up.sh failed: {}{}",
                String::from_utf8_lossy(&up.stdout),
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Ok(plane)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A command run where the plane serves (inside its namespace, if it has one).
    pub fn command(&self, program: &str) -> Command {
        match &self.namespace {
            Some(namespace) => namespace.command(program),
            None => Command::new(program),
        }
    }

    /// kubectl where the plane serves; stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        crate::kube::kubectl(
            &self.bin,
            &self.kubeconfig(),
            self.namespace.as_ref().map(Namespace::name),
            args,
            stdin,
        )
    }

    /// What the API server answers to `/readyz` (asked with a short timeout), or kubectl's
    /// error.
    pub fn readyz(&self) -> Result<String> {
        self.kubectl(&["get", "--raw", "/readyz", "--request-timeout=5s"], None)
    }

    /// Whether the API server says it is ready.
    pub fn ready(&self) -> bool {
        self.readyz().is_ok_and(|answer| answer.trim() == "ok")
    }

    /// Waits until the API server is ready.
    pub fn wait_ready(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        crate::wait_for("the API server's /readyz", timeout, || {
            self.ready().then_some(())
        })
        .map_err(|e| format!("{e}\n{}", self.log_tail(Component::ApiServer, 20)))?;
        Ok(start.elapsed())
    }

    /// The component's PID as `DIR/pids` records it.
    pub fn pid(&self, component: Component) -> Option<u32> {
        read_pids(&self.dir)
            .into_iter()
            .rev()
            .find(|(name, _)| name == component.program())
            .map(|(_, pid)| pid)
    }

    /// SIGKILLs the component and waits until it is gone; returns how to start it again.
    pub fn kill(&mut self, component: Component) -> Result<Stopped> {
        let pid = self.pid(component).ok_or_else(|| {
            format!(
                "{} is not in {}/pids",
                component.program(),
                self.dir.display()
            )
        })?;
        let command_line = command_line(pid);
        // A PID is signalled only while it is the recorded program (as down.sh checks).
        let program = command_line
            .first()
            .and_then(|arg0| Path::new(arg0).file_name())
            .map(|name| name.to_string_lossy().into_owned());
        if program.as_deref() != Some(component.program()) {
            return Err(format!(
                "PID {pid} is not {} any more ({command_line:?})",
                component.program()
            ));
        }
        crate::run("kill", &["-KILL", &pid.to_string()]).map_err(|e| e.to_string())?;
        if let Some(index) = self.restarted.iter().position(|c| c.id() == pid) {
            let mut child = self.restarted.remove(index);
            let _ = child.wait();
        }
        crate::wait_for(
            &format!("{} (PID {pid}) to exit", component.program()),
            Duration::from_secs(30),
            || (!alive(pid)).then_some(()),
        )
        .map_err(|e| e.to_string())?;
        Ok(Stopped {
            component,
            command_line,
        })
    }

    /// Starts a killed component again, with the same command line (same data, ports and
    /// certificates), where it ran; its output is appended to its log.
    pub fn start_again(&mut self, stopped: &Stopped) -> Result<()> {
        let program = stopped.component.program();
        let (first, rest) = stopped
            .command_line
            .split_first()
            .ok_or_else(|| format!("no command line for {program}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{program}.log")))
            .map_err(|e| format!("{program}.log: {e}"))?;
        let errors = log.try_clone().map_err(|e| e.to_string())?;
        let child = self
            .command(first)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("cannot start {program} again: {e}"))?;
        let pid = child.id();
        self.restarted.push(child);
        // down.sh stops what DIR/pids names: the new process instead of the killed one.
        let mut pids = read_pids(&self.dir);
        pids.retain(|(name, _)| name != program);
        pids.push((program.to_string(), pid));
        let text: String = pids
            .iter()
            .map(|(name, pid)| format!("{name} {pid}\n"))
            .collect();
        std::fs::write(self.dir.join("pids"), text).map_err(|e| format!("pids: {e}"))
    }

    /// The last `lines` lines of a component's log.
    pub fn log_tail(&self, component: Component, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join(format!("{}.log", component.program())))
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let _ = Command::new(crate::kube::tools().join("down.sh"))
            .arg(&self.dir)
            .arg("--keep")
            .status();
        for mut child in self.restarted.drain(..) {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if panicking {
            eprintln!("control plane files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `DIR/pids`: (program, PID) in start order.
fn read_pids(dir: &Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, pid) = line.split_once(' ')?;
            Some((name.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

/// A process's command line, from /proc.
fn command_line(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// Running (a zombie waiting for its parent has exited).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_file_lines_are_read_in_order() {
        let dir = std::env::temp_dir().join(format!("ironlb-kfaults-pids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pids"), "etcd 10\nkube-apiserver 12\nbroken\n").unwrap();
        assert_eq!(
            read_pids(&dir),
            [("etcd".to_string(), 10), ("kube-apiserver".to_string(), 12)]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_process_is_alive_and_has_a_command_line() {
        assert!(alive(std::process::id()));
        assert!(!command_line(std::process::id()).is_empty());
    }
}
