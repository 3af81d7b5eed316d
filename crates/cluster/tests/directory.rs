//! The cluster directory: files in, snapshot out; broken files keep their last good content;
//! the controller's status file becomes Service status; changes are picked up by inotify.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_cluster::status::{self, ControllerStatus, ServiceStatus};
use ironlb_cluster::{ClusterDirectory, watch};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("ironlb-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn write(&self, name: &str, text: &str) {
        // Write then rename, as editors and kubectl-like tools do.
        let temporary = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, self.0.join(name)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: prod-pool, namespace: metallb-system}\nspec: {addresses: [203.0.113.0/24]}\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {type: LoadBalancer, ports: [{port: 443}]}\n";

#[test]
fn seed_directory_reads_into_a_snapshot() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");
    let directory = ClusterDirectory::open(std::path::Path::new(seed)).unwrap();
    let snapshot = directory.snapshot();
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    assert_eq!(snapshot.resources.pools.len(), 1);
    assert_eq!(snapshot.resources.peers.len(), 2);
    assert_eq!(snapshot.resources.bfd_profiles.len(), 1);
    assert_eq!(snapshot.services.len(), 1);
}

#[test]
fn broken_file_is_reported_and_its_last_good_content_stays() {
    let dir = TempDir::new("broken");
    dir.write("pool.yaml", POOL);
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    assert_eq!(directory.snapshot().resources.pools.len(), 1);
    dir.write(
        "pool.yaml",
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: prod-pool\n",
    );
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert_eq!(
        snapshot.resources.pools.len(),
        1,
        "last good pool stays in force"
    );
    assert_eq!(snapshot.problems.len(), 1);
    assert!(snapshot.problems[0].file.ends_with("pool.yaml"));
    assert!(snapshot.problems[0].line >= 3, "{:?}", snapshot.problems[0]);
    // A decode error (string in a number field) also counts as broken.
    dir.write("pool.yaml", "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b}\nspec: {receiveInterval: fast}\n");
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert_eq!(snapshot.resources.pools.len(), 1);
    assert!(
        snapshot.problems[0]
            .message
            .contains("spec.receiveInterval"),
        "{:?}",
        snapshot.problems[0]
    );
    // Fixed: the new content replaces the old.
    dir.write("pool.yaml", SERVICE);
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert!(snapshot.problems.is_empty());
    assert!(snapshot.resources.pools.is_empty());
    assert_eq!(snapshot.services.len(), 1);
}

#[test]
fn deleted_file_is_dropped() {
    let dir = TempDir::new("deleted");
    dir.write("pool.yaml", POOL);
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    std::fs::remove_file(dir.0.join("pool.yaml")).unwrap();
    directory.reload_names(&["pool.yaml".into()]);
    assert!(directory.snapshot().resources.pools.is_empty());
}

#[test]
fn controller_status_becomes_service_ingress() {
    let dir = TempDir::new("status");
    dir.write("web.yaml", SERVICE);
    let controller = ControllerStatus {
        services: vec![ServiceStatus {
            namespace: "default".into(),
            name: "web".into(),
            ingress: vec!["203.0.113.5".parse().unwrap()],
            pool: Some("prod-pool".into()),
            pending_reason: None,
        }],
        ..Default::default()
    };
    status::write(&dir.0, status::CONTROLLER_FILE, &controller).unwrap();
    let snapshot = ClusterDirectory::open(&dir.0).unwrap().snapshot();
    let service = &snapshot.services[0];
    let ingress = service
        .status
        .as_ref()
        .unwrap()
        .load_balancer
        .as_ref()
        .unwrap()
        .ingress
        .as_ref()
        .unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(
        service.metadata.annotations.as_ref().unwrap()["metallb.io/ip-allocated-from-pool"],
        "prod-pool"
    );
    assert_eq!(
        status::read::<ControllerStatus>(&dir.0, status::CONTROLLER_FILE),
        Some(controller)
    );
}

