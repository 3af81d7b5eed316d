//! `ironlb`: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bgp;
mod daemon;
mod engines;
mod get;
#[cfg(feature = "lab")]
mod lab;
#[cfg(feature = "lab")]
mod lab_kube;
#[cfg(feature = "lab")]
mod lab_layer2;
#[cfg(feature = "lab")]
mod lab_nodes;
mod layer2;
mod speaker;
mod validate;

/// LoadBalancer Services for bare-metal Kubernetes, announced over BGP. Reads MetalLB's
/// metallb.io resources unchanged.
#[derive(Parser)]
#[command(name = "ironlb", version, about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Structured logs on stderr; `RUST_LOG` overrides the level (default info).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check metallb.io manifests (and the Services, Secrets, Namespaces, Nodes beside them)
    /// the way IronLB will read them. Exit 0: valid; 1: invalid; 2: unreadable or not YAML.
    Validate(validate::Args),
    /// Print the CustomResourceDefinitions of the metallb.io kinds as YAML.
    Crds,
    /// List Services, BGP peers or BFD sessions of a cluster directory, kubectl-style.
    Get(get::Args),
    /// Run the BGP engine on its own (`ironlb bgp announce ...`).
    Bgp(bgp::Args),
    /// Assign IPs to LoadBalancer Services of a cluster directory, and keep them assigned.
    Controller(daemon::ControllerArgs),
    /// Announce this node's Services to its BGP peers, as a cluster directory describes them.
    Speaker(daemon::SpeakerArgs),
    /// The seed scenario on this machine: FRR ToRs, three nodes, IronLB; verification and
    /// failover drill (needs root and FRR); `--scenario dual-stack`: the same over IPv4 and IPv6;
    /// `--scenario layer2`: layer 2 mode, timed at a client on the segment. Not in the image:
    /// built with the `lab` feature.
    #[cfg(feature = "lab")]
    Lab(lab::Args),
}

fn main() -> ExitCode {
    let (arguments, more_prefixes) = bgp::take_repeated_prefixes(std::env::args_os());
    let cli = Cli::parse_from(arguments);
    init_logging(cli.log_format);
    if matches!(
        cli.command,
        Command::Validate(_) | Command::Get(_) | Command::Crds
    ) {
        ironlb_net::socket::exit_on_broken_pipe();
    }
    match cli.command {
        Command::Bgp(args) => bgp::run(args, more_prefixes),
        Command::Controller(args) => daemon::controller(args),
        Command::Speaker(args) => daemon::speaker(args),
        #[cfg(feature = "lab")]
        Command::Lab(args) => lab::run(args),
        Command::Validate(args) => validate::run(&args),
        Command::Get(args) => get::run(&args),
        Command::Crds => match ironlb_api::crd::to_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: could not render the CRDs: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
