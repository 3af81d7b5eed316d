//! Real routers in lab namespaces: FRR (zebra, bgpd, bfdd), BIRD 2, GoBGP, ExaBGP. Each runs in
//! the foreground as the lab's own child, with every path under its own directory, so several
//! instances run side by side and are stopped by PID.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Lab, LabError, Namespace, Process, Result, wait_for};

const FRR_DAEMONS: &str = "/usr/lib/frr";

/// Which FRR daemons to start besides zebra and bgpd.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrrDaemons {
    /// bfdd, for BFD.
    pub bfd: bool,
}

/// An FRR instance.
pub struct Frr {
    namespace: Namespace,
    directory: PathBuf,
    processes: Vec<Process>,
}

impl Frr {
    /// Starts zebra, bgpd (and bfdd) in `namespace` with `bgpd_config` (FRR configuration
    /// text, without log lines: those are added). Returns once vtysh answers.
    pub fn start(
        lab: &mut Lab,
        namespace: &Namespace,
        name: &str,
        bgpd_config: &str,
        daemons: FrrDaemons,
    ) -> Result<Frr> {
        let directory = lab.subdirectory(name, Some("frr"))?;
        let dir = directory.display().to_string();
        let write = |file: &str, text: String| -> Result<()> {
            let path = directory.join(file);
            std::fs::write(&path, text)
                .map_err(|e| LabError(format!("cannot write {}: {e}", path.display())))?;
            crate::run("chown", &["frr:frr", &path.display().to_string()]).map(|_| ())
        };
        write("vtysh.conf", format!("hostname {name}\n"))?;
        write(
            "zebra.conf",
            format!("hostname {name}\nlog file {dir}/zebra.log informational\n"),
        )?;
        write(
            "bgpd.conf",
            format!(
                "hostname {name}\nlog file {dir}/bgpd.log debugging\nlog timestamp precision 3\ndebug bgp neighbor-events\ndebug bgp bfd\n{bgpd_config}\n"
            ),
        )?;
        write(
            "bfdd.conf",
            format!(
                "hostname {name}\nlog file {dir}/bfdd.log debugging\nlog timestamp precision 3\ndebug bfd peer\n"
            ),
        )?;
        let common = |daemon: &str| daemon_args(&dir, daemon);
        let mut processes = Vec::new();
        let zebra_args = common("zebra");
        let zebra = lab.spawn(
            namespace,
            &format!("{name}-zebra"),
            &format!("{FRR_DAEMONS}/zebra"),
            &refs(&zebra_args),
        )?;
        processes.push(zebra);
        let zserv = directory.join("zserv.api");
        wait_for("zebra's socket", Duration::from_secs(10), || {
            zserv.exists().then_some(())
        })?;
        let bgpd_args = common("bgpd");
        processes.push(lab.spawn(
            namespace,
            &format!("{name}-bgpd"),
            &format!("{FRR_DAEMONS}/bgpd"),
            &refs(&bgpd_args),
        )?);
        if daemons.bfd {
            let mut bfdd_args = common("bfdd");
            bfdd_args.extend(["--bfdctl".to_string(), format!("{dir}/bfdd.sock")]);
            processes.push(lab.spawn(
                namespace,
                &format!("{name}-bfdd"),
                &format!("{FRR_DAEMONS}/bfdd"),
                &refs(&bfdd_args),
            )?);
        }
        let frr = Frr {
            namespace: namespace.clone(),
            directory,
            processes,
        };
        wait_for("bgpd to answer vtysh", Duration::from_secs(10), || {
            frr.vtysh("show bgp summary json").ok()
        })?;
        if daemons.bfd {
            wait_for("bfdd to answer vtysh", Duration::from_secs(10), || {
                frr.vtysh("show bfd peers json").ok()
            })?;
        }
        Ok(frr)
    }