#[test]
fn watcher_publishes_a_new_snapshot_after_a_file_changes() {
    let dir = TempDir::new("watch");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut snapshots = watch(&dir.0).unwrap();
        assert!(snapshots.borrow().resources.pools.is_empty());
        let written = Instant::now();
        dir.write("pool.yaml", POOL);
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                snapshots.changed().await.unwrap();
                if snapshots.borrow().resources.pools.len() == 1 {
                    break;
                }
            }
        })
        .await
        .expect("the new pool shows up");
        eprintln!(
            "file written -> snapshot published: {:?}",
            written.elapsed()
        );
        std::fs::remove_file(dir.0.join("pool.yaml")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                snapshots.changed().await.unwrap();
                if snapshots.borrow().resources.pools.is_empty() {
                    break;
                }
            }
        })
        .await
        .expect("the deleted pool goes away");
    });
}

// Directory mode faults (issue 12): files are read only once their writer has finished, and
// the whole directory is read again when inotify lost events or the directory itself.

use ironlb_cluster::Snapshot;
use ironlb_cluster::directory::{NameEvent, UNCERTAIN_WRITE_SETTLE, WatchEvents};
use std::io::Write;
use std::sync::Arc;

fn events(names: &[(&str, NameEvent)]) -> WatchEvents {
    WatchEvents {
        names: names
            .iter()
            .map(|(name, event)| ((*name).into(), *event))
            .collect(),
        ..Default::default()
    }
}

fn overflow() -> WatchEvents {
    WatchEvents {
        overflow: true,
        ..Default::default()
    }
}

