//! `ironlb bgp announce`: the BGP engine on its own, for operators and tests.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use ipnet::IpNet;
use ironlb_api::Duration as ApiDuration;
use ironlb_bgp::packet::{CeaseSubcode, Community, LargeCommunity};
use ironlb_bgp::session::RouteAttributes;
use ironlb_config::community::Community as ConfigCommunity;
use ironlb_config::{BfdProfile, Password, Peer, PeerAddress, PeerAsn, Timers};
use ironlb_net::bgp::{self, Command, Farewell};
use ironlb_speaker::session::{BfdSettings, SessionDefaults, SessionSettings};

use crate::engines;
use tokio::sync::mpsc;
use tracing::{error, info};

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: BgpCommand,
}

#[derive(Subcommand)]
enum BgpCommand {
    /// Hold a BGP session with one router and announce prefixes until Ctrl-C (then Cease).
    Announce(Announce),
}

#[derive(ClapArgs)]
pub struct Announce {
    /// Our AS number (1-4294967295).
    #[arg(long, value_name = "ASN", value_parser = parse_asn)]
    local_asn: u32,
    /// The router's address.
    #[arg(long, value_name = "IP")]
    peer: IpAddr,
    /// The router's AS number (1-4294967295).
    #[arg(long, value_name = "ASN", value_parser = parse_asn)]
    peer_asn: u32,
    #[arg(long, value_name = "PORT", default_value_t = 179)]
    peer_port: u16,
    /// BGP identifier; defaults to --source when that is IPv4, else to the address this host
    /// sends from toward an IPv4 peer, else to its highest IPv4 address (loopback first).
    #[arg(long, value_name = "IPV4")]
    router_id: Option<Ipv4Addr>,
    /// Local address to connect from (the BGPPeer's sourceAddress).
    #[arg(long, value_name = "IP")]
    source: Option<IpAddr>,
    /// TCP MD5 password (RFC 2385).
    #[arg(long, value_name = "PASSWORD")]
    md5: Option<String>,
    /// Hold time proposed, in seconds: 0 (no keepalives) or 3-65535.
    #[arg(long, value_name = "SECONDS", default_value_t = 90, value_parser = parse_hold)]
    hold_time: u16,
    /// Keepalive interval in seconds (default: a third of the hold time).
    #[arg(long, value_name = "SECONDS")]
    keepalive_time: Option<u16>,
    /// Seconds between connection attempts (FRR's `timers connect`); after a minute of
    /// failures the wait doubles up to 30 s (or this, if longer).
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65535))]
    connect_time: u64,
    /// Send with TTL 255 (the router is not directly connected).
    #[arg(long)]
    ebgp_multihop: bool,
    /// Prefix to announce (repeatable), e.g. 203.0.113.5/32 or 2001:db8::5/128.
    #[arg(
        long = "prefix",
        value_name = "PREFIX",
        required_unless_present = "prefix_file"
    )]
    prefixes: Vec<IpNet>,
    /// File of prefixes to announce, one per line (`#` starts a comment); read again on
    /// SIGHUP, so announcements can change without dropping the session.
    #[arg(long, value_name = "PATH")]
    prefix_file: Option<std::path::PathBuf>,
    /// Community AA:NN (repeatable); large:A:B:C is accepted too.
    #[arg(long = "community", value_name = "AA:NN")]
    communities: Vec<String>,
    /// Large community A:B:C (repeatable).
    #[arg(long = "large-community", value_name = "A:B:C")]
    large_communities: Vec<String>,
    /// LOCAL_PREF (sent to iBGP peers only, as MetalLB does).
    #[arg(long, value_name = "N")]
    local_pref: Option<u32>,
    /// Offer graceful restart with this restart time (seconds, at most 4095): the first OPEN
    /// sets the Restart State bit, and SIGTERM closes without a NOTIFICATION, so the router
    /// keeps the routes until the next run's End-of-RIB (Ctrl-C still sends Cease).
    #[arg(long, value_name = "SECONDS")]
    graceful_restart: Option<u16>,
    /// Run BFD with the router, with this required minimum receive interval (ms, 10-60000);
    /// BFD Down brings the BGP session down at once (Cease/BFD Down).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(10..=60000))]
    bfd_rx: Option<u32>,
    /// BFD desired minimum transmit interval (ms, 10-60000; default 300).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(10..=60000))]
    bfd_tx: Option<u32>,
    /// BFD detection multiplier (2-255; default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(2..=255))]
    bfd_multiplier: Option<u8>,
    /// BFD passive mode: wait for the router to speak first.
    #[arg(long)]
    bfd_passive: bool,
    /// BFD echo mode (single hop IPv4): send echo packets every MS ms (10-60000), which the
    /// router's forwarding plane returns, and accept the router's at that interval.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(10..=60000))]
    bfd_echo: Option<u32>,
}