    /// Runs one vtysh command and returns its output.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let dir = self.directory.display().to_string();
        self.namespace.exec(
            "vtysh",
            &["--vty_socket", &dir, "--config_dir", &dir, "-c", command],
        )
    }

    /// Runs a vtysh command ending in `json` and parses its output.
    pub fn json(&self, command: &str) -> Result<serde_json::Value> {
        let text = self.vtysh(command)?;
        serde_json::from_str(&text)
            .map_err(|e| LabError(format!("vtysh {command:?} gave no JSON ({e}): {text}")))
    }

    /// FRR's view (`show bfd peers json`) of its BFD session with `peer` while it is Up.
    pub fn bfd_peer_up(&self, peer: &str) -> Option<serde_json::Value> {
        self.bfd_peers_up()
            .into_iter()
            .find(|session| session["peer"] == peer)
    }

    /// FRR's BFD sessions that are Up (`show bfd peers json`).
    pub fn bfd_peers_up(&self) -> Vec<serde_json::Value> {
        let Ok(serde_json::Value::Array(peers)) = self.json("show bfd peers json") else {
            return Vec::new();
        };
        peers
            .into_iter()
            .filter(|session| session["status"] == "up")
            .collect()
    }

    /// Runs several configuration lines (`configure terminal` is added).
    pub fn configure(&self, lines: &[&str]) -> Result<String> {
        let dir = self.directory.display().to_string();
        let mut args = vec![
            "--vty_socket",
            &dir,
            "--config_dir",
            &dir,
            "-c",
            "configure terminal",
        ];
        for line in lines {
            args.push("-c");
            args.push(line);
        }
        self.namespace.exec("vtysh", &args)
    }

    /// The instance's directory (logs: `bgpd.log`, `zebra.log`, `bfdd.log`).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The namespace it runs in.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The daemons' processes (zebra, bgpd, then bfdd).
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// Stops bgpd only (the router "restarts"); [`Frr::start_bgpd`] brings it back.
    pub fn stop_bgpd(&mut self, lab: &mut Lab) {
        if let Some(bgpd) = self.processes.get(1).cloned() {
            lab.stop(&bgpd);
        }
    }

    /// Starts bgpd again after [`Frr::stop_bgpd`], with the same configuration file.
    pub fn start_bgpd(&mut self, lab: &mut Lab) -> Result<()> {
        let dir = self.directory.display().to_string();
        let name = self
            .directory
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let args = daemon_args(&dir, "bgpd");
        let bgpd = lab.spawn(
            &self.namespace,
            &format!("{name}-bgpd-restarted"),
            &format!("{FRR_DAEMONS}/bgpd"),
            &refs(&args),
        )?;
        if let Some(slot) = self.processes.get_mut(1) {
            *slot = bgpd;
        }
        wait_for("bgpd to answer vtysh", Duration::from_secs(10), || {
            self.vtysh("show bgp summary json").ok()
        })?;
        Ok(())
    }
}

/// Command line of an FRR daemon with its files in `dir` (per-instance, so several FRRs run side
/// by side).
fn daemon_args(dir: &str, daemon: &str) -> Vec<String> {
    vec![
        "-u".into(),
        "frr".into(),
        "-g".into(),
        "frr".into(),
        "-f".into(),
        format!("{dir}/{daemon}.conf"),
        "-i".into(),
        format!("{dir}/{daemon}.pid"),
        "-z".into(),
        format!("{dir}/zserv.api"),
        "--vty_socket".into(),
        dir.to_string(),
        "-P".into(),
        "0".into(),
    ]
}

/// A BIRD 2 instance.
pub struct Bird {
    namespace: Namespace,
    socket: String,
    process: Process,
}

impl Bird {
    /// Starts `bird -f` in `namespace` with `config` (BIRD 2 configuration text).
    pub fn start(lab: &mut Lab, namespace: &Namespace, name: &str, config: &str) -> Result<Bird> {
        let directory = lab.subdirectory(name, None)?;
        let config_path = directory.join("bird.conf");
        std::fs::write(&config_path, config)
            .map_err(|e| LabError(format!("cannot write {}: {e}", config_path.display())))?;
        let socket = directory.join("bird.ctl").display().to_string();
        let pid_file = directory.join("bird.pid").display().to_string();
        let config_text = config_path.display().to_string();
        let process = lab.spawn(
            namespace,
            &format!("{name}-bird"),
            "bird",
            &["-f", "-c", &config_text, "-s", &socket, "-P", &pid_file],
        )?;
        let bird = Bird {
            namespace: namespace.clone(),
            socket,
            process,
        };
        wait_for("bird to answer birdc", Duration::from_secs(10), || {
            bird.birdc("show status").ok()
        })?;
        Ok(bird)
    }

