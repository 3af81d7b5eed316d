//! `ironlb controller` and `ironlb speaker` over a cluster directory.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args as ClapArgs;
use ironlb_cluster::status;
use ironlb_controller::{Controller, Options as ControllerOptions};
use ironlb_speaker::PlanOptions;
use ironlb_speaker::runtime::{self, Options as SpeakerOptions};
use tracing::{error, info, warn};

#[derive(ClapArgs)]
pub struct ControllerArgs {
    /// Directory of Kubernetes YAML (metallb.io resources, Services, ...); status goes to
    /// DIR/.ironlb/.
    #[arg(long, value_name = "DIR")]
    cluster_dir: PathBuf,
    /// Handle only Services with this spec.loadBalancerClass (default: those without one).
    #[arg(long, value_name = "CLASS")]
    lb_class: Option<String>,
    /// The namespace of IronLB's metallb.io objects.
    #[arg(long, value_name = "NAMESPACE", default_value = "metallb-system")]
    namespace: String,
}

#[derive(ClapArgs)]
pub struct SpeakerArgs {
    /// Directory of Kubernetes YAML; status goes to DIR/.ironlb/speaker-NODE.yaml.
    #[arg(long, value_name = "DIR")]
    cluster_dir: PathBuf,
    /// This node's name (its Node object).
    #[arg(long, value_name = "NAME")]
    node: String,
    /// BGP router ID when the BGPPeer gives none (default: the Node's IPv4 InternalIP).
    #[arg(long, value_name = "IPV4")]
    router_id: Option<Ipv4Addr>,
    #[arg(long, value_name = "CLASS")]
    lb_class: Option<String>,
    /// Announce from this node even if it carries node.kubernetes.io/exclude-from-external-load-balancers.
    #[arg(long)]
    ignore_exclude_lb: bool,
    #[arg(long, value_name = "NAMESPACE", default_value = "metallb-system")]
    namespace: String,
    /// This speaker restarted: peers with graceful restart keep its routes until it is back.
    #[arg(long)]
    restarting: bool,
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            None
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

pub fn controller(args: ControllerArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let mut snapshots = match ironlb_cluster::watch(&args.cluster_dir) {
            Ok(snapshots) => snapshots,
            Err(error) => {
                error!(dir = %args.cluster_dir.display(), %error, "cannot watch the cluster directory");
                return ExitCode::FAILURE;
            }
        };
        let mut options = ControllerOptions::default();
        options.request.load_balancer_class = args.lb_class.clone();
        options.validate.namespace = args.namespace.clone();
        let mut controller = Controller::new(options);
        let mut written = status::read::<status::ControllerStatus>(&args.cluster_dir, status::CONTROLLER_FILE);
        info!(dir = %args.cluster_dir.display(), "controller started");
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            for problem in &snapshot.problems {
                warn!(%problem, "cluster file not usable; its last good content stays in force");
            }
            let started = std::time::Instant::now();
            let result = controller.update(
                &snapshot.resources,
                &snapshot.services,
                &ironlb_cluster::time::now(),
            );
            if written.as_ref() != Some(&result) {
                for event in &result.events {
                    if written.as_ref().is_some_and(|w| w.events.contains(event)) {
                        continue;
                    }
                    info!(reason = %event.reason, object = %event.object, message = %event.message, "event");
                }
                if let Err(error) = status::write(&args.cluster_dir, status::CONTROLLER_FILE, &result) {
                    error!(%error, "cannot write the controller status");
                }
                info!(
                    services = result.services.len(),
                    decide_us = started.elapsed().as_micros() as u64,
                    "assignments written"
                );
                written = Some(result);
            }
            tokio::select! {
                changed = snapshots.changed() => if changed.is_err() { break },
                () = &mut shutdown => break,
            }
        }
        info!("controller stopped");
        ExitCode::SUCCESS
    })
}

pub fn speaker(args: SpeakerArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let snapshots = match ironlb_cluster::watch(&args.cluster_dir) {
            Ok(snapshots) => snapshots,
            Err(error) => {
                error!(dir = %args.cluster_dir.display(), %error, "cannot watch the cluster directory");
                return ExitCode::FAILURE;
            }
        };
        let options = SpeakerOptions {
            node: args.node.clone(),
            plan: PlanOptions {
                load_balancer_class: args.lb_class.clone(),
                ignore_exclude_label: args.ignore_exclude_lb,
            },
            validate: ironlb_config::ValidateOptions {
                namespace: args.namespace.clone(),
            },
            router_id: args.router_id,
            status_root: Some(args.cluster_dir.clone()),
            restarting: args.restarting,
            batch_delay: Duration::from_millis(1),
        };
        info!(node = %args.node, dir = %args.cluster_dir.display(), "speaker started");
        runtime::run(snapshots, options, shutdown_signal()).await;
        info!("speaker stopped");
        ExitCode::SUCCESS
    })
}