impl Announce {
    /// The BFD parameters, when any BFD option is given.
    fn bfd(&self) -> Option<ironlb_bfd::Parameters> {
        if self.bfd_rx.is_none()
            && self.bfd_tx.is_none()
            && self.bfd_multiplier.is_none()
            && !self.bfd_passive
            && self.bfd_echo.is_none()
        {
            return None;
        }
        let defaults = ironlb_bfd::Parameters::default();
        let ms = |v: Option<u32>, d: Duration| v.map_or(d, |v| Duration::from_millis(u64::from(v)));
        Some(ironlb_bfd::Parameters {
            desired_min_tx: ms(self.bfd_tx, defaults.desired_min_tx),
            required_min_rx: ms(self.bfd_rx, defaults.required_min_rx),
            detect_multiplier: self.bfd_multiplier.unwrap_or(defaults.detect_multiplier),
            passive: self.bfd_passive,
            ..defaults
        })
    }
}

fn parse_asn(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("AS number 0 is reserved: use 1-4294967295".into()),
        Ok(asn) => Ok(asn),
        Err(_) => Err(format!("{text:?} is not an AS number: use 1-4294967295")),
    }
}

fn parse_hold(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(hold) if hold == 0 || hold >= 3 => Ok(hold),
        Ok(hold) => Err(format!(
            "hold time {hold} s is not allowed: use 0 (no keepalives) or 3-65535 (RFC 4271)"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a number of seconds (0 or 3-65535)"
        )),
    }
}

/// Takes every `--prefix` after the first out of the command line, parsed; the rest of the
/// command line is left for clap. clap keeps, per occurrence of an option, the argument, its
/// parsed value behind an `Arc` and a vector for each: about 800 bytes a prefix, 8 MB of
/// peak RSS for 10,000 `--prefix` arguments, where here each costs its 18 bytes. The first
/// `--prefix` stays, so clap still sees one where it checks that one is given (or rejects it
/// where it does not belong); a value that is not a prefix stays too, for clap to report.
pub fn take_repeated_prefixes(
    arguments: impl IntoIterator<Item = OsString>,
) -> (Vec<OsString>, Vec<IpNet>) {
    let mut arguments = arguments.into_iter();
    let mut rest = Vec::new();
    let mut prefixes = Vec::new();
    let mut first = true;
    while let Some(argument) = arguments.next() {
        if argument == "--" {
            rest.push(argument);
            rest.extend(arguments);
            break;
        }
        let (option, value) = if argument == "--prefix" {
            let value = arguments.next();
            (argument, value)
        } else if let Some(value) = argument
            .to_str()
            .and_then(|text| text.strip_prefix("--prefix="))
        {
            let value = Some(OsString::from(value));
            (argument, value)
        } else {
            rest.push(argument);
            continue;
        };
        let parsed = value
            .as_ref()
            .and_then(|value| value.to_str()?.parse::<IpNet>().ok());
        match parsed {
            Some(prefix) if !first => prefixes.push(prefix),
            _ => {
                // `--prefix VALUE` is two arguments, `--prefix=VALUE` one.
                let separate = option == "--prefix";
                rest.push(option);
                if separate {
                    rest.extend(value);
                }
            }
        }
        first = false;
    }
    (rest, prefixes)
}

