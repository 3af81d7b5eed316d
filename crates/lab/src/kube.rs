//! The real Kubernetes control plane of `tools/kube` (etcd, kube-apiserver, ... built from Go
//! modules): building it, running kubectl against it, and a loopback [`ControlPlane`] that
//! tests and benches start and that stops everything it started, by PID, when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `tools/kube`: `IRONLB_KUBE_TOOLS`, else the one in this source tree.
pub fn tools() -> PathBuf {
    std::env::var_os("IRONLB_KUBE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/kube")))
}

/// Builds the control plane once (`build.sh`, cached) and returns its bin directory. Its
/// progress goes to stderr when `show_progress`.
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
            "tools/kube/build.sh failed (it needs Go and the Go module proxy): {}",
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

/// Runs `BIN/kubectl --kubeconfig KUBECONFIG ARGS` (inside network namespace `namespace` if
/// given), feeding it `stdin`; stdout, or an error with its stderr.
pub fn kubectl(
    bin: &Path,
    kubeconfig: &Path,
    namespace: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut command = match namespace {
        Some(namespace) => {
            let mut command = Command::new("ip");
            command
                .args(["netns", "exec", namespace])
                .arg(bin.join("kubectl"));
            command
        }
        None => Command::new(bin.join("kubectl")),
    };
    let mut child = command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("kubectl: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(input.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A control plane on loopback (`up.sh DIR`) and the processes started against it; all
/// stopped by PID (`down.sh` for the plane's own) when dropped.
pub struct ControlPlane {
    pub dir: PathBuf,
    pub bin: PathBuf,
    children: Vec<Child>,
}

impl ControlPlane {
    /// Builds (cached) and starts a control plane in a fresh directory named after `name`.
    pub fn start(name: &str) -> Result<ControlPlane, String> {
        let bin = build(false)?;
        let dir = std::env::temp_dir().join(format!("ironlb-kube-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let up = Command::new(tools().join("up.sh"))
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !up.status.success() {
            return Err(format!(
                "tools/kube/up.sh failed: {}{}",
                String::from_utf8_lossy(&up.stdout),
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Ok(ControlPlane {
            dir,
            bin,
            children: Vec::new(),
        })
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// kubectl against this plane; stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        kubectl(&self.bin, &self.kubeconfig(), None, args, stdin)
    }

    /// Starts `program ARGS` with this plane's KUBECONFIG, its output in `DIR/NAME.log`;
    /// returns its index for [`ControlPlane::stop`] and [`ControlPlane::pid`].
    pub fn spawn(&mut self, program: &Path, name: &str, args: &[&str]) -> usize {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .unwrap_or_else(|e| panic!("{name}.log: {e}"));
        let child = Command::new(program)
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .stdout(
                log.try_clone()
                    .unwrap_or_else(|e| panic!("{name}.log: {e}")),
            )
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn pid(&self, index: usize) -> u32 {
        self.children[index].id()
    }

    /// Stops the process `index` with SIGTERM and reaps it.
    pub fn stop(&mut self, index: usize) {
        // A child already reaped keeps its status: its PID may belong to another process now.
        if let Some(child) = self.children.get_mut(index)
            && let Ok(None) = child.try_wait()
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// What process `name` has logged so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            self.stop(index);
        }
        let _ = Command::new(tools().join("down.sh"))
            .arg(&self.dir)
            .status();
        if std::thread::panicking() {
            eprintln!("control plane files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A control plane for a [`crate::Fabric`]: etcd, kube-apiserver, kube-controller-manager,
/// kube-scheduler and kwok (`up.sh`, as `ironlb lab --kubernetes` starts them) in the fabric's
/// switch namespace, the API server at 10.0.0.250 (reachable from the nodes' namespaces only),
/// and the fabric's nodes registered as Nodes for kwok. Dropping it stops what `up.sh`
/// started, by the PIDs it recorded (`down.sh`).
pub struct SwitchPlane {
    pub dir: PathBuf,
    pub bin: PathBuf,
    /// The switch namespace, where kubectl runs (10.0.0.0/24 is not routed from the host's).
    pub namespace: String,
}

impl SwitchPlane {
    /// Builds (cached) and starts the plane in `fabric`'s switch namespace, with its state in
    /// the fabric's directory, and registers the fabric's nodes (`ironlb lab register-nodes`).
    pub fn start(fabric: &crate::Fabric) -> Result<SwitchPlane, String> {
        SwitchPlane::start_with(fabric, "")
    }

    /// [`SwitchPlane::start`] with an audit policy (YAML; none when empty): the API server
    /// then logs the requests it selects, with microsecond times, to [`SwitchPlane::audit_log`]
    /// (timing at the API server itself, whoever the client is).
    pub fn start_with(fabric: &crate::Fabric, audit_policy: &str) -> Result<SwitchPlane, String> {
        let bin = build(false)?;
        let dir = fabric.directory.join("kube");
        let namespace = fabric.switch_namespace().to_string();
        let mut apiserver_args = String::new();
        if !audit_policy.is_empty() {
            let policy = fabric.directory.join("audit-policy.yaml");
            std::fs::write(&policy, audit_policy).map_err(|e| e.to_string())?;
            apiserver_args = format!(
                "--audit-policy-file={} --audit-log-path={} --audit-log-format=json --audit-log-maxsize=0",
                policy.display(),
                fabric.directory.join("audit.log").display()
            );
        }
        let up = Command::new("ip")
            .args(["netns", "exec", &namespace, "env"])
            .arg(format!("IRONLB_APISERVER_ARGS={apiserver_args}"))
            .arg("IRONLB_KUBE_KCM=1")
            .arg("IRONLB_KUBE_SCHEDULER=1")
            .arg("IRONLB_KUBE_KWOK=1")
            .arg("IRONLB_KCM_CONTROLLERS=namespace,garbagecollector,serviceaccount,serviceaccount-token,endpoint,endpointslice,deployment,replicaset")
            .arg(format!("IRONLB_KUBE_BIN={}", bin.display()))
            .arg(tools().join("up.sh"))
            .arg(&dir)
            .arg(crate::fabric::SWITCH_ADDRESS.to_string())
            .output()
            .map_err(|e| e.to_string())?;
        let plane = SwitchPlane {
            dir,
            bin,
            namespace,
        };
        if !up.status.success() {
            return Err(format!(
                "tools/kube/up.sh failed: {}{}",
                String::from_utf8_lossy(&up.stdout),
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        let mut register = Command::new("ip");
        register
            .args(["netns", "exec", &plane.namespace])
            .arg(&fabric.spec.ironlb)
            .args(["lab", "register-nodes"])
            .env("KUBECONFIG", plane.kubeconfig());
        for node in &fabric.nodes {
            register
                .arg("--node")
                .arg(format!("{}={}", node.name, node.address));
        }
        let registered = register.output().map_err(|e| e.to_string())?;
        if !registered.status.success() {
            return Err(format!(
                "registering the fabric's Nodes failed: {}",
                String::from_utf8_lossy(&registered.stderr)
            ));
        }
        crate::wait_for("the fabric's Nodes Ready", Duration::from_secs(30), || {
            let text = plane
                .kubectl(&["get", "nodes", "--no-headers"], None)
                .ok()?;
            (text.lines().filter(|l| l.contains(" Ready")).count() == fabric.nodes.len())
                .then_some(())
        })
        .map_err(|e| e.to_string())?;
        Ok(plane)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Where the API server writes its audit log ([`SwitchPlane::start_with`]).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("../audit.log")
    }

    /// kubectl in the switch namespace; stdout, or an error with its stderr.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        kubectl(
            &self.bin,
            &self.kubeconfig(),
            Some(&self.namespace),
            args,
            stdin,
        )
    }

    /// `kubectl apply -f -`.
    pub fn apply(&self, yaml: &str) -> Result<String, String> {
        self.kubectl(&["apply", "-f", "-"], Some(yaml))
    }

    /// A `kubectl ARGS` command in the switch namespace, not started (for watches).
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace])
            .arg(self.bin.join("kubectl"))
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args);
        command
    }
}

impl Drop for SwitchPlane {
    fn drop(&mut self) {
        let _ = Command::new(tools().join("down.sh"))
            .arg(&self.dir)
            .status();
    }
}

/// The seed's `web` Deployment: three replicas, one per node (the lab's nodes run no
/// containers; kwok reports them Running), so the endpointslice controller gives `web` a ready
/// endpoint on every node.
pub const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      # One replica per node (the lab's nodes run no containers; kwok reports them Running).
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels: {app: web}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: registry.invalid/web:lab
        ports: [{containerPort: 8443}]
";