/// `count` LoadBalancer Services named `prefix-0`, `prefix-1`, … as one multi-document file.
fn services(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {prefix}-{i}, namespace: default, labels: {{app: web}}}}\nspec: {{type: LoadBalancer, ports: [{{port: 443, protocol: TCP}}]}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Writes `text` into `file` in `chunk`-byte pieces, each flushed to disk, with a pause
/// between, as a slow writer would.
fn write_slowly(mut file: std::fs::File, text: &str, chunk: usize) {
    for piece in text.as_bytes().chunks(chunk) {
        file.write_all(piece).unwrap();
        file.sync_all().unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
}

#[test]
fn file_being_written_keeps_its_last_good_content_until_its_close() {
    let dir = TempDir::new("being-written");
    dir.write("pool.yaml", POOL);
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    let now = Instant::now();
    // A writer truncated the file and wrote half a document.
    std::fs::write(
        dir.0.join("pool.yaml"),
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: prod-",
    )
    .unwrap();
    assert!(!directory.apply(&events(&[("pool.yaml", NameEvent::Writing)]), now));
    assert_eq!(
        directory.being_written().collect::<Vec<_>>(),
        [dir.0.join("pool.yaml")]
    );
    assert_eq!(directory.next_deadline(), None, "it waits for the close");
    // Not even a full re-read reads it.
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert_eq!(snapshot.resources.pools.len(), 1, "last good content");
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    // Closed as it is: now it is broken, and says so.
    assert!(directory.apply(&events(&[("pool.yaml", NameEvent::Complete)]), now));
    let snapshot = directory.snapshot();
    assert_eq!(snapshot.resources.pools.len(), 1);
    assert_eq!(snapshot.problems.len(), 1);
    assert_eq!(directory.being_written().count(), 0);
    // Written again and closed, in one batch: read once, whole.
    std::fs::write(dir.0.join("pool.yaml"), SERVICE).unwrap();
    let batch = events(&[
        ("pool.yaml", NameEvent::Writing),
        ("pool.yaml", NameEvent::Complete),
    ]);
    assert!(directory.apply(&batch, now));
    let snapshot = directory.snapshot();
    assert!(snapshot.problems.is_empty());
    assert!(snapshot.resources.pools.is_empty());
    assert_eq!(snapshot.services.len(), 1);
    // A close followed by a new write in the same batch: the new write is waited for.
    assert!(!directory.apply(
        &events(&[
            ("pool.yaml", NameEvent::Complete),
            ("pool.yaml", NameEvent::Writing)
        ]),
        now
    ));
    // Hidden temporary names and other files are not manifests.
    assert!(!directory.apply(
        &events(&[
            (".pool.yaml.tmp", NameEvent::Writing),
            ("notes.txt", NameEvent::Complete)
        ]),
        now
    ));
    assert_eq!(directory.being_written().count(), 1);
}

#[test]
fn created_name_with_no_write_or_close_is_read_at_its_deadline() {
    // A hard link is created whole: IN_CREATE, and no write or close follows.
    let dir = TempDir::new("created");
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    let outside = TempDir::new("created-outside");
    std::fs::write(outside.0.join("pool.yaml"), POOL).unwrap();
    std::fs::hard_link(outside.0.join("pool.yaml"), dir.0.join("pool.yaml")).unwrap();
    let now = Instant::now();
    assert!(!directory.apply(&events(&[("pool.yaml", NameEvent::Created)]), now));
    assert_eq!(
        directory.next_deadline(),
        Some(now + UNCERTAIN_WRITE_SETTLE)
    );
    assert!(!directory.settle(now + UNCERTAIN_WRITE_SETTLE / 2));
    assert!(directory.snapshot().resources.pools.is_empty());
    assert!(directory.settle(now + UNCERTAIN_WRITE_SETTLE));
    assert_eq!(directory.snapshot().resources.pools.len(), 1);
    assert_eq!(directory.next_deadline(), None);
    // A created name that is then written waits for its close, however long.
    assert!(!directory.apply(
        &events(&[
            ("web.yaml", NameEvent::Created),
            ("web.yaml", NameEvent::Writing)
        ]),
        now
    ));
    assert_eq!(directory.next_deadline(), None);
    assert!(!directory.settle(now + UNCERTAIN_WRITE_SETTLE * 100));
}

#[test]
fn overflow_reads_every_file_again() {
    let dir = TempDir::new("overflow-unit");
    dir.write("old.yaml", POOL);
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    // Changed behind the watch's back: the events were lost.
    std::fs::remove_file(dir.0.join("old.yaml")).unwrap();
    dir.write("web.yaml", SERVICE);
    let now = Instant::now();
    assert!(directory.apply(&overflow(), now));
    let snapshot = directory.snapshot();
    assert!(snapshot.resources.pools.is_empty());
    assert_eq!(snapshot.services.len(), 1);
    // A file being written when events were lost may have had its close among them: it is
    // not read now, but at a deadline, unless its writer shows it is still at work.
    std::fs::write(dir.0.join("web.yaml"), POOL).unwrap();
    assert!(!directory.apply(&events(&[("web.yaml", NameEvent::Writing)]), now));
    assert!(directory.apply(&overflow(), now));
    assert_eq!(directory.snapshot().services.len(), 1, "not read yet");
    assert_eq!(
        directory.next_deadline(),
        Some(now + UNCERTAIN_WRITE_SETTLE)
    );
    assert!(!directory.apply(&events(&[("web.yaml", NameEvent::Writing)]), now));
    assert_eq!(
        directory.next_deadline(),
        None,
        "still written: wait for the close"
    );
    assert!(directory.apply(&overflow(), now));
    assert!(directory.settle(now + UNCERTAIN_WRITE_SETTLE));
    let snapshot = directory.snapshot();
    assert_eq!(
        snapshot.resources.pools.len(),
        1,
        "its close was lost: read anyway"
    );
    assert!(snapshot.services.is_empty());
}

#[test]
fn directory_that_cannot_be_listed_keeps_its_last_good_content_with_a_problem() {
    let parent = TempDir::new("unlisted");
    let root = parent.0.join("cluster");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("pool.yaml"), POOL).unwrap();
    let mut directory = ClusterDirectory::open(&root).unwrap();
    std::fs::rename(&root, parent.0.join("moved")).unwrap();
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert_eq!(snapshot.resources.pools.len(), 1);
    assert_eq!(snapshot.problems.len(), 1);
    assert_eq!(snapshot.problems[0].file, root);
    assert!(
        snapshot.problems[0].message.contains("cannot be read"),
        "{}",
        snapshot.problems[0]
    );
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("web.yaml"), SERVICE).unwrap();
    directory.reload_all();
    let snapshot = directory.snapshot();
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    assert!(snapshot.resources.pools.is_empty());
    assert_eq!(snapshot.services.len(), 1);
}

/// Every snapshot's Services are one whole version of the file (`counts`), and none has a
/// problem.
fn assert_whole(snapshot: &Snapshot, counts: &[usize]) {
    assert!(
        snapshot.problems.is_empty(),
        "a half-written file was read: {:?}",
        snapshot.problems
    );
    assert!(
        counts.contains(&snapshot.services.len()),
        "a half-written file was read: {} Services, expected one of {counts:?}",
        snapshot.services.len()
    );
}

