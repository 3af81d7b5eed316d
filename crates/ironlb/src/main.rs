//! `ironlb`: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod get;
mod validate;

/// LoadBalancer Services for bare-metal Kubernetes, announced over BGP. Reads MetalLB's
/// metallb.io resources unchanged.
#[derive(Parser)]
#[command(name = "ironlb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
