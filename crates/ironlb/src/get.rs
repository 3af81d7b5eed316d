//! `ironlb get services|peers|bfd`: kubectl-like tables of a cluster directory's state.

use std::path::PathBuf;
use std::process::ExitCode;

use ironlb_cluster::ClusterDirectory;
use ironlb_cluster::status::{self, ControllerStatus};

#[derive(clap::Args)]
pub struct Args {
    /// What to list.
    #[arg(value_enum)]
    what: What,
    /// The cluster directory.
    #[arg(long, default_value = ".")]
    cluster_dir: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum What {
    #[value(alias = "svc", alias = "service")]
    Services,
    #[value(alias = "peer", alias = "bgp")]
    Peers,
    Bfd,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Wide,
    Yaml,
    Json,
}

pub fn run(args: &Args) -> ExitCode {
    let directory = match ClusterDirectory::open(&args.cluster_dir) {
        Ok(directory) => directory,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let wide = args.output == Format::Wide;
    let (rows, data) = match args.what {
        What::Services => services(&directory, wide),
        What::Peers => peers(&directory, wide),
        What::Bfd => bfd(&directory),
    };
    match args.output {
        Format::Table | Format::Wide => print!("{}", table(&rows)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        ),
        Format::Yaml => print!("{}", serde_saphyr::to_string(&data).unwrap_or_default()),
    }
    ExitCode::SUCCESS
}

type Rows = Vec<Vec<String>>;

fn services(directory: &ClusterDirectory, wide: bool) -> (Rows, serde_json::Value) {
    let snapshot = directory.snapshot();
    let controller: Option<ControllerStatus> =
        status::read(directory.root(), status::CONTROLLER_FILE);
    // Layer 2 owners, as the speakers see them (every speaker elects the same one).
    let mut layer2: std::collections::BTreeMap<(String, String), String> =
        std::collections::BTreeMap::new();
    for speaker in status::read_speakers(directory.root()) {
        for announcement in speaker.layer2 {
            let owner = announcement
                .owner
                .clone()
                .or(announcement.reason.clone().map(|r| format!("<{r}>")))
                .unwrap_or_default();
            layer2
                .entry((announcement.namespace, announcement.name))
                .or_insert(owner);
        }
    }
    let mut header = vec!["NAMESPACE", "NAME", "TYPE", "EXTERNAL-IP", "PORT(S)"];
    if !layer2.is_empty() {
        header.push("L2-OWNER");
    }
    if wide {
        header.extend(["POOL", "REASON"]);
    }
    let mut rows: Rows = vec![header.into_iter().map(String::from).collect()];
    let mut data = Vec::new();
    for service in &snapshot.services {
        let namespace = service
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = service.metadata.name.clone().unwrap_or_default();
        let spec = service.spec.clone().unwrap_or_default();
        let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
        let ips: Vec<String> = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.clone())
            .collect();
        let assigned = controller.as_ref().and_then(|c| {
            c.services
                .iter()
                .find(|s| s.namespace == namespace && s.name == name)
        });
        let external = if kind != "LoadBalancer" {
            "<none>".to_string()
        } else if ips.is_empty() {
            "<pending>".to_string()
        } else {
            ips.join(",")
        };
        let ports: Vec<String> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
            .collect();
        let pool = assigned.and_then(|a| a.pool.clone()).unwrap_or_default();
        let reason = assigned
            .and_then(|a| a.pending_reason.clone())
            .unwrap_or_default();
        let mut row = vec![
            namespace.clone(),
            name.clone(),
            kind.clone(),
            external.clone(),
            ports.join(","),
        ];
        let owner = layer2
            .get(&(namespace.clone(), name.clone()))
            .cloned()
            .unwrap_or_default();
        if !layer2.is_empty() {
            row.push(if owner.is_empty() {
                "<none>".into()
            } else {
                owner.clone()
            });
        }
        if wide {
            row.extend([pool.clone(), reason.clone()]);
        }
        rows.push(row);
        data.push(serde_json::json!({
            "namespace": namespace, "name": name, "type": kind, "externalIP": ips,
            "ports": ports, "pool": pool, "pendingReason": reason, "layer2Owner": owner,
        }));
    }
    (rows, serde_json::Value::Array(data))
}

fn peers(directory: &ClusterDirectory, wide: bool) -> (Rows, serde_json::Value) {
    let speakers = status::read_speakers(directory.root());
    let mut header = vec![
        "NODE", "PEER", "ADDRESS", "ASN", "STATE", "SINCE", "SENT", "RECEIVED",
    ];
    if wide {
        header.push("LAST-ERROR");
    }
    let mut rows: Rows = vec![header.into_iter().map(String::from).collect()];
    for speaker in &speakers {
        for peer in &speaker.peers {
            let mut row = vec![
                speaker.node.clone(),
                peer.name.clone(),
                peer.address.clone(),
                format!("{} -> {}", peer.local_asn, peer.peer_asn),
                peer.state.to_string(),
                peer.since.clone(),
                peer.prefixes_sent.to_string(),
                peer.prefixes_received.to_string(),
            ];
            if wide {
                row.push(peer.last_error.clone().unwrap_or_default());
            }
            rows.push(row);
        }
    }
    (rows, serde_json::to_value(&speakers).unwrap_or_default())
}

fn bfd(directory: &ClusterDirectory) -> (Rows, serde_json::Value) {
    let speakers = status::read_speakers(directory.root());
    let header = [
        "NODE",
        "SESSIONID",
        "LOCALADDRESS",
        "PEERADDRESS",
        "STATUS",
        "TX-MS",
        "DETECT-MS",
        "ECHO",
        "DIAGNOSTIC",
    ];
    let mut rows: Rows = vec![header.into_iter().map(String::from).collect()];
    for speaker in &speakers {
        for session in &speaker.bfd {
            rows.push(vec![
                speaker.node.clone(),
                session.local_discriminator.to_string(),
                session.local.clone(),
                session.peer.clone(),
                session.state.to_string(),
                session.transmit_interval_ms.to_string(),
                session.detection_time_ms.to_string(),
                if session.echo { "on" } else { "off" }.to_string(),
                session.diagnostic.clone(),
            ]);
        }
    }
    (rows, serde_json::to_value(&speakers).unwrap_or_default())
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
fn table(rows: &Rows) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}