#[test]
fn manifest_written_in_small_pieces_is_never_read_half() {
    // The watch and the directory driven by hand, so every state in between is checked.
    use ironlb_net::socket::DirectoryWatch;
    let dir = TempDir::new("pieces");
    std::fs::write(dir.0.join("web.yaml"), services("old", 3)).unwrap();
    let watch = DirectoryWatch::new(&dir.0).unwrap();
    let mut directory = ClusterDirectory::open(&dir.0).unwrap();
    assert_eq!(directory.snapshot().services.len(), 3);
    let text = services("new", 20);
    let file = std::fs::File::create(dir.0.join("web.yaml")).unwrap(); // truncates in place
    let writer = std::thread::spawn(move || write_slowly(file, &text, 40));
    let (mut states, mut seen_writing) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match watch.read_events() {
            Ok(events) => {
                directory.apply(&events, Instant::now());
                seen_writing |= directory.being_written().count() > 0;
                states += 1;
                assert_whole(&directory.snapshot(), &[3, 20]);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(error) => panic!("{error}"),
        }
        if writer.is_finished() && directory.snapshot().services.len() == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the final content never showed");
    }
    writer.join().unwrap();
    assert!(seen_writing, "the writer was never seen at work");
    eprintln!("{states} states checked while the file was written");
    assert!(states > 10, "{states}");
}

/// Runs `body` with a fresh watch of `dir` on a current-thread runtime.
fn with_watch<F: std::future::Future<Output = ()>>(
    dir: &std::path::Path,
    body: impl FnOnce(tokio::sync::watch::Receiver<Arc<Snapshot>>) -> F,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let snapshots = watch(dir).unwrap();
        body(snapshots).await
    });
}

