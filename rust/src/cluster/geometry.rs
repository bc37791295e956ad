//! The erasure geometry of a drive set: the default K data + M parity shards for a
//! drive count, the read and write quorums, and the checks of `cluster` before start.
//!
//! Default parity, MinIO's table (its `ecDrivesNoConfig`, storage class STANDARD):
//!
//! | drives in the set | parity M | data K | survives |
//! | ---: | ---: | ---: | --- |
//! | 1 | — | — | (no cluster: at least 2 drives) |
//! | 2–3 | 1 | 1–2 | 1 lost drive |
//! | 4–5 | 2 | 2–3 | 2 lost drives |
//! | 6–7 | 3 | 3–4 | 3 lost drives |
//! | 8–16 | 4 | 4–12 | 4 lost drives |
//!
//! Why this table: it is what operators of MinIO (the S3 server people compare us
//! with) already know, so "4 drives" means the same 2+2 in both; it keeps at least
//! half the raw capacity for data from 4 drives on (4 → 2+2, 6 → 3+3, 8 → 4+4,
//! 16 → 12+4), and it never lets parity exceed half the set (M ≤ N/2), because with
//! M > K a write quorum of K could be met on two disjoint halves of the set.
//! With K = M the write quorum is K + 1 (see [`write_quorum`]), so a 2+2 set takes
//! writes with one drive lost and serves reads with two lost.

use crate::config::{ClusterConfig, ErasureConfig};
use std::path::{Component, Path, PathBuf};

/// The most drives one erasure set holds (more drives are more sets: part 2).
pub const MAX_SET_DRIVES: usize = 16;

/// The default geometry for `drives` drives (MinIO's table above); `None` below 2
/// drives (cluster mode needs at least two) and above [`MAX_SET_DRIVES`].
pub fn default_erasure(drives: usize) -> Option<ErasureConfig> {
    let parity = match drives {
        2..=3 => 1,
        4..=5 => 2,
        6..=7 => 3,
        8..=MAX_SET_DRIVES => 4,
        _ => return None,
    };
    Some(ErasureConfig {
        data_shards: drives - parity,
        parity_shards: parity,
    })
}

/// Shards a read needs: any K of the K + M (data first, so no decoding when all is well).
pub fn read_quorum(k: usize, _m: usize) -> usize {
    k
}

/// Shards a write must have fsynced before it is acknowledged: K, and K + 1 when
/// K = M, so that two writes can never both reach quorum on disjoint halves of the set.
pub fn write_quorum(k: usize, m: usize) -> usize {
    if k == m { k + 1 } else { k }
}

/// A path made absolute against the current directory and cleaned of `.` and `..`,
/// then canonicalized as far as it exists (symlinks resolved), so two spellings of one
/// folder compare equal even before the folder is created.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut clean = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    // Canonicalize the longest existing ancestor and append the rest.
    let mut existing = clean.clone();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(&existing) {
            let mut out = canonical;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return clean,
        }
    }
}