    /// Runs one birdc command and returns its output.
    pub fn birdc(&self, command: &str) -> Result<String> {
        let mut args = vec!["-s", &self.socket];
        args.extend(command.split_whitespace());
        self.namespace.exec("birdc", &args)
    }

    /// The bird process.
    pub fn process(&self) -> &Process {
        &self.process
    }
}

/// A GoBGP instance (gobgpd, with its gRPC API on the namespace's loopback).
pub struct Gobgp {
    namespace: Namespace,
    process: Process,
}

impl Gobgp {
    /// Starts gobgpd in `namespace` with `config` (TOML).
    pub fn start(lab: &mut Lab, namespace: &Namespace, name: &str, config: &str) -> Result<Gobgp> {
        let directory = lab.subdirectory(name, None)?;
        let config_path = directory.join("gobgpd.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| LabError(format!("cannot write {}: {e}", config_path.display())))?;
        let config_text = config_path.display().to_string();
        let process = lab.spawn(
            namespace,
            &format!("{name}-gobgpd"),
            "gobgpd",
            &[
                "-f",
                &config_text,
                "-t",
                "toml",
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
            ],
        )?;
        let gobgp = Gobgp {
            namespace: namespace.clone(),
            process,
        };
        wait_for("gobgpd to answer", Duration::from_secs(10), || {
            gobgp.cli(&["global"]).ok()
        })?;
        Ok(gobgp)
    }

    /// Runs the `gobgp` CLI with `args` (against this instance) and returns its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let mut full = vec!["-u", "127.0.0.1", "-p", "50051"];
        full.extend_from_slice(args);
        self.namespace.exec("gobgp", &full)
    }

    /// The gobgpd process.
    pub fn process(&self) -> &Process {
        &self.process
    }
}

/// An ExaBGP instance whose received messages are written as JSON lines to a file.
pub struct Exabgp {
    received: PathBuf,
    process: Process,
}

impl Exabgp {
    /// Starts exabgp in `namespace` with `neighbors` (the `neighbor ... { }` blocks; an API
    /// process named `log` that records received UPDATEs is declared for them to use with
    /// `api { processes [ log ]; receive { parsed; update; } }`).
    pub fn start(
        lab: &mut Lab,
        namespace: &Namespace,
        name: &str,
        neighbors: &str,
    ) -> Result<Exabgp> {
        let directory = lab.subdirectory(name, None)?;
        let received = directory.join("received.jsonl");
        let recorder = directory.join("record.sh");
        std::fs::write(
            &recorder,
            // ExaBGP restarts a helper that exits, and gives up after five deaths: keep reading.
            format!(
                "#!/bin/sh\nwhile true; do\n  if IFS= read -r line; then printf '%s\\n' \"$line\" >> {}; else sleep 0.1; fi\ndone\n",
                received.display()
            ),
        )
        .map_err(|e| LabError(format!("cannot write {}: {e}", recorder.display())))?;
        crate::run("chmod", &["755", &recorder.display().to_string()])?;
        let config = format!(
            "process log {{\n  run {};\n  encoder json;\n}}\n{neighbors}\n",
            recorder.display()
        );
        let config_path = directory.join("exabgp.conf");
        std::fs::write(&config_path, config)
            .map_err(|e| LabError(format!("cannot write {}: {e}", config_path.display())))?;
        let config_text = config_path.display().to_string();
        let env_dir = directory.display().to_string();
        let process = lab.spawn(
            namespace,
            &format!("{name}-exabgp"),
            "env",
            &[
                "exabgp.daemon.user=root",
                "exabgp.daemon.drop=false",
                "exabgp.log.destination=stdout",
                "exabgp.api.cli=false",
                // Without a bind address ExaBGP does not listen, and passive neighbors never come up.
                "exabgp.tcp.bind=0.0.0.0",
                "exabgp.cache.attributes=false",
                &format!("HOME={env_dir}"),
                "exabgp",
                &config_text,
            ],
        )?;
        Ok(Exabgp { received, process })
    }

    /// Everything received so far, one JSON message per line.
    pub fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.received)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The exabgp process.
    pub fn process(&self) -> &Process {
        &self.process
    }
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
