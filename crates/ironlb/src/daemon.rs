//! `ironlb controller` and `ironlb speaker` over a cluster directory.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use ironlb_cluster::status;
use ironlb_controller::{Controller, Options as ControllerOptions};
use ironlb_speaker::{PlanOptions, SessionDefaults};

use crate::speaker::{self as runtime, Options as SpeakerOptions};
use tracing::{error, info, warn};

#[derive(ClapArgs)]
pub struct ControllerArgs {
    /// Where to serve /metrics, /healthz and /readyz ("off" to not serve).
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "0.0.0.0:7472")]
    metrics_address: String,
    /// Directory of Kubernetes YAML (metallb.io resources, Services, ...); status goes to
    /// DIR/.ironlb/.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "kubernetes",
        conflicts_with = "kubernetes"
    )]
    cluster_dir: Option<PathBuf>,
    /// Run against the Kubernetes API (in-cluster, or KUBECONFIG), with leader election.
    #[arg(long)]
    kubernetes: bool,
    /// Name of this replica in the leader-election Lease (default: $POD_NAME, else host-pid).
    #[arg(long, value_name = "NAME")]
    identity: Option<String>,
    /// Where to serve the validating and conversion webhooks (HTTPS), or "off".
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "0.0.0.0:9443")]
    webhook_address: String,
    /// The webhook Service (the certificate's DNS names).
    #[arg(long, value_name = "NAME", default_value = "ironlb-webhook-service")]
    webhook_service: String,
    /// An IP address the webhook is reached at by URL (added to its certificate); repeatable.
    #[arg(long = "webhook-ip", value_name = "IP")]
    webhook_ips: Vec<std::net::IpAddr>,
    /// Handle only Services with this spec.loadBalancerClass (default: those without one).
    #[arg(long, value_name = "CLASS")]
    lb_class: Option<String>,
    /// The namespace of IronLB's metallb.io objects.
    #[arg(long, value_name = "NAMESPACE", default_value = "metallb-system")]
    namespace: String,
}

#[derive(ClapArgs)]
pub struct SpeakerArgs {
    /// Where to serve /metrics, /healthz and /readyz ("off" to not serve).
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "0.0.0.0:7472")]
    metrics_address: String,
    /// Directory of Kubernetes YAML; status goes to DIR/.ironlb/speaker-NODE.yaml.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "kubernetes",
        conflicts_with = "kubernetes"
    )]
    cluster_dir: Option<PathBuf>,
    /// Run against the Kubernetes API (in-cluster, or KUBECONFIG).
    #[arg(long)]
    kubernetes: bool,
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
    /// With --kubernetes: after this long without any answer from the API server (e.g. 5m),
    /// stop trusting the last known state and withdraw every route until it answers again;
    /// BGP sessions stay up. Default: announce the last known state for as long as the API
    /// is away, as MetalLB does. Either way the speaker logs loudly while it is away.
    #[arg(long, value_name = "DURATION", value_parser = parse_bound, requires = "kubernetes")]
    api_staleness_bound: Option<Duration>,
}

fn parse_bound(text: &str) -> Result<Duration, String> {
    let duration = ironlb_api::Duration::parse(text).map_err(|e| e.to_string())?;
    match duration.to_std() {
        Some(bound) if bound >= Duration::from_secs(1) => Ok(bound),
        _ => Err("must be at least 1s, e.g. 90s or 5m".into()),
    }
}

/// The components' runtime: one thread (decisions are quick; sessions are few). It also
/// hands freed heap back to the system every 10 s: views of thousands of objects are built
/// and dropped all the time, and the freed pages would otherwise stay resident.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            runtime.spawn(async {
                let mut every = tokio::time::interval(Duration::from_secs(10));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    ironlb_net::socket::release_free_memory();
                }
            });
            Some(runtime)
        }
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            None
        }
    }
}