/// Waits until a published snapshot satisfies `done`, checking `every` on each one seen.
async fn until(
    snapshots: &mut tokio::sync::watch::Receiver<Arc<Snapshot>>,
    what: &str,
    timeout: Duration,
    mut every: impl FnMut(&Snapshot),
    mut done: impl FnMut(&Snapshot) -> bool,
) {
    tokio::time::timeout(timeout, async {
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            every(&snapshot);
            if done(&snapshot) {
                return;
            }
            snapshots.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[test]
fn watch_loop_never_publishes_a_half_written_manifest() {
    let dir = TempDir::new("pieces-loop");
    std::fs::write(dir.0.join("web.yaml"), services("old", 3)).unwrap();
    let dir = &dir;
    with_watch(&dir.0, |mut snapshots| async move {
        let text = services("new", 20);
        let file = std::fs::File::create(dir.0.join("web.yaml")).unwrap();
        let writer = std::thread::spawn(move || write_slowly(file, &text, 40));
        let mut published = 0;
        until(
            &mut snapshots,
            "the whole new file",
            Duration::from_secs(20),
            |snapshot| {
                published += 1;
                assert_whole(snapshot, &[3, 20]);
            },
            |snapshot| snapshot.services.len() == 20,
        )
        .await;
        assert!(writer.is_finished());
        writer.join().unwrap();
        eprintln!("{published} snapshots seen");
    });
}

#[test]
fn watch_loop_reads_a_file_renamed_from_a_hidden_temporary_name() {
    let dir = TempDir::new("rename-loop");
    let dir = &dir;
    with_watch(&dir.0, |mut snapshots| async move {
        let text = services("web", 20);
        let temporary = dir.0.join(".web.yaml.tmp");
        let target = dir.0.join("web.yaml");
        let writer = std::thread::spawn(move || {
            write_slowly(std::fs::File::create(&temporary).unwrap(), &text, 40);
            std::fs::rename(&temporary, &target).unwrap();
        });
        until(
            &mut snapshots,
            "the renamed file",
            Duration::from_secs(20),
            |snapshot| assert_whole(snapshot, &[0, 20]),
            |snapshot| snapshot.services.len() == 20,
        )
        .await;
        writer.join().unwrap();
    });
}

#[test]
fn kernel_queue_overflow_makes_the_watch_loop_read_everything_again() {
    // No sysctl is changed: while the loop cannot run (this is a current-thread runtime and
    // nothing awaits), the queue is filled to the system's limit with modifications
    // alternating between two files the kernel cannot merge; the changes that follow are lost.
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dir = TempDir::new("overflow-loop");
    dir.write("old.yaml", SERVICE);
    let dir = &dir;
    with_watch(&dir.0, |mut snapshots| async move {
        assert_eq!(snapshots.borrow().services.len(), 1);
        let mut first = std::fs::File::create(dir.0.join("noise-a.txt")).unwrap();
        let mut second = std::fs::File::create(dir.0.join("noise-b.txt")).unwrap();
        for _ in 0..=limit / 2 + 1 {
            first.write_all(b"x").unwrap();
            second.write_all(b"x").unwrap();
        }
        dir.write("pool.yaml", POOL);
        std::fs::remove_file(dir.0.join("old.yaml")).unwrap();
        until(
            &mut snapshots,
            "the changes made while events were lost",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.resources.pools.len() == 1 && snapshot.services.is_empty(),
        )
        .await;
    });
}

#[test]
fn watch_loop_follows_the_directory_moved_away_and_back() {
    let parent = TempDir::new("moved-loop");
    let root = parent.0.join("cluster");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("pool.yaml"), POOL).unwrap();
    let (root, parent) = (&root, &parent);
    with_watch(root, |mut snapshots| async move {
        std::fs::rename(root, parent.0.join("old")).unwrap();
        until(
            &mut snapshots,
            "a problem naming the missing directory",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.problems.iter().any(|p| p.file == *root),
        )
        .await;
        assert_eq!(
            snapshots.borrow().resources.pools.len(),
            1,
            "last good content"
        );
        // Changes to the directory now elsewhere are not this cluster's.
        std::fs::write(parent.0.join("old/web.yaml"), SERVICE).unwrap();
        std::fs::create_dir(root).unwrap();
        std::fs::write(root.join(".web.yaml.tmp"), services("new", 2)).unwrap();
        std::fs::rename(root.join(".web.yaml.tmp"), root.join("web.yaml")).unwrap();
        until(
            &mut snapshots,
            "the new directory's content",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.services.len() == 2 && snapshot.problems.is_empty(),
        )
        .await;
        assert!(snapshots.borrow().resources.pools.is_empty());
        // And it is watched: a change shows.
        std::fs::write(root.join("pool.yaml"), POOL).unwrap();
        until(
            &mut snapshots,
            "a change in the new directory",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.resources.pools.len() == 1,
        )
        .await;
    });
}

#[test]
fn watch_loop_reads_a_deleted_directory_again_once_it_is_back() {
    let parent = TempDir::new("deleted-loop");
    let root = parent.0.join("cluster");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("web.yaml"), SERVICE).unwrap();
    let root = &root;
    with_watch(root, |mut snapshots| async move {
        std::fs::remove_dir_all(root).unwrap();
        until(
            &mut snapshots,
            "a problem naming the deleted directory",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.problems.iter().any(|p| p.file == *root),
        )
        .await;
        std::fs::create_dir(root).unwrap();
        std::fs::write(root.join("pool.yaml"), POOL).unwrap();
        until(
            &mut snapshots,
            "the new directory's content",
            Duration::from_secs(10),
            |_| {},
            |snapshot| snapshot.resources.pools.len() == 1 && snapshot.problems.is_empty(),
        )
        .await;
        // The status directory is watched again too: the controller's assignments show.
        let controller = ControllerStatus {
            services: vec![ServiceStatus {
                namespace: "default".into(),
                name: "web".into(),
                ingress: vec!["203.0.113.5".parse().unwrap()],
                ..Default::default()
            }],
            ..Default::default()
        };
        std::fs::write(root.join("web.yaml"), SERVICE).unwrap();
        status::write(root, status::CONTROLLER_FILE, &controller).unwrap();
        until(
            &mut snapshots,
            "the controller's assignment",
            Duration::from_secs(10),
            |_| {},
            |snapshot| {
                snapshot.services.first().is_some_and(|service| {
                    service
                        .status
                        .as_ref()
                        .and_then(|s| s.load_balancer.as_ref()?.ingress.as_ref())
                        .is_some_and(|ingress| !ingress.is_empty())
                })
            },
        )
        .await;
    });
}
