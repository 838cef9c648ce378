//! A throwaway PostgreSQL cluster for tests and benchmarks (feature `test-support`).
//!
//! The cluster lives in a fresh folder under the temporary directory and listens only on a unix
//! socket there, so clusters of parallel test runs never meet. It is owned by a small watchdog
//! shell whose standard input is a pipe from this process: when the [`TempPostgres`] is dropped,
//! or when this process exits in any way (a test binary never drops its statics; a crash or
//! `kill -9` closes the pipe too), the watchdog stops the cluster and removes the folder.
//!
//! PostgreSQL refuses to run as root; as root the cluster is run by the `postgres` user (made
//! by Debian's package) through `runuser`, or `su` where `runuser` is missing.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::Connection;

/// Why a cluster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TempPostgresError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor in /usr/lib/postgresql/*/bin; run scripts/ensure-postgres.sh"
    )]
    NotInstalled,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

type Result<T, E = TempPostgresError> = std::result::Result<T, E>;

/// Whether the cluster syncs to disk. Tests don't need to; benchmarks should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync=off`: fast, loses data on an OS crash, fine for a throwaway cluster.
    Off,
    /// PostgreSQL's defaults: every commit is flushed.
    On,
}

/// A running throwaway cluster; stopped and removed on drop.
pub struct TempPostgres {
    root: PathBuf,
    port: u16,
    next_database: AtomicU64,
    /// The watchdog and the write end of its lifeline.
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

static SHARED: OnceLock<Result<TempPostgres, String>> = OnceLock::new();

impl TempPostgres {
    /// One cluster for the whole process, started on first use (tests share it and each take a
    /// fresh database). It is stopped when the process exits.
    pub fn shared() -> Result<&'static TempPostgres, String> {
        SHARED
            .get_or_init(|| TempPostgres::start(Durability::Off).map_err(|err| err.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts a new cluster, installing PostgreSQL with `scripts/ensure-postgres.sh` if it is
    /// missing. Blocks until the server accepts connections.
    pub fn start(durability: Durability) -> Result<Self> {
        let bin = match find_bin_dir() {
            Some(bin) => bin,
            None => {
                install()?;
                find_bin_dir().ok_or(TempPostgresError::NotInstalled)?
            }
        };
        let as_owner = owner_prefix()?;
        let root = temp_root()?;
        let started = Self::start_in(&root, &bin, &as_owner, durability);
        if started.is_err() {
            // Best effort: the folder may be owned by the postgres user, root can remove it.
            let _ = std::fs::remove_dir_all(&root);
        }
        started
    }

    fn start_in(
        root: &Path,
        bin: &Path,
        as_owner: &[String],
        durability: Durability,
    ) -> Result<Self> {
        if !as_owner.is_empty() {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(root, Some(uid), Some(gid))?;
        }
        let data = root.join("data");
        let mut initdb = owner_command(as_owner, &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run("initdb", initdb)?;

        let port = free_port()?;
        let mut server_options = format!(
            "-p {port} -k {} -c listen_addresses= -c max_connections=200",
            root.display()
        );
        if durability == Durability::Off {
            server_options.push_str(" -c fsync=off -c full_page_writes=off");
        }
        let mut watchdog = Command::new("sh");
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(bin.join("pg_ctl"))
            .arg(&data)
            .arg(root.join("server.log"))
            .arg(server_options)
            .arg(root)
            .args(as_owner)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = watchdog.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(TempPostgresError::Command {
                what: "starting the watchdog".into(),
                detail: "no pipes".into(),
            });
        };
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first)?;
        if first.trim() != "ready" {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            drop(stdin);
            let _ = child.wait();
            return Err(TempPostgresError::Command {
                what: "pg_ctl start".into(),
                detail: format!("{first}{rest}"),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            port,
            next_database: AtomicU64::new(0),
            watchdog: Mutex::new(Some((child, stdin))),
        })
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{database}?host={}",
            self.port,
            self.root.display()
        )
    }

    /// Creates a new, empty database and answers its URL.
    pub async fn fresh_database(&self) -> Result<String> {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("codex_{}_{n}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        // The name is made of digits and underscores only, so it needs no quoting.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(self.url(&name))
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let taken = match self.watchdog.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((mut child, stdin)) = taken {
            // Closing the lifeline tells the watchdog to stop the cluster and clean up.
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// `$1` pg_ctl, `$2` data dir, `$3` log, `$4` server options, `$5` root folder; the rest is the
/// prefix that runs a command as the cluster's owner (empty when we are not root).
const WATCHDOG: &str = r#"
pg_ctl=$1 data=$2 log=$3 opts=$4 root=$5
shift 5
if "$@" "$pg_ctl" start -w -t 120 -D "$data" -l "$log" -o "$opts" >/dev/null 2>&1; then
    echo ready
else
    echo "failed; server log:"
    tail -n 30 "$log" 2>/dev/null
    rm -rf "$root"
    exit 1
fi
# Blocks until the owning process closes the pipe, by drop or by exiting in any way.
cat >/dev/null
"$@" "$pg_ctl" stop -w -m immediate -D "$data" >/dev/null 2>&1
rm -rf "$root"
"#;

fn run(what: &str, mut command: Command) -> Result<()> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(TempPostgresError::Command {
        what: what.to_owned(),
        detail: format!(
            "{}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

fn owner_command(as_owner: &[String], program: &Path) -> Command {
    match as_owner.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
    }
}

/// The folder holding `initdb` and `pg_ctl`: `CODEX_PG_BIN`, then `PATH`, then the newest
/// Debian install.
fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("CODEX_PG_BIN").map(PathBuf::from)
        && has_both(&dir)
    {
        return Some(dir);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        // Symlinks such as /usr/local/bin/initdb lead to the real folder, where pg_ctl is.
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|dir| has_both(dir));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry
                    .file_name()
                    .to_str()?
                    .split('.')
                    .next()?
                    .parse()
                    .ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, bin)| has_both(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// Runs the repository's installer script, which installs Debian's `postgresql` package.
fn install() -> Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ensure-postgres.sh");
    if !script.is_file() {
        return Err(TempPostgresError::NotInstalled);
    }
    let mut command = Command::new("bash");
    command.arg(script);
    run("scripts/ensure-postgres.sh", command)
}

fn is_root() -> bool {
    // /proc/self belongs to the effective user of the process that looks at it.
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// How to run a command as the `postgres` user, or nothing when we are not root.
fn owner_prefix() -> Result<Vec<String>> {
    if !is_root() {
        return Ok(Vec::new());
    }
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .find(|path| Path::new(path).is_file());
    Ok(match runuser {
        Some(runuser) => vec![runuser.into(), "-u".into(), "postgres".into(), "--".into()],
        // `su` hands the words after `-c script` to the shell as `$0 $1 ...`.
        None => ["su", "-s", "/bin/sh", "postgres", "-c", r#"exec "$0" "$@""#]
            .map(String::from)
            .to_vec(),
    })
}

fn postgres_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| TempPostgresError::Command {
                what: "id postgres".into(),
                detail: "running as root, but there is no `postgres` user to run the cluster; \
                         install Debian's postgresql package (scripts/ensure-postgres.sh)"
                    .into(),
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// A new folder for the cluster. As root it goes under /tmp, which the postgres user can
/// traverse, whatever TMPDIR says.
fn temp_root() -> Result<PathBuf> {
    let parent = if is_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    Ok(tempfile::Builder::new()
        .prefix("codex-pg-")
        .tempdir_in(parent)?
        .keep())
}

/// A port nobody listens on now; it only names the socket file, so a later taker is harmless.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