/// Serves metrics (and probes: ready once `ready()` says so) unless `address` is "off".
async fn serve_metrics(address: &str, render: impl Fn() -> (bool, String) + Send + Sync + 'static) {
    if address == "off" {
        return;
    }
    let Ok(address) = address.parse() else {
        error!(%address, "--metrics-address must be IP:PORT or off");
        return;
    };
    let handler: ironlb_net::http::Handler = std::sync::Arc::new(move |path| {
        use ironlb_net::http::Response;
        match path {
            "/metrics" => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: render().1,
            },
            "/healthz" => Response::text(200, "ok\n"),
            "/readyz" if render().0 => Response::text(200, "ok\n"),
            "/readyz" => Response::text(503, "no valid configuration loaded yet\n"),
            _ => Response::text(404, "try /metrics, /healthz or /readyz\n"),
        }
    });
    if let Err(error) = ironlb_net::http::serve(address, handler).await {
        warn!(%error, "metrics not served");
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
    let mut options = ControllerOptions::default();
    options.request.load_balancer_class = args.lb_class.clone();
    options.validate.namespace = args.namespace.clone();
    match &args.cluster_dir {
        Some(dir) => runtime.block_on(controller_directory(
            dir.clone(),
            options,
            args.metrics_address.clone(),
        )),
        None => runtime.block_on(controller_kubernetes(&args, options)),
    }
}

async fn kube_client() -> Option<kube::Client> {
    match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(error) => {
            error!(%error, "cannot reach Kubernetes: run in a pod with a service account, or set KUBECONFIG");
            None
        }
    }
}

async fn controller_kubernetes(args: &ControllerArgs, options: ControllerOptions) -> ExitCode {
    let Some(client) = kube_client().await else {
        return ExitCode::FAILURE;
    };
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    info!(%identity, namespace = %args.namespace, "controller starting on Kubernetes");
    let snapshots = ironlb_k8s::watch(
        client.clone(),
        ironlb_k8s::SourceOptions {
            namespace: args.namespace.clone(),
            ..Default::default()
        },
    )
    .await;
    if args.webhook_address != "off" {
        match args.webhook_address.parse() {
            Ok(address) => {
                let options = ironlb_k8s::webhook::WebhookOptions {
                    address,
                    namespace: args.namespace.clone(),
                    service: args.webhook_service.clone(),
                    ips: args.webhook_ips.clone(),
                    configuration: "ironlb-webhook-configuration".into(),
                    secret: "ironlb-webhook-cert".into(),
                    validate: options.validate.clone(),
                };
                let (client, snapshots) = (client.clone(), snapshots.clone());
                tokio::spawn(async move {
                    if let Err(error) = ironlb_k8s::webhook::run(client, options, snapshots).await {
                        error!(%error, "webhooks not served");
                    }
                });
            }
            Err(_) => {
                error!(address = %args.webhook_address, "--webhook-address must be IP:PORT or off")
            }
        }
    }
    let (leader_sender, leader) = tokio::sync::watch::channel(false);
    let lease = ironlb_k8s::lease::LeaseOptions {
        namespace: args.namespace.clone(),
        name: "ironlb-controller".into(),
        identity: identity.clone(),
        duration: Duration::from_secs(15),
    };
    let lease_task = tokio::spawn(ironlb_k8s::lease::run(
        client.clone(),
        lease.clone(),
        leader_sender,
    ));
    let reporter = kube::runtime::events::Reporter {
        controller: "ironlb-controller".into(),
        instance: Some(identity),
    };
    let (published, metrics) =
        tokio::sync::watch::channel(ironlb_k8s::controller::Published::default());
    spawn_configuration_state(
        client.clone(),
        args.namespace.clone(),
        ironlb_k8s::config_state::Component::controller(),
        metrics.clone(),
        |published: &ironlb_k8s::controller::Published| {
            (published.updates > 0).then(|| published.errors())
        },
    );
    serve_controller_metrics(&args.metrics_address, metrics).await;
    ironlb_k8s::controller::run(
        client.clone(),
        snapshots,
        leader,
        options,
        reporter,
        published,
        shutdown_signal(),
    )
    .await;
    lease_task.abort();
    ironlb_k8s::lease::release(client, &lease).await;
    info!("controller stopped");
    ExitCode::SUCCESS
}

