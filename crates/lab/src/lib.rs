//! Test fabrics in network namespaces, with real routers.
//!
//! A [`Lab`] owns everything it creates: namespaces, links, working directories and processes.
//! Dropping it (pass, fail or panic) stops its processes by PID and deletes its namespaces. A
//! lab that died without dropping (SIGKILL) is swept by the next [`Lab::new`]: every namespace
//! name carries the PID of the process that created it, and namespaces whose creator is gone
//! are removed.
//!
//! Only addresses inside the lab's own namespaces are used; nothing is sent anywhere else.

mod process;
mod routers;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use process::Process;
pub mod capture;
pub mod dual_stack;
pub mod fabric;
pub mod faults;
pub mod fib;
pub mod kube;
pub mod kube_faults;
pub mod metallb;
pub use fabric::{Fabric, FabricSpec};
pub use routers::{Bird, Exabgp, Frr, FrrDaemons, Gobgp};

/// Prefix of every namespace a lab creates: `ilb-<pid>-<name>`.
const NAMESPACE_PREFIX: &str = "ilb-";

/// Why a lab could not be built.
#[derive(Debug)]
pub struct LabError(pub String);

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

pub type Result<T> = std::result::Result<T, LabError>;

/// A network namespace of a lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// A namespace that already exists (for tools that re-attach to a running lab).
    pub fn existing(name: &str) -> Namespace {
        Namespace {
            name: name.to_string(),
        }
    }

    /// The name as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS` inside the namespace and returns its standard output.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs a command inside the namespace and returns its standard output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut full = vec!["netns", "exec", &self.name, program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// A `Command` that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

/// Everything a test fabric is made of; torn down on drop.
pub struct Lab {
    name: String,
    directory: PathBuf,
    namespaces: Vec<Namespace>,
    processes: Vec<Process>,
    keep_directory: bool,
}

impl Lab {
    /// A new, empty lab named `name` (a short word: it appears in namespace names). Sweeps
    /// namespaces left by labs whose process died.
    pub fn new(name: &str) -> Result<Self> {
        sweep_stale_namespaces();
        let directory =
            std::env::temp_dir().join(format!("ironlb-lab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory)
            .map_err(|e| LabError(format!("cannot create {}: {e}", directory.display())))?;
        Ok(Lab {
            name: name.to_string(),
            directory,
            namespaces: Vec::new(),
            processes: Vec::new(),
            keep_directory: std::env::var_os("IRONLB_LAB_KEEP").is_some(),
        })
    }

    /// The lab's working directory (configurations, logs, sockets).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// A subdirectory of the lab's, created (and owned by `owner` when given, for daemons that
    /// drop privileges, such as FRR's).
    pub fn subdirectory(&self, name: &str, owner: Option<&str>) -> Result<PathBuf> {
        let path = self.directory.join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| LabError(format!("cannot create {}: {e}", path.display())))?;
        if let Some(owner) = owner {
            let path_text = path.display().to_string();
            run("chown", &[&format!("{owner}:{owner}"), &path_text])?;
            // Daemons running as `owner` must be able to reach the directory.
            let parent = self.directory.display().to_string();
            run("chmod", &["755", &parent])?;
        }
        Ok(path)
    }

    /// Creates a namespace `ilb-<pid>-<lab>-<name>` with its loopback up.
    pub fn namespace(&mut self, name: &str) -> Result<Namespace> {
        let full = format!(
            "{NAMESPACE_PREFIX}{}-{}-{name}",
            std::process::id(),
            self.name
        );
        let _ = run("ip", &["netns", "del", &full]);
        run("ip", &["netns", "add", &full])?;
        let namespace = Namespace { name: full };
        self.namespaces.push(namespace.clone());
        namespace.ip(&["link", "set", "lo", "up"])?;
        // Routers in these namespaces forward between their links.
        namespace.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        namespace.exec("sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"])?;
        // No duplicate address detection on the links made here (each address is unique by
        // construction): an interface's link-local is usable as soon as it is up, so FRR can
        // set IPv6 next hops at once instead of refusing the first sessions.
        namespace.exec("sysctl", &["-qw", "net.ipv6.conf.default.accept_dad=0"])?;
        namespace.exec("sysctl", &["-qw", "net.ipv6.conf.all.accept_dad=0"])?;
        Ok(namespace)
    }

    /// Connects two namespaces with a veth pair and puts addresses (CIDR notation) on the ends.
    pub fn link(
        &mut self,
        a: &Namespace,
        a_interface: &str,
        a_addresses: &[&str],
        b: &Namespace,
        b_interface: &str,
        b_addresses: &[&str],
    ) -> Result<()> {
        run(
            "ip",
            &[
                "link",
                "add",
                "name",
                a_interface,
                "netns",
                &a.name,
                "type",
                "veth",
                "peer",
                "name",
                b_interface,
                "netns",
                &b.name,
            ],
        )?;
        for (namespace, interface, addresses) in
            [(a, a_interface, a_addresses), (b, b_interface, b_addresses)]
        {
            for address in addresses {
                let family = if address.contains(':') { "-6" } else { "-4" };
                namespace.ip(&[family, "addr", "add", address, "dev", interface, "nodad"])?;
            }
            namespace.ip(&["link", "set", interface, "up"])?;
        }
        Ok(())
    }