/// Runs the command; `more_prefixes` are the `--prefix` arguments after the first, taken out
/// of the command line by [`take_repeated_prefixes`].
pub fn run(args: Args, more_prefixes: Vec<IpNet>) -> ExitCode {
    match args.command {
        BgpCommand::Announce(mut announce) => {
            announce.prefixes.extend(more_prefixes);
            match announce_config(&announce) {
                Ok((config, routes)) => run_announce(&announce, config, routes),
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn attributes(args: &Announce) -> anyhow::Result<RouteAttributes> {
    let mut attributes = RouteAttributes {
        local_preference: args.local_pref,
        ..RouteAttributes::default()
    };
    let large = args.large_communities.iter().map(|c| format!("large:{c}"));
    for text in args.communities.iter().cloned().chain(large) {
        match ConfigCommunity::parse(&text).with_context(|| format!("--community {text}"))? {
            ConfigCommunity::Standard(value) => attributes.communities.push(Community(value)),
            ConfigCommunity::Large(a, b, c) => attributes
                .large_communities
                .push(LargeCommunity::new(a, b, c)),
        }
    }
    Ok(attributes)
}

/// The routes asked for: `--prefix` and the lines of `--prefix-file`, read line by line
/// into the map the session keeps (no copy of the file, nor of the prefixes, on the way).
fn routes(args: &Announce) -> anyhow::Result<BTreeMap<IpNet, Arc<RouteAttributes>>> {
    // One attribute set shared by every prefix.
    let attributes = Arc::new(attributes(args)?);
    let mut routes = BTreeMap::new();
    for prefix in &args.prefixes {
        routes.insert(prefix.trunc(), attributes.clone());
    }
    if let Some(path) = &args.prefix_file {
        let cannot_read = || format!("cannot read --prefix-file {}", path.display());
        let file = std::fs::File::open(path).with_context(cannot_read)?;
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        let mut number = 0;
        while std::io::BufRead::read_line(&mut reader, &mut line).with_context(cannot_read)? > 0 {
            number += 1;
            let text = line.split('#').next().unwrap_or_default().trim();
            if !text.is_empty() {
                let prefix: IpNet = text.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "{}:{number}: {text:?} is not a prefix (write one like 203.0.113.5/32 per line)",
                        path.display(),
                    )
                })?;
                routes.insert(prefix.trunc(), attributes.clone());
            }
            line.clear();
        }
    }
    Ok(compacted(routes))
}

/// The same map with full nodes. Inserting in ascending order leaves the nodes about half
/// full (the session's map and its copy of what was sent would take 4.9 MB each for 100,000
/// /32s instead of 2.7); `collect()` would build full nodes but first gathers and sorts all
/// entries in a Vec (with a scratch buffer as large again). Appending to a non-empty map
/// merges both maps' entries into new full nodes, freeing the old nodes as it goes.
fn compacted<K: Ord, V>(mut map: BTreeMap<K, V>) -> BTreeMap<K, V> {
    let Some((key, value)) = map.pop_first() else {
        return map;
    };
    let mut compact = BTreeMap::from([(key, value)]);
    compact.append(&mut map);
    compact
}

/// The session `ironlb bgp announce` holds, decided as the speaker decides a BGPPeer's: the
/// arguments make a BGPPeer (and a BFD profile), [`ironlb_speaker::session`] does the rest.
fn announce_config(
    args: &Announce,
) -> anyhow::Result<(SessionSettings, BTreeMap<IpNet, Arc<RouteAttributes>>)> {
    let router_id = match (args.router_id, args.source) {
        (Some(id), _) => id,
        (None, Some(IpAddr::V4(source))) => source,
        (None, _) => default_router_id(args.peer)?,
    };
    if router_id.is_unspecified() {
        bail!("--router-id 0.0.0.0 is not allowed: use this node's IPv4 address");
    }
    if let Some(source) = args.source
        && source.is_ipv4() != args.peer.is_ipv4()
    {
        bail!(
            "--source {source} and --peer {} are of different families",
            args.peer
        );
    }
    let keepalive = match args.keepalive_time {
        Some(keepalive) if args.hold_time != 0 && keepalive > args.hold_time => bail!(
            "--keepalive-time {keepalive} is longer than --hold-time {}",
            args.hold_time
        ),
        Some(keepalive) => keepalive,
        None => args.hold_time / 3,
    };
    let asn = |asn: u32| NonZeroU32::new(asn).context("AS number 0 is reserved");
    let peer = Peer {
        name: args.peer.to_string(),
        my_asn: asn(args.local_asn)?,
        peer_asn: PeerAsn::Fixed(asn(args.peer_asn)?),
        local_asn: None,
        address: PeerAddress::Address(args.peer),
        source_address: args.source,
        port: args.peer_port,
        timers: Some(Timers {
            hold: ApiDuration::from_secs(i64::from(args.hold_time)),
            keepalive: ApiDuration::from_secs(i64::from(keepalive)),
        }),
        connect_time: Some(ApiDuration::from_secs(
            i64::try_from(args.connect_time).unwrap_or(i64::MAX),
        )),
        router_id: Some(IpAddr::V4(router_id)),
        node_selectors: Vec::new(),
        password: args.md5.clone().map(Password::Inline),
        bfd_profile: None,
        graceful_restart: args.graceful_restart.is_some(),
        ebgp_multi_hop: args.ebgp_multihop,
        vrf: String::new(),
        dual_stack_address_family: false,
    };
    let bfd = args.bfd().map(|parameters| BfdProfile {
        name: "ironlb-bgp-announce".into(),
        receive_interval_ms: millis(parameters.required_min_rx),
        transmit_interval_ms: millis(parameters.desired_min_tx),
        detect_multiplier: parameters.detect_multiplier,
        echo_interval_ms: args.bfd_echo.unwrap_or(50),
        echo_mode: args.bfd_echo.is_some(),
        passive_mode: parameters.passive,
        minimum_ttl: 254,
    });
    let defaults = SessionDefaults {
        restart_time: args
            .graceful_restart
            .unwrap_or(ironlb_speaker::session::RESTART_TIME_SECONDS),
        ..SessionDefaults::default()
    };
    let settings = ironlb_speaker::session::settings(&peer, bfd.as_ref(), router_id, &defaults)?;
    Ok((settings, routes(args)?))
}

/// The router ID without `--router-id` or an IPv4 `--source`: toward an IPv4 peer, the address
/// the kernel picks as source toward it (what the router sees the session come from); toward an
/// IPv6 peer, the highest IPv4 address of an interface that is up, loopbacks first, as FRR's
/// zebra picks its router ID.
fn default_router_id(peer: IpAddr) -> anyhow::Result<Ipv4Addr> {
    if peer.is_ipv4()
        && let Ok(socket) = std::net::UdpSocket::bind("0.0.0.0:0")
        && socket.connect((peer, 179)).is_ok()
        && let Ok(std::net::SocketAddr::V4(local)) = socket.local_addr()
        && !local.ip().is_unspecified()
    {
        return Ok(*local.ip());
    }
    let interfaces =
        ironlb_net::interfaces::list().context("listing this host's interfaces for a router ID")?;
    // (on the loopback interface, address): the highest wins; 127/8 is no router ID.
    interfaces
        .iter()
        .filter(|interface| interface.up)
        .flat_map(|interface| {
            interface.addresses.iter().filter_map(|net| match net.addr() {
                IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => {
                    Some((interface.name == "lo", v4))
                }
                _ => None,
            })
        })
        .max()
        .map(|(_, v4)| v4)
        .context(
            "no IPv4 address on this host to use as the BGP router ID: give --router-id (an IPv4 address identifying this speaker)",
        )
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

fn run_announce(
    args: &Announce,
    settings: SessionSettings,
    routes: BTreeMap<IpNet, Arc<RouteAttributes>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let (events, mut event_receiver) = mpsc::unbounded_channel();
        info!(
            peer = %settings.address,
            local_asn = settings.session.fsm.local_as,
            prefixes = routes.len(),
            "starting BGP session"
        );
        let handle = bgp::spawn(engines::bgp_peer(&settings), events);
        let _ = handle.commands.send(Command::SetRoutes(routes));
        // BFD: its state changes drive the BGP session (RFC 5882).
        let bfd = match &settings.bfd {
            None => None,
            Some(bfd) => match couple_bfd(bfd, &handle) {
                Ok(bfd) => Some(bfd),
                Err(error) => {
                    error!(%error, "cannot start BFD");
                    return ExitCode::FAILURE;
                }
            },
        };
        let drain = tokio::spawn(async move { while event_receiver.recv().await.is_some() {} });
        let signal = match wait_for_shutdown(args, &handle.commands).await {
            Ok(signal) => signal,
            Err(error) => {
                error!(%error, "cannot wait for signals");
                Stopping::Interrupted
            }
        };
        let farewell = match (signal, args.graceful_restart) {
            (Stopping::Terminated, Some(_)) => {
                info!("SIGTERM: closing without NOTIFICATION where graceful restart was negotiated, so the router keeps the routes until the next run's End-of-RIB");
                Farewell::GracefulRestart
            }
            _ => {
                info!("shutting down: sending Cease (administrative shutdown)");
                Farewell::Cease(CeaseSubcode::AdministrativeShutdown)
            }
        };
        let _ = handle.commands.send(Command::Shutdown(farewell));
        if tokio::time::timeout(Duration::from_secs(3), handle.task)
            .await
            .is_err()
        {
            error!("the session did not stop within 3 s");
        }
        // BFD AdminDown once the BGP connection is closed (see bfd::shutdown).
        if let Some(bfd) = &bfd {
            ironlb_net::bfd::shutdown(bfd).await;
        }
        drain.abort();
        ExitCode::SUCCESS
    })
}