async fn serve_controller_metrics(
    address: &str,
    metrics: tokio::sync::watch::Receiver<ironlb_k8s::controller::Published>,
) {
    serve_metrics(address, move || {
        let published = metrics.borrow();
        (
            published.config_loaded,
            ironlb_cluster::metrics::controller(
                &published.status,
                published.config_loaded,
                published.updates,
            ),
        )
    })
    .await;
}

/// Keeps the component's ConfigurationState in line with what it publishes (`errors`:
/// `None` until it has decided something).
fn spawn_configuration_state<P: Send + Sync + 'static>(
    client: kube::Client,
    namespace: String,
    component: ironlb_k8s::config_state::Component,
    mut published: tokio::sync::watch::Receiver<P>,
    errors: fn(&P) -> Option<Vec<String>>,
) {
    let (sender, receiver) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        loop {
            let now = errors(&published.borrow_and_update());
            sender.send_if_modified(|current| {
                let changed = *current != now;
                *current = now;
                changed
            });
            if published.changed().await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(ironlb_k8s::config_state::run(
        client,
        namespace,
        component,
        ironlb_k8s::config_state::owner_from_env(),
        receiver,
    ));
}

fn default_identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

async fn controller_directory(
    dir: PathBuf,
    options: ControllerOptions,
    metrics_address: String,
) -> ExitCode {
    let mut snapshots = match ironlb_cluster::watch(&dir) {
        Ok(snapshots) => snapshots,
        Err(error) => {
            error!(dir = %dir.display(), %error, "cannot watch the cluster directory");
            return ExitCode::FAILURE;
        }
    };
    let mut controller = Controller::new(options);
    let mut written =
        status::read::<status::ControllerStatus>(&dir, status::CONTROLLER_FILE).map(Arc::new);
    let (published, metrics) =
        tokio::sync::watch::channel(ironlb_k8s::controller::Published::default());
    serve_controller_metrics(&metrics_address, metrics).await;
    let mut updates = 0u64;
    info!(dir = %dir.display(), "controller started");
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for problem in &snapshot.problems {
            warn!(%problem, "cluster file not usable; its last good content stays in force");
        }
        let started = std::time::Instant::now();
        let result = Arc::new(controller.update(
            &snapshot.resources,
            &snapshot.controller_services,
            std::time::SystemTime::now(),
        ));
        updates += 1;
        // Directory mode keeps events in the status file (bounded); nothing else takes them.
        drop(controller.take_events());
        let _ = published.send(ironlb_k8s::controller::Published {
            status: Arc::clone(&result),
            config_loaded: controller.config_loaded(),
            updates,
            problems: snapshot.problems.iter().map(ToString::to_string).collect(),
        });
        if written.as_ref() != Some(&result) {
            for event in &result.events {
                if written.as_ref().is_some_and(|w| w.events.contains(event)) {
                    continue;
                }
                info!(reason = %event.reason, object = %event.object, message = %event.message, "event");
            }
            if let Err(error) = status::write(&dir, status::CONTROLLER_FILE, &*result) {
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
}

pub fn speaker(args: SpeakerArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let Some(snapshots) = speaker_snapshots(&args).await else {
            return ExitCode::FAILURE;
        };
        let (published, metrics) = tokio::sync::watch::channel(runtime::Published::default());
        if args.kubernetes
            && let Some(client) = kube_client().await
        {
            report_to_kubernetes(client, &args, metrics.clone(), snapshots.clone());
        }
        serve_metrics(&args.metrics_address, move || {
            let published = metrics.borrow();
            (
                published.config_loaded,
                ironlb_cluster::metrics::speaker(
                    &published.status,
                    published.config_loaded,
                    published.updates,
                ),
            )
        })
        .await;
        info!(node = %args.node, kubernetes = args.kubernetes, "speaker started");
        runtime::run(
            snapshots,
            speaker_options(&args),
            Some(published),
            shutdown_signal(),
        )
        .await;
        info!("speaker stopped");
        ExitCode::SUCCESS
    })
}

/// The speaker's view of the cluster: the directory's, or the API's (only what its node needs).
async fn speaker_snapshots(
    args: &SpeakerArgs,
) -> Option<tokio::sync::watch::Receiver<Arc<ironlb_cluster::Snapshot>>> {
    match &args.cluster_dir {
        Some(dir) => match ironlb_cluster::watch(dir) {
            Ok(snapshots) => Some(snapshots),
            Err(error) => {
                error!(dir = %dir.display(), %error, "cannot watch the cluster directory");
                None
            }
        },
        None => {
            let client = kube_client().await?;
            let options = ironlb_k8s::SourceOptions {
                namespace: args.namespace.clone(),
                scope: ironlb_k8s::Scope::Speaker {
                    node: args.node.clone(),
                },
                staleness_bound: args.api_staleness_bound,
                ..Default::default()
            };
            Some(ironlb_k8s::watch(client, options).await)
        }
    }
}

fn speaker_options(args: &SpeakerArgs) -> SpeakerOptions {
    SpeakerOptions {
        node: args.node.clone(),
        plan: PlanOptions {
            load_balancer_class: args.lb_class.clone(),
            ignore_exclude_label: args.ignore_exclude_lb,
            session: SessionDefaults {
                router_id: args.router_id,
                ..SessionDefaults::default()
            },
        },
        validate: ironlb_config::ValidateOptions {
            namespace: args.namespace.clone(),
        },
        status_root: args.cluster_dir.clone(),
    }
}

/// What a speaker writes to the API: ServiceBGPStatus objects following what was actually
/// advertised, ServiceL2Status objects for the Services it answers for in layer 2 mode (with
/// the layer 2 events), and its ConfigurationState.
fn report_to_kubernetes(
    client: kube::Client,
    args: &SpeakerArgs,
    published: tokio::sync::watch::Receiver<runtime::Published>,
    snapshots: tokio::sync::watch::Receiver<Arc<ironlb_cluster::Snapshot>>,
) {
    let (statuses, receiver) =
        tokio::sync::watch::channel(ironlb_cluster::status::SpeakerStatus::default());
    let (layer2, layer2_receiver) = tokio::sync::watch::channel(Vec::new());
    let mut source = published.clone();
    let node = args.node.clone();
    tokio::spawn(async move {
        while source.changed().await.is_ok() {
            let published = source.borrow_and_update();
            // Only what ServiceBGPStatus shows: Services sent to some peer (not the
            // thousands that are not announced here, with their reasons).
            let services: Vec<_> = published
                .status
                .services
                .iter()
                .filter(|s| !s.peers.is_empty())
                .cloned()
                .collect();
            // Only what ServiceL2Status and the layer 2 events show: the Services this node
            // owns (not the others' elections).
            let owned: Vec<_> = published
                .status
                .layer2
                .iter()
                .filter(|a| a.owner.as_deref() == Some(node.as_str()))
                .cloned()
                .collect();
            drop(published);
            statuses.send_if_modified(|current| {
                // Ignore the timestamp: only real changes go to the API.
                let changed = current.services != services;
                current.services = services;
                changed
            });
            layer2.send_if_modified(|current| {
                let changed = *current != owned;
                *current = owned;
                changed
            });
        }
    });
    tokio::spawn(ironlb_k8s::bgp_status::run(
        client.clone(),
        args.namespace.clone(),
        args.node.clone(),
        receiver,
        snapshots.clone(),
    ));
    tokio::spawn(ironlb_k8s::l2_status::run(
        client.clone(),
        args.namespace.clone(),
        args.node.clone(),
        ironlb_k8s::config_state::owner_from_env(),
        layer2_receiver,
        snapshots,
    ));
    spawn_configuration_state(
        client,
        args.namespace.clone(),
        ironlb_k8s::config_state::Component::speaker(&args.node),
        published,
        |published: &runtime::Published| (published.updates > 0).then(|| published.errors()),
    );
}
