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
