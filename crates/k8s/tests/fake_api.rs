//! The kube layer against an in-process fake Kubernetes API server, for what a real API
//! server rarely shows on demand: a watch connection dropped mid-stream, a re-watch answered
//! with 410 Gone, a status write refused with 409 Conflict.
//!
//! The fake is a small HTTP/1.1 server (tokio only) that lists and watches the kinds the
//! source reads, answers the controller's writes, records every request, and does only what
//! the test tells it: writes are answered but never applied, and a watch hears only the
//! events the test pushes (so a controller that writes again did so by itself).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ironlb_k8s::SourceOptions;
use ironlb_model::Snapshot;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// How long anything may take on a loaded machine before a test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

const SERVICES: &str = "/api/v1/services";

/// The collections the source lists and watches: (path, plural, apiVersion, kind).
const KINDS: [(&str, &str, &str, &str); 11] = [
    (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
        "ipaddresspools",
        "metallb.io/v1beta1",
        "IPAddressPool",
    ),
    (
        "/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers",
        "bgppeers",
        "metallb.io/v1beta2",
        "BGPPeer",
    ),
    (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/bfdprofiles",
        "bfdprofiles",
        "metallb.io/v1beta1",
        "BFDProfile",
    ),
    (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/bgpadvertisements",
        "bgpadvertisements",
        "metallb.io/v1beta1",
        "BGPAdvertisement",
    ),
    (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements",
        "l2advertisements",
        "metallb.io/v1beta1",
        "L2Advertisement",
    ),
    (
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/communities",
        "communities",
        "metallb.io/v1beta1",
        "Community",
    ),
    (
        "/api/v1/namespaces/metallb-system/secrets",
        "secrets",
        "v1",
        "Secret",
    ),
    ("/api/v1/namespaces", "namespaces", "v1", "Namespace"),
    ("/api/v1/nodes", "nodes", "v1", "Node"),
    (SERVICES, "services", "v1", "Service"),
    (
        "/apis/discovery.k8s.io/v1/endpointslices",
        "endpointslices",
        "discovery.k8s.io/v1",
        "EndpointSlice",
    ),
];

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Request {
    at: Instant,
    method: String,
    path: String,
    /// The raw query string (without `?`).
    query: String,
    body: String,
}

