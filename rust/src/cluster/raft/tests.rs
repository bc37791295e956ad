//! `cd rust && cargo test --lib cluster::raft` (the speed figure: add `-- --ignored --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openraft::storage::RaftLogStorage;

use super::disk;
use super::log_store::LogStore;
use super::*;

/// A key-value machine; every command `key=value` answers its sequence number.
#[derive(Default, Debug, PartialEq, Clone)]
struct Kv {
    n: u64,
    map: BTreeMap<String, String>,
}

impl Machine for Kv {
    fn apply(&mut self, command: &[u8]) -> Vec<u8> {
        let s = String::from_utf8_lossy(command);
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        self.map.insert(k.to_string(), v.to_string());
        self.n += 1;
        self.n.to_string().into_bytes()
    }
    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&(self.n, &self.map)).unwrap()
    }
    fn restore(&mut self, snapshot: &[u8]) -> std::io::Result<()> {
        (self.n, self.map) = serde_json::from_slice(snapshot)?;
        Ok(())
    }
}

struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("raftlog-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn dirs(&self, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let dir = self.0.join(format!("d{i}/.smartstorage/raft"));
                // A formatted drive: the log creates its own folder only.
                std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
                dir
            })
            .collect()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts(dirs: &[PathBuf], quorum: usize, snapshot_every: u64) -> LogOptions {
    LogOptions {
        node_id: 1,
        dirs: dirs.to_vec(),
        write_quorum: quorum,
        fsync: false,
        snapshot_every,
        network: None,
        name: String::new(),
        advertise: String::new(),
        seeds: Vec::new(),
    }
}

async fn open(o: LogOptions) -> (MetaLog<Kv>, Arc<RwLock<Kv>>) {
    let m = Arc::new(RwLock::new(Kv::default()));
    let log = MetaLog::open(o, m.clone()).await.expect("open");
    (log, m)
}

async fn put(log: &MetaLog<Kv>, k: &str, v: &str) -> u64 {
    let r = log
        .write(format!("{k}={v}").into_bytes())
        .await
        .expect("write");
    String::from_utf8(r).unwrap().parse().unwrap()
}

fn file(dir: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(name)).ok()
}

