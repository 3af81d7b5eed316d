//! MetalLB itself (v0.15.2, controller and speakers built from its Go module by
//! `tools/metallb/build.sh`), run as host processes in a [`Fabric`]'s namespaces against a
//! [`SwitchPlane`]: the controller in the switch namespace, one speaker per node namespace.
//! This is the system IronLB replaces, measured on the same work, fabric and API server.
//!
//! Every process is started through the fabric and stopped by its PID: by
//! [`MetalLb::stop_speaker`], when the [`MetalLb`] is dropped, or at the latest when the
//! fabric is.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::fabric::Stop;
use crate::kube::SwitchPlane;
use crate::{Fabric, Process};

/// The namespace MetalLB's objects and components live in.
pub const NAMESPACE: &str = "metallb-system";

/// The memberlist labels of MetalLB's manifests (`METALLB_ML_LABELS`).
const MEMBERLIST_LABELS: &str = "app=metallb,component=speaker";

/// `tools/metallb`: `IRONLB_METALLB_TOOLS`, else the one in this source tree.
pub fn tools() -> PathBuf {
    std::env::var_os("IRONLB_METALLB_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/metallb"))
        })
}

/// Builds MetalLB's controller and speaker once (`build.sh`, cached) and returns their bin
/// directory. Progress goes to stderr when `show_progress`.
pub fn build(show_progress: bool) -> Result<PathBuf, String> {
    let tools = tools();
    let build = Command::new(tools.join("build.sh"))
        .stderr(if show_progress {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .output()
        .map_err(|e| format!("cannot run {}/build.sh: {e}", tools.display()))?;
    if !build.status.success() {
        return Err(format!(
            "tools/metallb/build.sh failed (it needs Go and the Go module proxy): {}",
            String::from_utf8_lossy(&build.stderr)
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&build.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim(),
    ))
}

/// MetalLB's own CRDs (its module's `config/crd/bases`, which `build.sh` keeps beside the
/// bin directory), as one YAML stream.
pub fn crds_yaml(bin: &Path) -> Result<String, String> {
    let dir = bin.join("../crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut yaml = String::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        yaml.push_str("---\n");
        yaml.push_str(&text);
    }
    Ok(yaml)
}

/// Which BGP implementation MetalLB's speakers use (`METALLB_BGP_TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BgpType {
    /// MetalLB's own Go BGP speaker (no BFD, no receive hold timer).
    Native,
    /// FRR (the Debian package's, 8.4) in the node's namespace, driven by the speaker: it
    /// writes FRR's whole configuration to a file and sends SIGHUP to a reloader, which
    /// applies it with `frr-reload.py` (package frr-pythontools), as MetalLB's `frr` and
    /// `reloader` containers do.
    Frr,
}

impl BgpType {
    fn env(self) -> &'static str {
        match self {
            BgpType::Native => "native",
            BgpType::Frr => "frr",
        }
    }
}

/// The reloader of an FRR-mode speaker (ours; MetalLB's container runs its own script):
/// writes its PID where the speaker looks for it, and on SIGHUP applies the speaker's file to
/// the node's FRR through its own vty sockets, with the log file moved from the container's
/// /etc/frr into the instance's directory; the outcome goes to `.status` as MetalLB's does.
const RELOADER: &str = r#"#!/bin/bash
dir=$1
printf %s $$ > "$dir/reloader.pid"   # no newline: the speaker parses it as is
reload() {
  sed "s|^log file /etc/frr/frr.log|log file $dir/frr.log|" "$dir/metallb.conf" > "$dir/reload.conf"
  if python3 /usr/lib/frr/frr-reload.py --reload --stdout --bindir /usr/bin        --confdir "$dir" --rundir "$dir" --vty_socket "$dir" "$dir/reload.conf"; then
    echo "$(date +%s) success" > "$dir/.status"
  else
    echo "$(date +%s) failure" > "$dir/.status"
  fi
}
trap reload HUP
while :; do sleep 1 & wait $!; done
"#;

/// MetalLB's controller and speakers, running.
pub struct MetalLb {
    bin: PathBuf,
    kubeconfig: PathBuf,
    secret_dir: PathBuf,
    bgp: BgpType,
    controller: Process,
    speakers: Vec<(String, Process)>,
    /// FRR mode: each node's FRR (kept across speaker restarts) and reloader.
    routers: Vec<(String, crate::Frr, Process)>,
}

impl MetalLb {
    /// Installs MetalLB's CRDs over whatever `metallb.io` CRDs the plane has (IronLB's
    /// included), the namespace and the memberlist Secret, then starts the controller (webhooks
    /// off: no certificate rotation) and one speaker per node. Its processes log to the
    /// fabric's directory as `metallb-controller` and `metallb-speaker-NODE`.
    pub fn start(
        fabric: &mut Fabric,
        plane: &SwitchPlane,
        bin: &Path,
        bgp: BgpType,
    ) -> Result<MetalLb, String> {
        let _ = plane.kubectl(&["create", "namespace", NAMESPACE], None);
        plane.apply(&crds_yaml(bin)?)?;
        plane.kubectl(
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                "crd",
                "--all",
            ],
            None,
        )?;
        // The memberlist key: the speakers read it from a file (their Secret volume in a
        // cluster); the Secret is created too, as MetalLB's manifests do.
        let secret_dir = fabric.directory.join("metallb-memberlist");
        std::fs::create_dir_all(&secret_dir).map_err(|e| e.to_string())?;
        let key = memberlist_key();
        std::fs::write(secret_dir.join("secretkey"), &key).map_err(|e| e.to_string())?;
        let _ = plane.kubectl(
            &[
                "create",
                "secret",
                "generic",
                "-n",
                NAMESPACE,
                "memberlist",
                &format!("--from-literal=secretkey={key}"),
            ],
            None,
        );
        let kubeconfig = plane.kubeconfig();
        let kubeconfig_text = kubeconfig.display().to_string();
        let controller = fabric
            .spawn(
                &plane.namespace,
                "metallb-controller",
                &[
                    ("KUBECONFIG", &kubeconfig_text),
                    ("METALLB_NAMESPACE", NAMESPACE),
                    ("METALLB_BGP_TYPE", bgp.env()),
                ],
                &bin.join("controller").display().to_string(),
                &["--webhook-mode=disabled", "--log-level=info"],
            )
            .map_err(|e| e.to_string())?;
        let mut metallb = MetalLb {
            bin: bin.to_path_buf(),
            kubeconfig,
            secret_dir,
            bgp,
            controller,
            speakers: Vec::new(),
            routers: Vec::new(),
        };
        let nodes: Vec<String> = fabric.nodes.iter().map(|n| n.name.clone()).collect();
        for node in nodes {
            metallb.start_speaker(fabric, plane, &node)?;
        }
        Ok(metallb)
    }

    /// Starts `node`'s speaker in its namespace, as MetalLB's DaemonSet runs it (host network:
    /// memberlist bound to the node's address on 7946, metrics on the node's address).
    pub fn start_speaker(
        &mut self,
        fabric: &mut Fabric,
        plane: &SwitchPlane,
        node: &str,
    ) -> Result<(), String> {
        let view = fabric
            .nodes
            .iter()
            .find(|n| n.name == node)
            .cloned()
            .ok_or_else(|| format!("no node {node}"))?;
        let address = view.address.to_string();
        // The speaker reads its own Pod at start (the status reconcilers own their objects
        // through it) and memberlist finds its peers by the Pods' labels and IPs: a Pod bound
        // to the node, host network, which kwok reports Running at the node's address.
        let pod = format!("speaker-{node}");
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: {NAMESPACE}\n  labels: {{app: metallb, component: speaker}}\nspec:\n  nodeName: {node}\n  hostNetwork: true\n  automountServiceAccountToken: false\n  tolerations: [{{operator: Exists}}]\n  containers:\n  - name: speaker\n    image: registry.invalid/metallb-speaker:v0.15.2\n"
        );
        crate::wait_for(
            &format!("Pod {pod}"),
            std::time::Duration::from_secs(30),
            || plane.apply(&manifest).ok(),
        )
        .map_err(|e| e.to_string())?;
        let kubeconfig = self.kubeconfig.display().to_string();
        let secret_dir = self.secret_dir.display().to_string();
        if self.bgp == BgpType::Frr && !self.routers.iter().any(|(n, _, _)| n == node) {
            let frr = fabric
                .start_frr(
                    &view.namespace,
                    &format!("frr-{node}"),
                    "",
                    crate::FrrDaemons { bfd: true },
                )
                .map_err(|e| e.to_string())?;
            let script = fabric.directory.join("metallb-reloader.sh");
            std::fs::write(&script, RELOADER).map_err(|e| e.to_string())?;
            let reloader = fabric
                .spawn(
                    &view.namespace,
                    &format!("metallb-reloader-{node}"),
                    &[],
                    "bash",
                    &[
                        &script.display().to_string(),
                        &frr.directory().display().to_string(),
                    ],
                )
                .map_err(|e| e.to_string())?;
            let pid_file = frr.directory().join("reloader.pid");
            crate::wait_for(
                "the reloader's PID file",
                std::time::Duration::from_secs(10),
                || pid_file.exists().then_some(()),
            )
            .map_err(|e| e.to_string())?;
            self.routers.push((node.to_string(), frr, reloader));
        }
        let frr_dir = self
            .routers
            .iter()
            .find(|(n, _, _)| n == node)
            .map(|(_, frr, _)| frr.directory().display().to_string())
            .unwrap_or_default();
        let config_file = format!("{frr_dir}/metallb.conf");
        let pid_file = format!("{frr_dir}/reloader.pid");
        let pod_name = pod.clone();
        let mut env = vec![
            ("KUBECONFIG", kubeconfig.as_str()),
            ("METALLB_NAMESPACE", NAMESPACE),
            ("METALLB_NODE_NAME", node),
            ("METALLB_POD_NAME", pod_name.as_str()),
            ("METALLB_HOST", address.as_str()),
            ("METALLB_BGP_TYPE", self.bgp.env()),
            ("METALLB_ML_BIND_ADDR", address.as_str()),
            ("METALLB_ML_BIND_PORT", "7946"),
            ("METALLB_ML_LABELS", MEMBERLIST_LABELS),
            ("METALLB_ML_SECRET_KEY_PATH", secret_dir.as_str()),
        ];
        if self.bgp == BgpType::Frr {
            env.push(("FRR_CONFIG_FILE", config_file.as_str()));
            env.push(("FRR_RELOADER_PID_FILE", pid_file.as_str()));
        }
        let process = fabric
            .spawn(
                &view.namespace,
                &format!("metallb-speaker-{node}"),
                &env,
                &self.bin.join("speaker").display().to_string(),
                &["--log-level=info"],
            )
            .map_err(|e| e.to_string())?;
        self.speakers.push((node.to_string(), process));
        Ok(())
    }

    /// Stops `node`'s speaker: SIGTERM (a rollout) or SIGKILL (a crash).
    pub fn stop_speaker(&mut self, fabric: &mut Fabric, node: &str, stop: Stop) {
        if let Some(index) = self.speakers.iter().position(|(n, _)| n == node) {
            let (_, process) = self.speakers.remove(index);
            if stop == Stop::Kill {
                process.signal("KILL");
            }
            fabric.stop(&process);
        }
    }

    /// The controller's PID.
    pub fn controller_pid(&self) -> u32 {
        self.controller.pid()
    }

    /// FRR mode: `node`'s FRR.
    pub fn frr(&self, node: &str) -> Option<&crate::Frr> {
        self.routers
            .iter()
            .find(|(n, _, _)| n == node)
            .map(|(_, frr, _)| frr)
    }

    /// The PID of `node`'s speaker, while it runs.
    pub fn speaker_pid(&self, node: &str) -> Option<u32> {
        self.speakers
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, p)| p.pid())
    }
}

impl Drop for MetalLb {
    fn drop(&mut self) {
        for (_, process) in self.speakers.drain(..) {
            process.stop();
        }
        self.controller.stop();
        for (_, frr, reloader) in self.routers.drain(..) {
            reloader.stop();
            for process in frr.processes() {
                process.stop();
            }
        }
    }
}

/// A 64-hex-digit memberlist key (32 bytes, as MetalLB's manifests generate with
/// `openssl rand`), from the kernel's random source.
fn memberlist_key() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    if let Ok(mut random) = std::fs::File::open("/dev/urandom") {
        let _ = random.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