    /// Starts a process inside a namespace; its output goes to `<lab dir>/<log_name>.log`.
    /// The lab stops it (by PID) when dropped.
    pub fn spawn(
        &mut self,
        namespace: &Namespace,
        log_name: &str,
        program: &str,
        args: &[&str],
    ) -> Result<Process> {
        let log = self.directory.join(format!("{log_name}.log"));
        let process = Process::spawn(namespace, program, args, &log)?;
        self.processes.push(process.clone());
        Ok(process)
    }

    /// Stops one process now (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self, process: &Process) {
        process.stop();
        self.processes.retain(|p| p.pid() != process.pid());
    }

    /// PIDs of the processes the lab started and still tracks.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }

    /// Lets go of everything: dropping the lab then leaves processes, namespaces and the
    /// directory in place (for labs left running on purpose).
    pub fn forget(&mut self) {
        self.processes.clear();
        self.namespaces.clear();
        self.keep_directory = true;
    }

    /// Names of the lab's namespaces.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for process in self.processes.drain(..).rev() {
            process.stop();
        }
        for namespace in self.namespaces.drain(..).rev() {
            kill_namespace_processes(&namespace.name);
            let _ = run("ip", &["netns", "del", &namespace.name]);
        }
        if !self.keep_directory && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.directory);
        } else if !self.namespaces.is_empty() || std::thread::panicking() {
            eprintln!("lab files kept in {}", self.directory.display());
        }
    }
}

/// The smallest lab: namespace `node` and namespace `tor`, one veth between them (`eth0` on
/// both ends) with these addresses. Most interop tests and benchmarks start here.
pub fn node_and_tor(
    name: &str,
    node_addresses: &[&str],
    tor_addresses: &[&str],
) -> Result<(Lab, Namespace, Namespace)> {
    let mut lab = Lab::new(name)?;
    let node = lab.namespace("node")?;
    let tor = lab.namespace("tor")?;
    lab.link(&node, "eth0", node_addresses, &tor, "eth0", tor_addresses)?;
    Ok((lab, node, tor))
}

/// BGP unnumbered's lab: namespaces `node` and `tor` joined by one veth (`eth0` on both ends)
/// with no address but the link-locals the kernel gives it, usable at once: duplicate address
/// detection is off on both ends (`accept_dad=0` before the link comes up). Returns the lab,
/// the namespaces, and the node's and the ToR's link-local addresses.
pub fn unnumbered_node_and_tor(
    name: &str,
) -> Result<(
    Lab,
    Namespace,
    Namespace,
    std::net::Ipv6Addr,
    std::net::Ipv6Addr,
)> {
    let mut lab = Lab::new(name)?;
    let node = lab.namespace("node")?;
    let tor = lab.namespace("tor")?;
    lab.link(&node, "eth0", &[], &tor, "eth0", &[])?;
    let mut link_locals = Vec::new();
    for namespace in [&node, &tor] {
        // Down, DAD off, up: the link-local the kernel adds on the way up is usable at once.
        namespace.ip(&["link", "set", "eth0", "down"])?;
        namespace.exec("sysctl", &["-qw", "net.ipv6.conf.eth0.accept_dad=0"])?;
        namespace.ip(&["link", "set", "eth0", "up"])?;
        let address = wait_for(
            "the kernel's link-local address on eth0",
            std::time::Duration::from_secs(10),
            || {
                let text = namespace
                    .ip(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"])
                    .ok()?;
                if text.contains("tentative") {
                    return None;
                }
                text.split_whitespace()
                    .skip_while(|word| *word != "inet6")
                    .nth(1)
                    .and_then(|cidr| cidr.split('/').next())
                    .and_then(|address| address.parse::<std::net::Ipv6Addr>().ok())
            },
        )?;
        link_locals.push(address);
    }
    Ok((lab, node, tor, link_locals[0], link_locals[1]))
}

/// Runs a command, returning stdout or an error with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| LabError(format!("cannot run {program}: {e}")))?;
    if !output.status.success() {
        return Err(LabError(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Stops the processes still running inside a namespace, by the PIDs the kernel lists for it.
pub(crate) fn kill_namespace_processes(namespace: &str) {
    let Ok(pids) = run("ip", &["netns", "pids", namespace]) else {
        return;
    };
    for pid in pids
        .split_whitespace()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        let _ = run("kill", &["-KILL", pid]);
    }
}

/// Removes namespaces of labs whose creating process no longer exists.
pub fn sweep_stale_namespaces() {
    let Ok(list) = run("ip", &["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next() else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            kill_namespace_processes(name);
            let _ = run("ip", &["netns", "del", name]);
        }
    }
}

/// Whether this process can build labs (root, `ip`, namespaces). `Err` says what is missing.
pub fn check_prerequisites(programs: &[&str]) -> Result<()> {
    let uid = run("id", &["-u"])?;
    if uid.trim() != "0" {
        return Err(LabError("needs root (network namespaces)".into()));
    }
    for program in std::iter::once("ip").chain(programs.iter().copied()) {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program} || test -x {program}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Err(LabError(format!(
                "{program} is not installed (apt-get install frr bird2 gobgpd exabgp tshark, or run .ci/run)"
            )));
        }
    }
    Ok(())
}

/// The environment variable naming the skip log: when set, every skipped test appends one
/// line `test: reason` to that file (`scripts/test` sets it and counts the lines, so a skip is
/// reported as one, not as a pass). Cargo runs each test binary in its package's directory,
/// so the path should be absolute.
pub const SKIP_LOG_VARIABLE: &str = "IRONLB_SKIP_LOG";

/// For tests: `true` when the lab can run. Outside CI a missing prerequisite skips the test
/// with a loud message and a line in the skip log ([`record_skip`]); in CI (`CI=true`) it
/// fails the test.
pub fn require(test: &str, programs: &[&str]) -> bool {
    match check_prerequisites(programs) {
        Ok(()) => true,
        Err(error) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: cannot run in CI: {error}")
        }
        Err(error) => {
            record_skip(test, &error.to_string());
            false
        }
    }
}