/// Every drive holds the same log and snapshot.
fn assert_same_files(dirs: &[PathBuf]) {
    for d in &dirs[1..] {
        assert_eq!(
            file(d, disk::LOG),
            file(&dirs[0], disk::LOG),
            "log of {d:?}"
        );
        assert_eq!(
            file(d, disk::SNAPSHOT),
            file(&dirs[0], disk::SNAPSHOT),
            "snapshot of {d:?}"
        );
        assert_eq!(
            file(d, disk::VOTE),
            file(&dirs[0], disk::VOTE),
            "vote of {d:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_answer_in_order_and_status_follows() {
    let t = Tmp::new();
    let dirs = t.dirs(3);
    let (log, m) = open(opts(&dirs, 2, 1000)).await;
    let s = log.status();
    assert_eq!(s.leader_id, Some(1));
    assert_eq!(s.role, "leader");
    assert!(s.term >= 1);
    assert_eq!((s.voters, s.learners), (vec![1], vec![]));
    let mut commit = s.commit_index;
    for i in 1..=20u64 {
        assert_eq!(put(&log, &format!("k{i}"), "v").await, i);
        let s = log.status();
        assert!(s.commit_index > commit, "commit index rises");
        assert!(s.applied_index >= s.commit_index);
        commit = s.commit_index;
    }
    // Concurrent writes all land, each with its own sequence number.
    let mut tasks = Vec::new();
    let log = Arc::new(log);
    for i in 0..10 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            put(&log, &format!("c{i}"), "x").await
        }));
    }
    let mut seqs: Vec<u64> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (21..=30).collect::<Vec<_>>());
    log.read_barrier().await.unwrap();
    assert_eq!(m.read().unwrap().n, 30);
    assert!(log.drives().iter().all(|d| d.ok && d.error.is_none()));
    log.shutdown().await;
    assert_same_files(&dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_from_snapshot_and_log() {
    let t = Tmp::new();
    let dirs = t.dirs(3);
    let (log, m) = open(opts(&dirs, 2, 5)).await;
    for i in 1..=23u64 {
        assert_eq!(put(&log, &format!("k{}", i % 7), &i.to_string()).await, i);
    }
    let before = m.read().unwrap().clone();
    log.shutdown().await;
    drop(log);
    // Snapshots were taken and the log compacted behind them.
    let (meta, _) = disk::decode_snapshot(&file(&dirs[0], disk::SNAPSHOT).unwrap()).unwrap();
    assert!(meta.last_log_id.unwrap().index >= 15, "{meta:?}");
    let img = disk::read_drive(&dirs[0]).unwrap();
    assert!(img.log.purged.is_some());
    assert!(
        img.log.entries.len() < 10,
        "{} entries left",
        img.log.entries.len()
    );

    let (log, m) = open(opts(&dirs, 2, 5)).await;
    assert_eq!(*m.read().unwrap(), before);
    assert_eq!(put(&log, "after", "restart").await, 24);
    assert_eq!(log.status().leader_id, Some(1));
    log.shutdown().await;
    drop(log);

    // Again, this time with a snapshot policy that leaves log entries after the snapshot.
    let (log, m) = open(opts(&dirs, 2, 1000)).await;
    assert_eq!(m.read().unwrap().n, 24);
    for i in 25..=30 {
        assert_eq!(put(&log, "x", "y").await, i);
    }
    log.shutdown().await;
    drop(log);
    let (log, m) = open(opts(&dirs, 2, 1000)).await;
    assert_eq!(m.read().unwrap().n, 30);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_cut_off() {
    let t = Tmp::new();
    let dirs = t.dirs(3);
    let fsynced = LogOptions {
        fsync: true,
        ..opts(&dirs, 2, 1000)
    };
    let (log, _) = open(fsynced.clone()).await;
    for i in 1..=10 {
        put(&log, "k", &i.to_string()).await;
    }
    log.shutdown().await;
    drop(log);
    let good = file(&dirs[1], disk::LOG).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(&[7, 0, 0, 0, 1, 2, 3]); // half a record
    std::fs::write(dirs[1].join(disk::LOG), &torn).unwrap();

    let (log, m) = open(fsynced).await;
    assert_eq!(m.read().unwrap().n, 10);
    assert_eq!(
        file(&dirs[1], disk::LOG).unwrap(),
        good,
        "torn tail cut off"
    );
    assert_eq!(put(&log, "k", "11").await, 11);
    assert!(file(&dirs[1], disk::LOG).unwrap().len() > good.len());
    log.shutdown().await;
    assert_same_files(&dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_and_lagging_drives_are_rebuilt_at_open() {
    let t = Tmp::new();
    let dirs = t.dirs(4);
    let (log, _) = open(opts(&dirs, 3, 4)).await;
    for i in 1..=9 {
        put(&log, "k", &i.to_string()).await;
    }
    // Drive 0 "goes offline" here: keep its files as they are now.
    let stale: Vec<_> = [disk::LOG, disk::SNAPSHOT, disk::VOTE]
        .iter()
        .map(|n| (n, file(&dirs[0], n)))
        .collect();
    for i in 10..=17 {
        put(&log, "k", &i.to_string()).await;
    }
    log.shutdown().await;
    drop(log);
    for (n, b) in stale {
        if let Some(b) = b {
            std::fs::write(dirs[0].join(n), b).unwrap();
        }
    }
    std::fs::remove_dir_all(&dirs[2]).unwrap(); // a replaced disk

    let (log, m) = open(opts(&dirs, 3, 4)).await;
    assert_eq!(m.read().unwrap().n, 17);
    assert_eq!(m.read().unwrap().map["k"], "17");
    assert_same_files(&dirs);
    assert_eq!(put(&log, "k", "18").await, 18);
    log.shutdown().await;
    assert_same_files(&dirs);
}

/// Makes a drive folder unusable whoever runs the test (chmod does not stop root): the folder
/// becomes a regular file.
fn break_dir(d: &Path) {
    // Retried: a background write of the committed id may add a file meanwhile.
    for _ in 0..100 {
        if std::fs::remove_dir_all(d).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(d, b"not a folder").unwrap();
}

fn mend_dir(d: &Path) {
    std::fs::remove_file(d).unwrap();
    std::fs::create_dir_all(d).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_failures_degrade_then_lose_quorum() {
    let t = Tmp::new();
    let dirs = t.dirs(4);
    let (log, m) = open(opts(&dirs, 3, 1000)).await;
    put(&log, "a", "1").await;

    // One drive lost: writes go on, the drive is reported.
    break_dir(&dirs[3]);
    assert_eq!(put(&log, "b", "2").await, 2);
    assert_eq!(put(&log, "c", "3").await, 3);
    let d = log.drives();
    assert!(d[..3].iter().all(|d| d.ok));
    assert!(!d[3].ok && d[3].error.is_some(), "{d:?}");

    // It comes back (empty): resync rewrites it.
    mend_dir(&dirs[3]);
    assert_eq!(log.resync_drives().await.unwrap(), 1);
    assert!(log.drives().iter().all(|d| d.ok));
    assert_eq!(log.resync_drives().await.unwrap(), 0, "nothing left to do");
    assert_same_files(&dirs);
    assert_eq!(put(&log, "d", "4").await, 4);
    assert_same_files(&dirs);

    // A disk swapped while running (no write failed yet): resync notices the missing files.
    std::fs::remove_dir_all(&dirs[0]).unwrap();
    std::fs::create_dir_all(&dirs[0]).unwrap();
    assert_eq!(log.resync_drives().await.unwrap(), 1);
    assert_same_files(&dirs);
    // Swapped again, and a write comes first: the dead handle is noticed, the drive dropped.
    std::fs::remove_dir_all(&dirs[0]).unwrap();
    std::fs::create_dir_all(&dirs[0]).unwrap();
    assert_eq!(put(&log, "d", "5").await, 5);
    assert!(!log.drives()[0].ok);
    assert_eq!(log.resync_drives().await.unwrap(), 1);
    assert_same_files(&dirs);

    // Two of four lost with a quorum of three: writes fail, and do not hang.
    break_dir(&dirs[1]);
    break_dir(&dirs[2]);
    for _ in 0..2 {
        let r = tokio::time::timeout(Duration::from_secs(10), log.write(b"e=5".to_vec()))
            .await
            .expect("a write must not hang");
        assert!(matches!(r, Err(LogError::Unavailable(_))), "{r:?}");
    }
    assert_eq!(log.drives().iter().filter(|d| d.ok).count(), 2);
    // openraft stopped on the failed write: the log says so and needs reopening.
    let s = log.status();
    assert_eq!((s.role.as_str(), s.leader_id), ("shutdown", None));
    let r = log.read_barrier().await;
    assert!(matches!(r, Err(LogError::Unavailable(_))), "{r:?}");
    log.shutdown().await;
    drop(log);
    assert!(m.read().unwrap().n >= 5);

    // Open refuses with fewer than write_quorum readable drives.
    let r = MetaLog::open(opts(&dirs, 3, 1000), Arc::new(RwLock::new(Kv::default()))).await;
    assert!(matches!(r, Err(LogError::Unavailable(_))));

    // With the drives back, open rebuilds them; every acknowledged write is there.
    mend_dir(&dirs[1]);
    mend_dir(&dirs[2]);
    let (log, m) = open(opts(&dirs, 3, 1000)).await;
    let n = m.read().unwrap().n;
    assert!(n >= 5, "{n}");
    assert_eq!(m.read().unwrap().map["d"], "5");
    assert_same_files(&dirs);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_and_purge_rewrite_the_drives() {
    let t = Tmp::new();
    let dirs = t.dirs(2);
    let (log, _) = open(opts(&dirs, 2, 1000)).await;
    for i in 1..=10 {
        put(&log, "k", &i.to_string()).await;
    }
    log.shutdown().await;
    drop(log);

    let (shared, fresh) = recover::recover(&dirs, 2, false).unwrap();
    assert!(!fresh);
    let mut store = LogStore {
        shared: Arc::new(shared),
    };
    let ids: Vec<_> = disk::read_drive(&dirs[0])
        .unwrap()
        .log
        .entries
        .iter()
        .map(|e| e.log_id)
        .collect();
    let n = ids.len();
    store.truncate(ids[n - 3]).await.unwrap();
    for d in &dirs {
        let img = disk::read_drive(d).unwrap();
        assert_eq!(img.log.entries.last().unwrap().log_id, ids[n - 4]);
        assert_eq!(
            img.raw_log.unwrap().len() as u64,
            store.shared.mem().file_len
        );
    }
    store.purge(ids[2]).await.unwrap();
    for d in &dirs {
        let img = disk::read_drive(d).unwrap();
        assert_eq!(img.log.purged, Some(ids[2]));
        assert_eq!(img.log.entries.first().unwrap().log_id, ids[3]);
        assert_eq!(img.log.entries.last().unwrap().log_id, ids[n - 4]);
    }
    let st = store.get_log_state().await.unwrap();
    assert_eq!(
        (st.last_purged_log_id, st.last_log_id),
        (Some(ids[2]), Some(ids[n - 4]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused() {
    let t = Tmp::new();
    let dirs = t.dirs(2);
    let m = Arc::new(RwLock::new(Kv::default()));
    let r = MetaLog::open(opts(&dirs, 3, 10), m.clone()).await;
    assert!(matches!(r, Err(LogError::Invalid(_))));
    let r = MetaLog::open(opts(&[], 1, 10), m).await;
    assert!(matches!(r, Err(LogError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_needs_drives_that_overlap_every_write_quorum() {
    let t = Tmp::new();
    let dirs = t.dirs(3);
    // A new log is not started while a drive is unreadable.
    std::fs::create_dir_all(dirs[2].parent().unwrap()).unwrap();
    std::fs::write(&dirs[2], b"x").unwrap();
    let kv = || Arc::new(RwLock::new(Kv::default()));
    let r = MetaLog::open(opts(&dirs, 2, 10), kv()).await;
    assert!(matches!(r, Err(LogError::Unavailable(_))), "{:?}", r.err());
    mend_dir(&dirs[2]);
    let (log, _) = open(opts(&dirs, 1, 10)).await;
    put(&log, "a", "1").await;
    log.shutdown().await;
    drop(log);
    // Quorum 1 of 3: a write may sit on one drive only, so open wants all three.
    break_dir(&dirs[0]);
    let r = MetaLog::open(opts(&dirs, 1, 10), kv()).await;
    assert!(matches!(r, Err(LogError::Unavailable(_))), "{:?}", r.err());
    // Quorum 2 of 3: any two drives overlap every write.
    let (log, m) = open(opts(&dirs, 2, 10)).await;
    assert_eq!(m.read().unwrap().map["a"], "1");
    assert!(!log.drives()[0].ok);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_across_snapshots_survive_restarts() {
    let t = Tmp::new();
    let dirs = t.dirs(3);
    let mut expect = 0u64;
    for round in 0..3 {
        let (log, m) = open(opts(&dirs, 2, 3)).await;
        assert_eq!(m.read().unwrap().n, expect, "round {round}");
        let log = Arc::new(log);
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut last = 0;
                    for i in 0..25 {
                        let seq = put(&log, &format!("w{w}"), &i.to_string()).await;
                        assert!(seq > last, "a writer's answers rise");
                        last = seq;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        expect += 200;
        log.read_barrier().await.unwrap();
        let state = m.read().unwrap().clone();
        assert_eq!(state.n, expect);
        assert!((0..8).all(|w| state.map[&format!("w{w}")] == "24"));
        log.shutdown().await;
        assert_same_files(&dirs);
    }
}

/// Small-command throughput over 4 drive folders, fsync on and off, 1, 16 and 64 writers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn speed() {
    for fsync in [false, true] {
        for writers in [1usize, 16, 64] {
            let t = Tmp::new();
            let dirs = t.dirs(4);
            let mut o = opts(&dirs, 3, 10_000);
            o.fsync = fsync;
            let (log, _) = open(o).await;
            let log = Arc::new(log);
            let per = if fsync { 2000 } else { 10_000 } / writers;
            let start = Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let log = log.clone();
                    tokio::spawn(async move {
                        for i in 0..per {
                            log.write(format!("key{w}-{i}=some small value").into_bytes())
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let n = per * writers;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "fsync {fsync:5} writers {writers:2}: {n} writes in {secs:.2} s = {:.0} writes/s",
                n as f64 / secs
            );
            log.shutdown().await;
        }
    }
}

// --- several nodes over QUIC ---

const SECRET: &str = "the secret of the test cluster";

/// A node of a test cluster: its log, machine and endpoint.
struct Node {
    log: MetaLog<Kv>,
    kv: Arc<RwLock<Kv>>,
    quic: Arc<crate::cluster::quic::QuicNode>,
}

impl Node {
    async fn start(id: u64, tmp: &Tmp, seeds: Vec<String>) -> Result<Node, LogError> {
        use crate::cluster::{quic, rpc::Router, tls::Identity};
        let identity = Identity::new(Some(SECRET), &format!("n{id}")).unwrap();
        let router = Router::new(&format!("n{id}"));
        let quic = Arc::new(
            quic::bind("127.0.0.1", 0, &identity, router.clone())
                .await
                .unwrap(),
        );
        let dir = tmp.0.join(format!("node{id}"));
        let dirs: Vec<PathBuf> = (0..2)
            .map(|i| {
                let d = dir.join(format!("d{i}/.smartstorage/raft"));
                std::fs::create_dir_all(d.parent().unwrap()).unwrap();
                d
            })
            .collect();
        let options = LogOptions {
            node_id: id,
            network: Some(Network {
                quic: quic.clone(),
                slot: router.meta.clone(),
            }),
            name: format!("n{id}"),
            advertise: format!("127.0.0.1:{}", quic.port()),
            seeds,
            ..opts(&dirs, 2, 1000)
        };
        let kv = Arc::new(RwLock::new(Kv::default()));
        let log = MetaLog::open(options, kv.clone()).await?;
        Ok(Node { log, kv, quic })
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.quic.port())
    }

    async fn stop(self) {
        self.quic.close().await;
        self.log.shutdown().await;
    }

    fn get(&self, key: &str) -> Option<String> {
        self.kv.read().unwrap().map.get(key).cloned()
    }
}

#[tokio::test]
async fn three_nodes_replicate_forward_and_fail_over() {
    let tmp = Tmp::new();
    let n1 = Node::start(1, &tmp, vec![]).await.unwrap();
    let seeds = vec![n1.addr()];
    let n2 = Node::start(2, &tmp, seeds.clone()).await.unwrap();
    let n3 = Node::start(3, &tmp, seeds).await.unwrap();
    let status = n1.log.status();
    assert_eq!(status.voters, vec![1, 2, 3]);
    assert_eq!(status.leader_id, Some(1));
    let names: Vec<_> = status
        .members
        .iter()
        .map(|(_, m)| m.name.as_str())
        .collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
    assert_eq!(status.members[1].1.addr, n2.addr());
    // The leader follows each follower's copy; followers follow none.
    let followers: Vec<_> = status.matched.iter().map(|(id, _)| *id).collect();
    assert_eq!(followers, [2, 3]);
    assert!(n2.log.status().matched.is_empty());
    assert!(status.quorum_ack_ms.is_some());

    // A write on a follower is forwarded to the leader; a barrier on another follower sees it.
    assert_eq!(n2.log.write(b"a=1".to_vec()).await.unwrap(), b"1");
    n3.log.read_barrier().await.unwrap();
    assert_eq!(n3.get("a").as_deref(), Some("1"));

    // The leader goes: the two others elect one of them and go on.
    n1.stop().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut written = false;
    while Instant::now() < deadline && !written {
        written = n3.log.write(b"b=2".to_vec()).await.is_ok();
    }
    assert!(written, "no write after the leader went");
    n2.log.read_barrier().await.unwrap();
    assert_eq!(n2.get("b").as_deref(), Some("2"));
    assert!(matches!(n2.log.status().leader_id, Some(2 | 3)));

    // One of three left: no quorum, writes and reads are refused (and do not hang).
    let survivor_leads = n3.log.status().leader_id == Some(3);
    let (gone, left) = if survivor_leads { (n2, n3) } else { (n3, n2) };
    gone.stop().await;
    let refused =
        tokio::time::timeout(Duration::from_secs(30), left.log.write(b"c=3".to_vec())).await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "a write without quorum must fail"
    );
    let barrier = tokio::time::timeout(Duration::from_secs(30), left.log.read_barrier()).await;
    assert!(
        matches!(barrier, Ok(Err(_))),
        "a read without quorum must fail"
    );
    left.stop().await;
}

#[tokio::test]
async fn a_node_without_the_secret_cannot_join() {
    let tmp = Tmp::new();
    let n1 = Node::start(1, &tmp, vec![]).await.unwrap();
    use crate::cluster::{quic, rpc::Router, tls::Identity};
    let identity = Identity::new(Some("some other secret value"), "intruder").unwrap();
    let router = Router::new("intruder");
    let quic = Arc::new(
        quic::bind("127.0.0.1", 0, &identity, router.clone())
            .await
            .unwrap(),
    );
    let network = Network {
        quic: quic.clone(),
        slot: router.meta.clone(),
    };
    let join = network::Request::Join {
        id: 9,
        member: Member {
            addr: format!("127.0.0.1:{}", quic.port()),
            name: "intruder".into(),
        },
    };
    let answer =
        tokio::time::timeout(Duration::from_secs(10), network.call(&n1.addr(), &join)).await;
    assert!(!matches!(answer, Ok(Ok(_))), "a stranger was answered");
    assert_eq!(n1.log.status().voters, vec![1]);
    quic.close().await;
    n1.stop().await;
}