impl Request {
    /// A query parameter, percent-decoded.
    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }

    fn is_watch(&self) -> bool {
        self.method == "GET" && self.param("watch").as_deref() == Some("true")
    }

    fn is_list(&self) -> bool {
        self.method == "GET" && !self.is_watch()
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an open watch connection is told to do.
enum Line {
    Event(String),
    /// Close the connection in the middle of the chunked body.
    Drop,
}

struct Kind {
    path: &'static str,
    plural: &'static str,
    api_version: &'static str,
    kind: &'static str,
    /// By `namespace/name` (or `name`).
    objects: BTreeMap<String, Value>,
    /// Every event pushed since the last compaction, with its resourceVersion: a watch from
    /// an older resourceVersion gets them replayed, as from the API server's watch cache.
    history: Vec<(u64, String)>,
    watches: Vec<mpsc::UnboundedSender<Line>>,
    /// Events up to this resourceVersion are forgotten: a watch from before it is answered
    /// 410 Expired (as an ERROR event, as kube-apiserver does, or with `gone_as_http`, as an
    /// HTTP 410 to the watch request).
    compacted: u64,
    gone_as_http: bool,
}

#[derive(Default)]
struct State {
    kinds: Vec<Kind>,
    /// The last resourceVersion given out (one counter for every kind, as etcd's).
    rv: u64,
    requests: Vec<Request>,
    /// Watch events the test pushed.
    pushed: usize,
    /// The next this many Service status PATCHes answer 409 Conflict.
    conflicts: usize,
}

impl State {
    fn kind_of(&mut self, object: &Value) -> &mut Kind {
        let (api_version, kind) = (&object["apiVersion"], &object["kind"]);
        self.kinds
            .iter_mut()
            .find(|k| api_version == k.api_version && kind == k.kind)
            .unwrap_or_else(|| panic!("the fake serves no {api_version} {kind}"))
    }

    fn kind_at(&mut self, path: &str) -> &mut Kind {
        self.kinds
            .iter_mut()
            .find(|k| k.path == path)
            .unwrap_or_else(|| panic!("the fake serves nothing at {path}"))
    }

    /// Gives `object` the next resourceVersion; returns it.
    fn stamp(&mut self, object: &mut Value) -> u64 {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.rv
    }
}

fn key(object: &Value) -> String {
    let name = object["metadata"]["name"].as_str().expect("a name");
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().expect("an object");
            for (name, value) in fields {
                if value.is_null() {
                    object.remove(name);
                } else {
                    merge(object.entry(name.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The fake API server; stops (with every connection) when dropped.
struct Fake {
    url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Fake {
    /// Starts serving `objects` (each with its apiVersion and kind).
    async fn start(objects: Vec<Value>) -> Fake {
        let mut state = State {
            kinds: KINDS
                .iter()
                .map(|&(path, plural, api_version, kind)| Kind {
                    path,
                    plural,
                    api_version,
                    kind,
                    objects: BTreeMap::new(),
                    history: Vec::new(),
                    watches: Vec::new(),
                    compacted: 0,
                    gone_as_http: false,
                })
                .collect(),
            rv: 100,
            ..State::default()
        };
        for mut object in objects {
            state.stamp(&mut object);
            state.kind_of(&object).objects.insert(key(&object), object);
        }
        let state = Arc::new(Mutex::new(state));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        let server = tokio::spawn(async move {
            // Dropped with the server task: aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    connections.spawn(serve(stream, shared.clone()));
                }
                while connections.try_join_next().is_some() {}
            }
        });
        Fake { url, state, server }
    }

    fn client(&self) -> kube::Client {
        kube::Client::try_from(kube::Config::new(self.url.parse().unwrap())).unwrap()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// The requests to one collection (list and watch), in order.
    fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    fn pushed(&self) -> usize {
        self.state().pushed
    }

    fn resource_version(&self) -> u64 {
        self.state().rv
    }

    /// Changes the fake's objects as a watch event of `type_` (ADDED, MODIFIED, DELETED) and
    /// sends the event to the kind's open watches; returns its resourceVersion.
    fn push(&self, type_: &str, mut object: Value) -> u64 {
        let mut state = self.state();
        state.pushed += 1;
        let rv = state.stamp(&mut object);
        let kind = state.kind_of(&object);
        if type_ == "DELETED" {
            kind.objects.remove(&key(&object));
        } else {
            kind.objects.insert(key(&object), object.clone());
        }
        let line = json!({"type": type_, "object": object}).to_string();
        kind.history.push((rv, line.clone()));
        kind.watches
            .retain(|watch| watch.send(Line::Event(line.clone())).is_ok());
        rv
    }

    /// Changes the fake's objects of the kind at `path` with no watch event: what happened
    /// while nobody watched, and was compacted away (a watch from before it gets 410 Gone).
    fn change_unseen(&self, path: &str, remove: &[&str], add: Vec<Value>) {
        let mut state = self.state();
        let mut stamped = Vec::new();
        for mut object in add {
            state.stamp(&mut object);
            stamped.push(object);
        }
        let compacted = state.rv;
        let kind = state.kind_at(path);
        kind.compacted = compacted;
        for gone in remove {
            assert!(kind.objects.remove(*gone).is_some(), "no {gone} to remove");
        }
        for object in stamped {
            kind.objects.insert(key(&object), object);
        }
        kind.history.clear();
    }

    /// Closes every open watch of the kind at `path`, mid-stream.
    fn drop_watches(&self, path: &str) -> usize {
        let mut state = self.state();
        let kind = state.kind_at(path);
        let dropped = kind.watches.len();
        for watch in kind.watches.drain(..) {
            let _ = watch.send(Line::Drop);
        }
        dropped
    }

    /// A watch of the kind at `path` from a compacted resourceVersion is refused with an
    /// HTTP 410 (a Status body) instead of a 410 ERROR event.
    fn refuse_expired_watches_with_http_410(&self, path: &str) {
        self.state().kind_at(path).gone_as_http = true;
    }

    fn fail_next_service_status_patches(&self, count: usize) {
        self.state().conflicts = count;
    }

    /// Waits until `probe` finds what it looks for in the requests received so far.
    async fn eventually<T>(
        &self,
        what: &str,
        within: Duration,
        mut probe: impl FnMut(&[Request]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = probe(&self.requests()) {
                return found;
            }
            if Instant::now() > deadline {
                panic!("{what}: not within {within:?}; requests:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        let start = self.requests().first().map(|r| r.at);
        self.requests()
            .iter()
            .map(|r| {
                let ms = start.map_or(0, |s| r.at.duration_since(s).as_millis());
                format!("  +{ms}ms {} {}?{}\n", r.method, r.path, r.query)
            })
            .collect()
    }
}

enum Answer {
    Plain(u16, Value),
    /// A watch: its events until told to drop.
    Watch(mpsc::UnboundedReceiver<Line>),
    /// A watch that gets one event and ends (410 Expired).
    Once(String),
}

fn answer(state: &Mutex<State>, request: &Request) -> Answer {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.requests.push(request.clone());
    let path = request.path.as_str();
    if request.method == "GET" && path == "/version" {
        return Answer::Plain(
            200,
            json!({"major": "1", "minor": "34", "gitVersion": "v1.34.4",
                   "platform": "linux/amd64"}),
        );
    }
    let rv = state.rv;
    if request.method == "GET"
        && let Some(kind) = state.kinds.iter_mut().find(|k| k.path == path)
    {
        if !request.is_watch() {
            return Answer::Plain(
                200,
                json!({"apiVersion": kind.api_version, "kind": format!("{}List", kind.kind),
                       "metadata": {"resourceVersion": rv.to_string()},
                       "items": kind.objects.values().collect::<Vec<_>>()}),
            );
        }
        let since: u64 = request
            .param("resourceVersion")
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0);
        if since < kind.compacted {
            let message = format!("too old resource version: {since} ({})", kind.compacted);
            let gone = status(410, "Expired", &message);
            return if kind.gone_as_http {
                Answer::Plain(410, gone)
            } else {
                Answer::Once(json!({"type": "ERROR", "object": gone}).to_string())
            };
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        for (_, line) in kind.history.iter().filter(|(at, _)| *at > since) {
            let _ = sender.send(Line::Event(line.clone()));
        }
        kind.watches.push(sender);
        return Answer::Watch(receiver);
    }
    let segments: Vec<&str> = path.split('/').collect();
    let namespaced = segments.iter().position(|s| *s == "namespaces");
    match (request.method.as_str(), namespaced) {
        ("POST", Some(at)) if segments.get(at + 2) == Some(&"events") => {
            let mut event: Value = serde_json::from_str(&request.body).unwrap_or_default();
            state.rv += 1;
            event["metadata"]["resourceVersion"] = json!(state.rv.to_string());
            Answer::Plain(201, event)
        }
        ("PATCH", Some(at)) if segments.len() >= at + 4 => {
            let (namespace, plural, name) = (segments[at + 1], segments[at + 2], segments[at + 3]);
            let subresource = segments.get(at + 4).copied();
            if plural == "services" && subresource == Some("status") && state.conflicts > 0 {
                state.conflicts -= 1;
                let message = format!(
                    "Operation cannot be fulfilled on services \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                );
                return Answer::Plain(409, status(409, "Conflict", &message));
            }
            let rv = state.rv + 1;
            let Some(object) = state
                .kinds
                .iter()
                .find(|k| k.plural == plural)
                .and_then(|k| k.objects.get(&format!("{namespace}/{name}")))
            else {
                return Answer::Plain(404, status(404, "NotFound", &format!("{plural} {name}")));
            };
            // Answered as applied, but not applied: the watch shows what the test pushes.
            let mut patched = object.clone();
            let patch: Value = serde_json::from_str(&request.body).unwrap_or_default();
            merge(&mut patched, &patch);
            patched["metadata"]["resourceVersion"] = json!(rv.to_string());
            Answer::Plain(200, patched)
        }
        _ => Answer::Plain(
            404,
            status(404, "NotFound", &format!("the fake has no {path}")),
        ),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        _ => "Whatever",
    }
}

/// Serves one connection (keep-alive) until the client closes it or a watch ends.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    while let Some(request) = read_request(&mut read).await {
        match answer(&state, &request) {
            Answer::Plain(code, body) => {
                let body = body.to_string();
                let head = format!(
                    "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    reason(code),
                    body.len()
                );
                if write.write_all((head + &body).as_bytes()).await.is_err() {
                    return;
                }
            }
            Answer::Watch(lines) => return stream_watch(write, lines).await,
            Answer::Once(line) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                let _ = write
                    .write_all(format!("{head}{}0\r\n\r\n", chunk(&line)).as_bytes())
                    .await;
                return;
            }
        }
    }
}

fn chunk(line: &str) -> String {
    format!("{:x}\r\n{line}\n\r\n", line.len() + 1)
}

async fn stream_watch(mut write: OwnedWriteHalf, mut lines: mpsc::UnboundedReceiver<Line>) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if write.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    // Silent until told otherwise; the connection closes (without the last chunk) on Drop or
    // when the fake goes away.
    while let Some(Line::Event(line)) = lines.recv().await {
        if write.write_all(chunk(&line).as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads a request: request line, headers to the blank line, the body by Content-Length.
async fn read_request(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Request> {
    let mut line = String::new();
    if read.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if read.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
        assert!(
            !name.eq_ignore_ascii_case("transfer-encoding"),
            "the fake reads no chunked request bodies"
        );
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        at: Instant::now(),
        method,
        path: path.to_string(),
        query: query.to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn service(name: &str, cluster_ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
           "spec": {"type": "LoadBalancer", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                    "ipFamilies": ["IPv4"], "ports": [{"port": 80, "protocol": "TCP"}]}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "uid": format!("uid-ns-{name}")}})
}

fn names(snapshot: &Snapshot) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .controller_services
        .iter()
        .map(|s| s.key())
        .collect();
    names.sort();
    names
}

async fn start_source(fake: &Fake) -> watch::Receiver<Arc<Snapshot>> {
    tokio::time::timeout(
        PATIENCE,
        ironlb_k8s::watch(fake.client(), SourceOptions::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("no first snapshot; requests:\n{}", fake.log()))
}

/// Waits for a snapshot that passes `test`.
async fn snapshot_where(
    snapshots: &mut watch::Receiver<Arc<Snapshot>>,
    fake: &Fake,
    what: &str,
    test: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if test(&snapshot) {
            return snapshot;
        }
        match tokio::time::timeout_at(deadline, snapshots.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{what}: the source stopped"),
            Err(_) => panic!(
                "{what}: not within {PATIENCE:?}; last snapshot has {:?}; requests:\n{}",
                names(&snapshot),
                fake.log()
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_disconnect_resumes_from_the_last_resource_version() {
    let fake = Fake::start(vec![
        namespace("default"),
        service("a", "10.96.0.1"),
        service("b", "10.96.0.2"),
    ])
    .await;
    let listed = fake.resource_version();
    let mut snapshots = start_source(&fake).await;
    assert_eq!(names(&snapshots.borrow()), ["default/a", "default/b"]);

    let first_watch = fake
        .eventually("the first watch of Services", PATIENCE, |_| {
            fake.requests_to(SERVICES)
                .into_iter()
                .find(Request::is_watch)
        })
        .await;
    assert_eq!(
        first_watch.param("resourceVersion"),
        Some(listed.to_string()),
        "the watch starts where the list ended: {first_watch:?}"
    );

    let added = fake.push("ADDED", service("c", "10.96.0.3"));
    snapshot_where(&mut snapshots, &fake, "c added", |s| {
        names(s) == ["default/a", "default/b", "default/c"]
    })
    .await;

    let before = fake.requests_to(SERVICES).len();
    assert_eq!(fake.drop_watches(SERVICES), 1, "one open watch of Services");
    let rewatch = fake
        .eventually("a request for Services after the drop", PATIENCE, |_| {
            fake.requests_to(SERVICES).get(before).cloned()
        })
        .await;
    assert!(
        rewatch.is_watch(),
        "after a dropped watch, the source must watch again, not list: {rewatch:?}"
    );
    assert_eq!(
        rewatch.param("resourceVersion"),
        Some(added.to_string()),
        "the re-watch resumes from the last event seen: {rewatch:?}"
    );
    // The last snapshot stays in force meanwhile.
    assert_eq!(
        names(&snapshots.borrow()),
        ["default/a", "default/b", "default/c"]
    );

    let mut a = service("a", "10.96.0.1");
    a["metadata"]["labels"] = json!({"tier": "gold"});
    fake.push("MODIFIED", a);
    let snapshot = snapshot_where(&mut snapshots, &fake, "a relabelled", |s| {
        s.controller_services.iter().any(|service| {
            service.name == "a"
                && service
                    .labels
                    .iter()
                    .any(|(key, value)| key == "tier" && value == "gold")
        })
    })
    .await;
    assert_eq!(names(&snapshot), ["default/a", "default/b", "default/c"]);

    // Every kind was listed once, and only Services' watch was opened again.
    for (path, ..) in KINDS
        .iter()
        .filter(|(path, ..)| !path.ends_with("endpointslices"))
    {
        let lists = fake
            .requests_to(path)
            .iter()
            .filter(|r| r.is_list())
            .count();
        assert_eq!(lists, 1, "LISTs of {path}; requests:\n{}", fake.log());
    }
    assert!(
        fake.requests_to("/apis/discovery.k8s.io/v1/endpointslices")
            .is_empty(),
        "the controller reads no EndpointSlices"
    );
    let watches: Vec<Option<String>> = fake
        .requests_to(SERVICES)
        .iter()
        .filter(|r| r.is_watch())
        .map(|r| r.param("resourceVersion"))
        .collect();
    assert_eq!(
        watches,
        [Some(listed.to_string()), Some(added.to_string())],
        "requests:\n{}",
        fake.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_410_relists_and_forgets_objects_deleted_meanwhile() {
    let fake = Fake::start(vec![
        namespace("default"),
        service("a", "10.96.0.1"),
        service("b", "10.96.0.2"),
    ])
    .await;
    let listed = fake.resource_version();
    let mut snapshots = start_source(&fake).await;
    assert_eq!(names(&snapshots.borrow()), ["default/a", "default/b"]);
    fake.eventually("the first watch of Services", PATIENCE, |_| {
        fake.requests_to(SERVICES)
            .into_iter()
            .find(Request::is_watch)
    })
    .await;

    // While the source does not watch, b is deleted and d made, and the history compacted:
    // the re-watch from the first list's resourceVersion gets a 410 Expired ERROR event.
    fake.change_unseen(SERVICES, &["default/b"], vec![service("d", "10.96.0.4")]);
    let relisted = fake.resource_version();
    assert_eq!(fake.drop_watches(SERVICES), 1);

    let snapshot = snapshot_where(&mut snapshots, &fake, "b gone, d there", |s| {
        names(s) == ["default/a", "default/d"]
    })
    .await;
    assert_eq!(names(&snapshot), ["default/a", "default/d"]);
    // The source goes on watching from the new list.
    fake.eventually("a watch from the new list", PATIENCE, |_| {
        fake.requests_to(SERVICES)
            .iter()
            .find(|r| r.is_watch() && r.param("resourceVersion") == Some(relisted.to_string()))
            .cloned()
    })
    .await;

    let seen: Vec<String> = fake
        .requests_to(SERVICES)
        .iter()
        .map(|r| {
            if r.is_watch() {
                format!("WATCH {}", r.param("resourceVersion").unwrap_or_default())
            } else {
                "LIST".to_string()
            }
        })
        .collect();
    assert_eq!(
        seen,
        [
            "LIST".to_string(),
            format!("WATCH {listed}"),
            format!("WATCH {listed}"),
            "LIST".to_string(),
            format!("WATCH {relisted}"),
        ],
        "requests:\n{}",
        fake.log()
    );
    assert_eq!(fake.pushed(), 0);

    // Events after the re-list still arrive.
    fake.push("DELETED", service("a", "10.96.0.1"));
    snapshot_where(&mut snapshots, &fake, "a deleted", |s| {
        names(s) == ["default/d"]
    })
    .await;
}

/// The same gap, but the re-watch is refused with an HTTP 410 (a Status body) rather than a
/// 200 carrying a 410 ERROR event: what a proxy in front of the API server, or an API server
/// failing the watch before streaming, answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_410_on_the_watch_request_relists() {
    let fake = Fake::start(vec![
        namespace("default"),
        service("a", "10.96.0.1"),
        service("b", "10.96.0.2"),
    ])
    .await;
    let mut snapshots = start_source(&fake).await;
    assert_eq!(names(&snapshots.borrow()), ["default/a", "default/b"]);
    fake.eventually("the first watch of Services", PATIENCE, |_| {
        fake.requests_to(SERVICES)
            .into_iter()
            .find(Request::is_watch)
    })
    .await;

    fake.refuse_expired_watches_with_http_410(SERVICES);
    fake.change_unseen(SERVICES, &["default/b"], vec![service("d", "10.96.0.4")]);
    assert_eq!(fake.drop_watches(SERVICES), 1);

    snapshot_where(&mut snapshots, &fake, "b gone, d there", |s| {
        names(s) == ["default/a", "default/d"]
    })
    .await;
    let lists = fake
        .requests_to(SERVICES)
        .iter()
        .filter(|r| r.is_list())
        .count();
    assert_eq!(lists, 2, "requests:\n{}", fake.log());
}

fn pool() -> Value {
    json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
           "metadata": {"name": "prod-pool", "namespace": "metallb-system", "uid": "uid-prod-pool"},
           "spec": {"addresses": ["203.0.113.0/24"]}})
}

const WEB_STATUS: &str = "/api/v1/namespaces/default/services/web/status";
const POOL_STATUS: &str =
    "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/prod-pool/status";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_status_patch_is_retried_without_a_new_event() {
    let fake = Fake::start(vec![
        namespace("default"),
        namespace("metallb-system"),
        pool(),
        service("web", "10.96.0.10"),
    ])
    .await;
    let mut snapshots = start_source(&fake).await;
    assert_eq!(names(&snapshots.borrow()), ["default/web"]);
    assert_eq!(snapshots.borrow().resources.pools.len(), 1);
    fake.fail_next_service_status_patches(1);

    let (published, _) = watch::channel(Default::default());
    // Held to the end: the controller stops when the leader election's sender is gone.
    let (_leading, leader) = watch::channel(true);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    // Run on this task, not spawned: rustc cannot prove `run`'s future Send (the closure
    // in `apply` fails its higher-ranked lifetime check: "implementation of `FnOnce` is not
    // general enough"), so tokio::spawn refuses it; the daemon awaits it directly too.
    let controller = ironlb_k8s::controller::run(
        fake.client(),
        snapshots.clone(),
        leader,
        ironlb_controller::Options::default(),
        kube::runtime::events::Reporter {
            controller: "ironlb-controller".into(),
            instance: None,
        },
        published,
        shutdown,
    );
    tokio::pin!(controller);
    let checks = async {
        let status_patches = |requests: &[Request]| -> Vec<Request> {
            requests
                .iter()
                .filter(|r| r.method == "PATCH" && r.path == WEB_STATUS)
                .cloned()
                .collect()
        };

        let first = fake
            .eventually("a status patch of web", PATIENCE, |requests| {
                status_patches(requests).first().cloned()
            })
            .await;
        assert!(first.body.contains("203.0.113."), "{}", first.body);
        let pushed = fake.pushed();
        let second = fake
            .eventually("the status patch tried again", PATIENCE, |requests| {
                status_patches(requests).get(1).cloned()
            })
            .await;
        let after = second.at.duration_since(first.at);
        assert!(
            after <= Duration::from_secs(5),
            "retried only after {after:?}; requests:\n{}",
            fake.log()
        );
        assert!(second.body.contains("203.0.113."), "{}", second.body);
        assert_eq!(second.body, first.body);
        assert_eq!(
            fake.pushed(),
            pushed,
            "no watch event was pushed in between"
        );
        assert_eq!(pushed, 0);

        // Once it went through, nothing more is written while nothing changes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            status_patches(&fake.requests()).len(),
            2,
            "requests:\n{}",
            fake.log()
        );
        let requests = fake.requests();
        assert!(
            requests.iter().any(|r| r.method == "POST"
                && r.path == "/apis/events.k8s.io/v1/namespaces/default/events"
                && r.body.contains("IPAllocated")),
            "an IPAllocated event; requests:\n{}",
            fake.log()
        );
        assert!(
            requests
                .iter()
                .any(|r| r.method == "PATCH" && r.path == POOL_STATUS),
            "the pool's counts; requests:\n{}",
            fake.log()
        );

        // The source still works: the written status comes back through the watch, and the
        // controller, seeing its decision in place, writes nothing more.
        let patch: Value = serde_json::from_str(&second.body).unwrap();
        let ip = patch["status"]["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .unwrap()
            .to_string();
        let mut web = service("web", "10.96.0.10");
        web["metadata"]["annotations"] = json!({"metallb.io/ip-allocated-from-pool": "prod-pool"});
        web["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}});
        fake.push("MODIFIED", web);
        snapshot_where(&mut snapshots, &fake, "web's ingress", |s| {
            s.controller_services
                .iter()
                .any(|service| service.ingress_ips().iter().any(|i| i.to_string() == ip))
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            status_patches(&fake.requests()).len(),
            2,
            "requests:\n{}",
            fake.log()
        );
    };
    tokio::select! {
        () = &mut controller => panic!("the controller stopped by itself"),
        () = checks => {}
    }
    stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, controller)
        .await
        .expect("the controller stops on shutdown");
}

fn endpoint_slice(name: &str, service: &str, endpoints: Value) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": "default",
                        "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "endpoints": endpoints})
}

/// (service, serving nodes) of each slice the speaker keeps, sorted.
fn endpoints(snapshot: &Snapshot) -> Vec<(String, Vec<Option<String>>)> {
    let mut all: Vec<_> = snapshot
        .endpoints
        .iter()
        .map(|e| (e.service.clone(), e.serving_nodes.clone()))
        .collect();
    all.sort();
    all
}

/// A speaker's source asks only for LoadBalancer Services (every Node: layer 2 elections judge
/// them all), and keeps of each EndpointSlice the nodes where an endpoint can serve, through
/// the list, changes and deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_keeps_of_each_slice_only_the_nodes_that_can_serve() {
    let ready = |node: &str| json!({"addresses": ["10.244.0.1"], "nodeName": node, "conditions": {"ready": true}});
    let fake = Fake::start(vec![
        namespace("default"),
        service("a", "10.96.0.1"),
        endpoint_slice("a-1", "a", json!([ready("node-2"), ready("node-1")])),
        endpoint_slice("b-1", "b", json!([ready("node-2"), ready("node-3")])),
    ])
    .await;
    let options = SourceOptions {
        scope: ironlb_k8s::Scope::Speaker {
            node: "node-1".into(),
        },
        ..SourceOptions::default()
    };
    let mut snapshots = tokio::time::timeout(PATIENCE, ironlb_k8s::watch(fake.client(), options))
        .await
        .unwrap_or_else(|_| panic!("no first snapshot; requests:\n{}", fake.log()));
    let on = |s: &str, nodes: &[&str]| {
        (
            s.to_string(),
            nodes
                .iter()
                .map(|n| Some(n.to_string()))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        endpoints(&snapshots.borrow()),
        [
            on("a", &["node-2", "node-1"]),
            on("b", &["node-2", "node-3"])
        ]
    );

    // a's local endpoint stops being ready; b gains one here; a slice without a Service
    // label is not kept; b's slice goes away.
    let not_ready =
        json!({"addresses": ["10.244.0.1"], "nodeName": "node-1", "conditions": {"ready": false}});
    fake.push(
        "MODIFIED",
        endpoint_slice("a-1", "a", json!([ready("node-2"), not_ready])),
    );
    fake.push(
        "MODIFIED",
        endpoint_slice("b-1", "b", json!([ready("node-1")])),
    );
    let mut stray = endpoint_slice("x-1", "x", json!([ready("node-1")]));
    stray["metadata"]["labels"] = json!({});
    fake.push("ADDED", stray);
    snapshot_where(&mut snapshots, &fake, "a on node-2, b on node-1", |s| {
        endpoints(s) == [on("a", &["node-2"]), on("b", &["node-1"])]
    })
    .await;
    fake.push("DELETED", endpoint_slice("b-1", "b", json!([])));
    snapshot_where(&mut snapshots, &fake, "b's slice gone", |s| {
        endpoints(s) == [on("a", &["node-2"])]
    })
    .await;

    // What the speaker asked for.
    let query = |path: &str| {
        fake.requests_to(path)
            .iter()
            .find(|r| r.is_list())
            .map(|r| r.param("fieldSelector"))
            .unwrap_or_else(|| panic!("no LIST of {path}; requests:\n{}", fake.log()))
    };
    assert_eq!(query(SERVICES), Some("spec.type=LoadBalancer".into()));
    assert_eq!(query("/api/v1/nodes"), None);
}