/// Starts the BFD driver with one session and lets its state changes drive the BGP session;
/// returns the driver's command channel.
fn couple_bfd(
    settings: &BfdSettings,
    bgp: &bgp::Handle,
) -> std::io::Result<mpsc::UnboundedSender<ironlb_net::bfd::Command>> {
    let mut bfd = ironlb_net::bfd::spawn()?;
    let _ = bfd
        .commands
        .send(ironlb_net::bfd::Command::Add(engines::bfd_peer(settings)));
    let parameters = settings.parameters;
    info!(
        peer = %settings.peer,
        rx_ms = parameters.required_min_rx.as_millis() as u64,
        tx_ms = parameters.desired_min_tx.as_millis() as u64,
        multiplier = parameters.detect_multiplier,
        "BFD session configured"
    );
    let commands = bgp.commands.clone();
    let name = settings.peer.to_string();
    let bfd_commands = bfd.commands.clone();
    tokio::spawn(async move {
        while let Some(notice) = bfd.notices.recv().await {
            ironlb_net::bfd::couple(&notice, &name, &commands);
        }
    });
    Ok(bfd_commands)
}

/// How the command was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopping {
    /// Ctrl-C: withdraw (Cease).
    Interrupted,
    /// SIGTERM, as a service manager or a rollout stops a process that will come back.
    Terminated,
}