/// Reports that `test` (or a part of it) did not run and why: a loud line on standard error
/// and, when [`SKIP_LOG_VARIABLE`] names a file, one line `test: reason` appended to it
/// (errors writing it are ignored: a skip log is a report, not a reason to fail).
pub fn record_skip(test: &str, reason: &str) {
    eprintln!("\n!!!! SKIPPED {test}: {reason} !!!!\n");
    if let Some(path) = std::env::var_os(SKIP_LOG_VARIABLE).filter(|p| !p.is_empty()) {
        let _ = append_skip(Path::new(&path), test, reason);
    }
}

/// Appends `test: reason` as one line (newlines in either become spaces) in one write, so
/// tests skipping at the same time in parallel do not interleave.
fn append_skip(path: &Path, test: &str, reason: &str) -> std::io::Result<()> {
    use std::io::Write;
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = format!("{}: {}\n", one_line(test), one_line(reason));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}

/// The `/proc/PID/status` fields `names` (kB) in MiB; zeros once the process is gone.
fn status_mib<const N: usize>(pid: u32, names: [&str; N]) -> [f64; N] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    })
}

/// A process's resident memory now and at its peak (VmRSS, VmHWM), in MiB; zeros once it
/// is gone.
pub fn memory_mib(pid: u32) -> (f64, f64) {
    let [rss, peak] = status_mib(pid, ["VmRSS:", "VmHWM:"]);
    (rss, peak)
}

/// What a process's resident pages are, in MiB: (heap, stacks and other anonymous memory;
/// pages of its files, the binary's code and data mostly).
pub fn resident_parts_mib(pid: u32) -> (f64, f64) {
    let [anon, file, shmem] = status_mib(pid, ["RssAnon:", "RssFile:", "RssShmem:"]);
    (anon, file + shmem)
}

/// Polls `check` every 20 ms until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            return Err(LabError(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Polls `check` every `every` until it gives `Ok`; panics with its last error after
/// `timeout` (for tests, which want the last reason in the failure).
pub fn eventually<T>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut check: impl FnMut() -> std::result::Result<T, String>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > timeout => {
                panic!("{what}: not so after {timeout:?}: {last}")
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_add_up_for_a_live_process_and_are_zero_for_none() {
        let (rss, peak) = memory_mib(std::process::id());
        let (anon, file) = resident_parts_mib(std::process::id());
        assert!(rss > 0.0 && peak >= rss, "{rss} {peak}");
        assert!(anon > 0.0 && file > 0.0);
        assert!((anon + file - rss).abs() < 0.5, "{anon} + {file} vs {rss}");
        assert_eq!(memory_mib(u32::MAX), (0.0, 0.0));
    }

    #[test]
    fn skips_append_one_line_each_to_the_skip_log() {
        let path = std::env::temp_dir().join(format!("ironlb-skips-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        append_skip(&path, "bgp_interop", "bird is not installed").unwrap();
        append_skip(
            &path,
            "e2e\nwith a newline",
            "frr is\nnot installed (apt-get)",
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "bgp_interop: bird is not installed\n\
             e2e with a newline: frr is not installed (apt-get)\n"
        );
        std::fs::remove_file(&path).unwrap();
        // A log that cannot be written is reported as an error, which record_skip ignores.
        assert!(append_skip(Path::new("/nonexistent-dir/skips.log"), "t", "r").is_err());
    }
}