/// Checks `cluster` before anything is written and gives its geometry `(K, M)`: the
/// drives are given, distinct, not nested in one another, at most [`MAX_SET_DRIVES`];
/// K + M is the drive count, K ≥ 1, 1 ≤ M ≤ K (M ≤ N/2, as MinIO); without
/// `erasure`, the default of [`default_erasure`].
pub fn validate(cfg: &ClusterConfig) -> Result<(usize, usize), String> {
    let n = cfg.drives.len();
    if n == 0 {
        return Err("cluster.drives is empty: give at least 2 drive folders".into());
    }
    if n == 1 {
        return Err(
            "cluster mode needs at least 2 drives (one drive is standalone mode: use storage.directory)"
                .into(),
        );
    }
    if n > MAX_SET_DRIVES {
        return Err(format!(
            "cluster.drives has {n} drives; one erasure set holds at most {MAX_SET_DRIVES}"
        ));
    }
    let mut seen: Vec<(PathBuf, &Path)> = Vec::with_capacity(n);
    for drive in &cfg.drives {
        if drive.as_os_str().is_empty() {
            return Err("cluster.drives holds an empty path".into());
        }
        let abs = absolute(drive);
        for (other_abs, other) in &seen {
            if *other_abs == abs {
                return Err(format!(
                    "cluster.drives lists the same folder twice: {} and {} (both {})",
                    other.display(),
                    drive.display(),
                    abs.display()
                ));
            }
            let (outer, inner) = if abs.starts_with(other_abs) {
                (*other, drive.as_path())
            } else if other_abs.starts_with(&abs) {
                (drive.as_path(), *other)
            } else {
                continue;
            };
            return Err(format!(
                "cluster.drives are nested: {} is inside {} (each drive must be its own folder, ideally its own disk)",
                inner.display(),
                outer.display()
            ));
        }
        seen.push((abs, drive));
    }
    if let Some(id) = &cfg.node_id
        && (id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "cluster.nodeId {id:?} must be 1 to 64 characters of letters, digits, '-', '_' and '.'"
        ));
    }
    let Some(erasure) = cfg.erasure.or_else(|| default_erasure(n)) else {
        return Err(format!("no default erasure geometry for {n} drives"));
    };
    let (k, m) = (erasure.data_shards, erasure.parity_shards);
    if k < 1 {
        return Err("cluster.erasure.dataShards must be at least 1".into());
    }
    if m < 1 {
        return Err(
            "cluster.erasure.parityShards must be at least 1 (without parity a lost drive loses data)"
                .into(),
        );
    }
    if k + m != n {
        return Err(format!(
            "cluster.erasure is {k}+{m} = {} shards, but cluster.drives has {n} drives: dataShards + parityShards must equal the drive count",
            k + m
        ));
    }
    if m > k {
        return Err(format!(
            "cluster.erasure.parityShards ({m}) must not exceed dataShards ({k}): at most half of the {n} drives may be parity"
        ));
    }
    Ok((k, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(drives: &[&str], erasure: Option<(usize, usize)>) -> ClusterConfig {
        ClusterConfig {
            enabled: true,
            drives: drives.iter().map(PathBuf::from).collect(),
            erasure: erasure.map(|(k, m)| ErasureConfig {
                data_shards: k,
                parity_shards: m,
            }),
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn default_table_follows_minio() {
        let table: Vec<Option<(usize, usize)>> = (0..=17)
            .map(|n| default_erasure(n).map(|e| (e.data_shards, e.parity_shards)))
            .collect();
        assert_eq!(table[0], None);
        assert_eq!(table[1], None);
        assert_eq!(table[2], Some((1, 1)));
        assert_eq!(table[3], Some((2, 1)));
        assert_eq!(table[4], Some((2, 2)));
        assert_eq!(table[5], Some((3, 2)));
        assert_eq!(table[6], Some((3, 3)));
        assert_eq!(table[7], Some((4, 3)));
        assert_eq!(table[8], Some((4, 4)));
        assert_eq!(table[12], Some((8, 4)));
        assert_eq!(table[16], Some((12, 4)));
        assert_eq!(table[17], None);
        for (n, e) in table.iter().enumerate() {
            if let Some((k, m)) = e {
                assert_eq!(k + m, n);
                assert!(m <= k, "{n} drives: parity above half");
                let drives: Vec<String> = (0..n).map(|i| format!("/d{i}")).collect();
                let refs: Vec<&str> = drives.iter().map(String::as_str).collect();
                assert_eq!(validate(&cfg(&refs, None)), Ok((*k, *m)));
            }
        }
    }

    #[test]
    fn quorums() {
        assert_eq!((read_quorum(2, 2), write_quorum(2, 2)), (2, 3));
        assert_eq!((read_quorum(4, 2), write_quorum(4, 2)), (4, 4));
        assert_eq!((read_quorum(1, 1), write_quorum(1, 1)), (1, 2));
        assert_eq!((read_quorum(12, 4), write_quorum(12, 4)), (12, 12));
    }

    #[test]
    fn valid_explicit_geometry() {
        assert_eq!(
            validate(&cfg(&["/a", "/b", "/c", "/d"], Some((3, 1)))),
            Ok((3, 1))
        );
    }

    fn err(c: &ClusterConfig) -> String {
        validate(c).expect_err("accepted a bad config")
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(err(&cfg(&[], None)).contains("empty"));
        assert!(err(&cfg(&["/a"], None)).contains("at least 2 drives"));
        let many: Vec<String> = (0..17).map(|i| format!("/d{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(err(&cfg(&refs, None)).contains("at most 16"));
        assert!(err(&cfg(&["/a", "/b", "/a"], None)).contains("same folder twice"));
        assert!(err(&cfg(&["/a", "/b/../a/"], None)).contains("same folder twice"));
        assert!(err(&cfg(&["/a", "/b", "/a/x", "/c"], None)).contains("nested"));
        assert!(err(&cfg(&["/a/x", "/b", "/a", "/c"], None)).contains("/a/x is inside /a"));
        assert!(err(&cfg(&["/a", "/b", "/c", "/d"], Some((2, 1)))).contains("must equal"));
        assert!(err(&cfg(&["/a", "/b", "/c", "/d"], Some((4, 0)))).contains("at least 1"));
        assert!(err(&cfg(&["/a", "/b", "/c", "/d"], Some((0, 4)))).contains("at least 1"));
        assert!(err(&cfg(&["/a", "/b", "/c", "/d"], Some((1, 3)))).contains("must not exceed"));
        assert!(err(&cfg(&["/a", ""], None)).contains("empty path"));
        let mut named = cfg(&["/a", "/b"], None);
        named.node_id = Some("node 1".into());
        assert!(err(&named).contains("cluster.nodeId"));
        named.node_id = Some(String::new());
        assert!(err(&named).contains("cluster.nodeId"));
        named.node_id = Some("node-1.a_b".into());
        assert_eq!(validate(&named), Ok((1, 1)));
    }

    #[test]
    fn nested_through_a_symlink_and_relative_paths() {
        let dir = std::env::temp_dir().join(format!("geom-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("real/inner")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let a = dir.join("real").display().to_string();
        let b = dir.join("link/inner").display().to_string();
        assert!(err(&cfg(&[&a, &b], None)).contains("nested"));
        let c = dir.join("link").display().to_string();
        assert!(err(&cfg(&[&a, &c], None)).contains("same folder twice"));
        // Not-yet-existing folders under a symlinked parent compare equal too.
        let d = dir.join("real/new").display().to_string();
        let e = dir.join("link/new").display().to_string();
        assert!(err(&cfg(&[&d, &e], None)).contains("same folder twice"));
        std::fs::remove_dir_all(&dir).unwrap();
        let cwd = std::env::current_dir().unwrap().join("x");
        assert!(err(&cfg(&["x", cwd.to_str().unwrap()], None)).contains("same folder twice"));
    }
}