/// Waits for Ctrl-C or SIGTERM; on SIGHUP reads the prefixes again.
async fn wait_for_shutdown(
    args: &Announce,
    commands: &mpsc::UnboundedSender<Command>,
) -> std::io::Result<Stopping> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => return result.map(|()| Stopping::Interrupted),
            _ = terminate.recv() => return Ok(Stopping::Terminated),
            _ = hangup.recv() => match routes(args) {
                Ok(routes) => {
                    info!(prefixes = routes.len(), "SIGHUP: prefixes read again");
                    let _ = commands.send(Command::SetRoutes(routes));
                }
                Err(error) => error!(error = %format!("{error:#}"), "SIGHUP: keeping the current prefixes"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(arguments: &[&str]) -> (Vec<String>, Vec<String>) {
        let (rest, prefixes) =
            take_repeated_prefixes(arguments.iter().map(|argument| OsString::from(*argument)));
        (
            rest.into_iter()
                .map(|argument| argument.into_string().unwrap())
                .collect(),
            prefixes.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn prefixes_after_the_first_bypass_clap() {
        let (rest, prefixes) = split(&[
            "ironlb",
            "bgp",
            "announce",
            "--prefix",
            "10.0.0.1/32",
            "--peer",
            "10.0.0.2",
            "--prefix",
            "10.0.0.2/32",
            "--prefix=10.0.0.3/32",
            "--prefix-file",
            "f",
        ]);
        assert_eq!(
            rest,
            [
                "ironlb",
                "bgp",
                "announce",
                "--prefix",
                "10.0.0.1/32",
                "--peer",
                "10.0.0.2",
                "--prefix-file",
                "f"
            ]
        );
        assert_eq!(prefixes, ["10.0.0.2/32", "10.0.0.3/32"]);
    }

    #[test]
    fn a_prefix_that_does_not_parse_is_left_for_clap_to_report() {
        let (rest, prefixes) = split(&[
            "ironlb",
            "--prefix=10.0.0.1/32",
            "--prefix",
            "nonsense",
            "--prefix",
        ]);
        assert_eq!(
            rest,
            [
                "ironlb",
                "--prefix=10.0.0.1/32",
                "--prefix",
                "nonsense",
                "--prefix"
            ]
        );
        assert!(prefixes.is_empty());
    }

    #[test]
    fn nothing_after_a_double_dash_is_taken() {
        let (rest, prefixes) = split(&[
            "ironlb",
            "--prefix",
            "10.0.0.1/32",
            "--",
            "--prefix",
            "10.0.0.2/32",
        ]);
        assert_eq!(rest.len(), 6);
        assert!(prefixes.is_empty());
    }

    #[test]
    fn many_prefixes_reach_the_routes_once_each() {
        let mut arguments = vec![
            "ironlb",
            "bgp",
            "announce",
            "--local-asn",
            "65100",
            "--peer",
            "10.0.0.1",
            "--peer-asn",
            "65000",
        ];
        let texts: Vec<String> = (0..300)
            .map(|i| format!("10.1.{}.{}/32", i / 256, i % 256))
            .collect();
        for text in &texts {
            arguments.extend(["--prefix", text.as_str()]);
        }
        arguments.extend(["--prefix", "10.1.0.0/32"]);
        let (rest, more) = take_repeated_prefixes(arguments.iter().map(OsString::from));
        let cli = <crate::Cli as clap::Parser>::try_parse_from(rest).unwrap();
        let crate::Command::Bgp(Args {
            command: BgpCommand::Announce(mut announce),
        }) = cli.command
        else {
            panic!("not bgp announce");
        };
        announce.prefixes.extend(more);
        assert_eq!(announce.prefixes.len(), 301);
        let routes = routes(&announce).unwrap();
        assert_eq!(routes.len(), 300, "the repeated prefix counts once");
        assert!(
            routes
                .keys()
                .map(ToString::to_string)
                .eq(texts.iter().cloned())
        );
    }
}
